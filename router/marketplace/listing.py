"""JSON cards for the marketplace page: catalog facts, and live per-endpoint stats beside them.

Pure functions of the `Catalog` and a `LiveStats` snapshot. The list view gets the two apart: the
catalog part changes only with the catalog (built once, served from a cache), the live part is a
small map from endpoint id to figures that the page refetches every few seconds and joins on
`endpoint_id`. Prices are in USD per million tokens (the unit people compare models in); the
catalog stores USD per token.
"""
from __future__ import annotations

from typing import Any, Mapping

from telemetry.snapshot import EndpointStats, Percentiles

from ..catalog import Catalog, Endpoint, ModelInfo

__all__ = ["CAPABILITIES", "capabilities", "endpoint_card", "endpoint_live", "model_card", "model_detail",
           "catalog_listing", "live_listing"]

PER_MILLION = 1_000_000
# Capability -> supported parameters that reveal it (any one suffices); vision comes from modalities.
_CAPABILITY_PARAMETERS = {
    "tools": ("tools", "tool_choice"),
    "structured_output": ("response_format", "structured_outputs"),
    "reasoning": ("reasoning", "include_reasoning"),
}
CAPABILITIES = {"tools": "Tools", "vision": "Vision", "structured_output": "Structured output",
                "reasoning": "Reasoning"}


def capabilities(model: ModelInfo) -> list[str]:
    """What a developer can rely on at least one endpoint for, in `CAPABILITIES` order."""
    parameters = set(model.supported_parameters)
    found = {name for name, names in _CAPABILITY_PARAMETERS.items() if parameters.intersection(names)}
    if "image" in model.input_modalities:
        found.add("vision")
    return [name for name in CAPABILITIES if name in found]


def _per_million(price_per_token: float) -> float:
    # Rounded so 3e-7 * 1e6 shows as 0.3, not 0.30000000000000004.
    return round(price_per_token * PER_MILLION, 6)


def _percentiles(values: Percentiles | None) -> dict[str, float] | None:
    return None if values is None else values.as_dict()


def endpoint_card(endpoint: Endpoint, detailed: bool = False) -> dict[str, Any]:
    """One provider endpoint's catalog facts: prices, limits, quantization."""
    card: dict[str, Any] = {
        "endpoint_id": endpoint.endpoint_id,
        "provider": endpoint.provider.name,
        "prompt_per_m": _per_million(endpoint.prompt_price),
        "completion_per_m": _per_million(endpoint.completion_price),
        "request_price": endpoint.request_price,
        "context_length": endpoint.context_length,
        "max_output_tokens": endpoint.max_output_tokens,
        "quantization": endpoint.quantization,
    }
    if detailed:
        card.update({"upstream_model": endpoint.upstream_model,
                     "supported_parameters": sorted(endpoint.supported_parameters)})
    return card


def endpoint_live(stats: EndpointStats | None, detailed: bool = False) -> dict[str, Any]:
    """Live p50 TTFT, latency, throughput and uptime of one endpoint (None where there is no data)."""
    live: dict[str, Any] = {
        "ttft_p50_s": stats.ttft_p50_s if stats else None,
        "latency_p50_s": stats.latency_p50_s if stats else None,
        "tokens_per_s_p50": stats.tokens_per_s_p50 if stats else None,
        "uptime_30m": stats.uptime_30m if stats else None,
    }
    if detailed:
        live.update({
            "requests_5m": stats.n_recent if stats else 0,
            "uptime_5m": stats.uptime_5m if stats else None,
            "uptime_1d": stats.uptime_1d if stats else None,
            "ttft_30m": _percentiles(stats.ttft_30m) if stats else None,
            "latency_30m": _percentiles(stats.latency_30m) if stats else None,
            "tokens_per_s_30m": _percentiles(stats.tokens_per_s_30m) if stats else None,
        })
    return live


def model_card(model: ModelInfo, detailed: bool = False) -> dict[str, Any]:
    """A model's catalog facts: cheapest prices, capabilities, providers and one card per endpoint."""
    cheapest = model.cheapest
    card = {
        "id": model.id,
        "name": model.name,
        "kind": model.kind,
        "context_length": model.context_length,
        "input_modalities": list(model.input_modalities),
        "output_modalities": list(model.output_modalities),
        "capabilities": capabilities(model),
        "prompt_per_m": _per_million(cheapest.prompt_price),
        "completion_per_m": _per_million(cheapest.completion_price),
        "providers": sorted({e.provider.name for e in model.endpoints}),
        "endpoints": [endpoint_card(e, detailed) for e in model.endpoints],
    }
    if detailed:
        card.update({"description": model.description, "created": model.created, "tokenizer": model.tokenizer,
                     "supported_parameters": model.supported_parameters})
    return card


def model_detail(model: ModelInfo, snapshot: Mapping[str, EndpointStats]) -> dict[str, Any]:
    """The detail view: catalog facts and detailed live stats merged into each endpoint."""
    card = model_card(model, detailed=True)
    for endpoint in card["endpoints"]:
        endpoint.update(endpoint_live(snapshot.get(endpoint["endpoint_id"]), detailed=True))
    return card


def catalog_listing(catalog: Catalog) -> dict[str, Any]:
    """Every model's card: depends on the catalog only, so it is built once and cached (~470 KB for 744 models)."""
    return {
        "capabilities": CAPABILITIES,
        "providers": sorted(catalog.providers),
        "models": [model_card(model) for model in catalog.models.values()],
    }


def live_listing(snapshot: Mapping[str, EndpointStats], now: float) -> dict[str, Any]:
    """Live figures of the endpoints that have any, keyed by endpoint id: small, refreshed often."""
    return {"generated_at": now,
            "endpoints": {endpoint_id: endpoint_live(stats) for endpoint_id, stats in snapshot.items()}}
