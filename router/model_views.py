"""OpenRouter-shaped JSON views of catalog models and endpoints."""
from __future__ import annotations

from typing import Any, Mapping

from .catalog import Endpoint, ModelInfo

__all__ = ["model_view", "endpoint_view", "endpoints_view"]


def _price(value: float) -> str:
    return format(value, ".12f").rstrip("0").rstrip(".") or "0"


def model_view(model: ModelInfo) -> dict[str, Any]:
    top = model.cheapest
    return {
        "id": model.id,
        "canonical_slug": model.id,
        "name": model.name,
        "created": model.created,
        "description": model.description,
        "context_length": model.context_length,
        "architecture": {
            "modality": f"{'+'.join(model.input_modalities)}->{'+'.join(model.output_modalities)}",
            "input_modalities": list(model.input_modalities),
            "output_modalities": list(model.output_modalities),
            "tokenizer": model.tokenizer,
            "instruct_type": None,
        },
        "pricing": {"prompt": _price(top.prompt_price), "completion": _price(top.completion_price),
                    "request": _price(top.request_price), "image": "0"},
        "top_provider": {"context_length": top.context_length, "max_completion_tokens": top.max_output_tokens,
                         "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": model.supported_parameters,
        "providers": [e.provider.name for e in model.endpoints],
    }


def endpoint_view(endpoint: Endpoint, stats: Any = None, now: float = 0.0) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": f"{endpoint.provider.name} | {endpoint.upstream_model}",
        "provider_name": endpoint.provider.name,
        "endpoint_id": endpoint.endpoint_id,
        "context_length": endpoint.context_length,
        "max_completion_tokens": endpoint.max_output_tokens,
        "quantization": endpoint.quantization,
        "pricing": {"prompt": _price(endpoint.prompt_price), "completion": _price(endpoint.completion_price),
                    "request": _price(endpoint.request_price)},
        "supported_parameters": sorted(endpoint.supported_parameters),
        "status": 0,
        "uptime_last_5m": None,
    }
    if stats is not None:
        view["uptime_last_5m"] = stats.uptime_5m
        view["latency_last_30m"] = {"p50": stats.latency_p50_s}
        view["ttft_last_30m"] = {"p50": stats.ttft_p50_s}
        view["throughput_last_30m"] = {"p50": stats.tokens_per_s_p50}
        view["recent_failures_30s"] = stats.recent_failures(now, 30.0)
    return view


def endpoints_view(model: ModelInfo, snapshot: Mapping[str, Any], now: float) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "created": model.created,
        "description": model.description,
        "architecture": model_view(model)["architecture"],
        "endpoints": [endpoint_view(e, snapshot.get(e.endpoint_id), now) for e in model.endpoints],
    }
