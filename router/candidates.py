"""Model slug parsing and the hard constraints that decide which endpoints may serve a request."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from .catalog import Catalog, Endpoint, ModelInfo
from .schemas import ProviderPreferences

__all__ = ["ModelRef", "parse_model", "filter_endpoints", "VARIANTS"]

VARIANTS = {"nitro": "throughput", "floor": "price", "free": None, "online": None, "thinking": None}


@dataclass(frozen=True, slots=True)
class ModelRef:
    model_id: str
    variant: str | None

    @property
    def sort(self) -> str | None:
        return VARIANTS.get(self.variant) if self.variant else None


def parse_model(slug: str) -> ModelRef:
    """`vendor/model[:variant]` -> ModelRef; unknown variants stay part of the id (some ids contain ':')."""
    base, sep, variant = slug.rpartition(":")
    if sep and variant in VARIANTS:
        return ModelRef(base, variant)
    return ModelRef(slug, None)


def filter_endpoints(
    model: ModelInfo,
    ref: ModelRef,
    prefs: ProviderPreferences,
    prompt_tokens: int,
    output_cap: int | None,
    used_parameters: Iterable[str],
    has_key: Callable[[Endpoint], bool],
) -> tuple[list[Endpoint], list[str]]:
    """Endpoints that satisfy every hard constraint, and why the others were dropped."""
    kept: list[Endpoint] = []
    dropped: list[str] = []
    used = set(used_parameters)
    only = {p.lower() for p in prefs.only} if prefs.only else None
    ignore = {p.lower() for p in prefs.ignore or ()}
    quantizations = {q.lower() for q in prefs.quantizations} if prefs.quantizations else None
    order = {p.lower() for p in prefs.order} if prefs.order else None
    max_price = prefs.max_price
    for endpoint in model.endpoints:
        provider = endpoint.provider.name.lower()
        reason = None
        if only is not None and provider not in only:
            reason = "not in provider.only"
        elif provider in ignore:
            reason = "in provider.ignore"
        elif order is not None and not prefs.allow_fallbacks and provider not in order:
            reason = "not in provider.order and allow_fallbacks is false"
        elif prompt_tokens + (output_cap or 0) > endpoint.context_length:
            reason = f"context length {endpoint.context_length} < {prompt_tokens} prompt + {output_cap or 0} output tokens"
        elif output_cap and endpoint.max_output_tokens and output_cap > endpoint.max_output_tokens:
            reason = f"max output {endpoint.max_output_tokens} < requested {output_cap}"
        elif prefs.require_parameters and not used <= endpoint.supported_parameters:
            reason = f"does not support {', '.join(sorted(used - endpoint.supported_parameters))}"
        elif quantizations is not None and (endpoint.quantization or "unknown").lower() not in quantizations:
            reason = f"quantization {endpoint.quantization or 'unknown'} not allowed"
        elif prefs.data_collection == "deny" and endpoint.provider.data_collection == "allow":
            reason = "provider may collect data"
        elif prefs.zdr and not endpoint.provider.zdr:
            reason = "provider has no zero-data-retention policy"
        elif max_price is not None and _over_max_price(endpoint, max_price):
            reason = "over max_price"
        elif ref.variant == "free" and (endpoint.prompt_price or endpoint.completion_price or endpoint.request_price):
            reason = "not free"
        elif not has_key(endpoint):
            reason = f"no API key for provider {endpoint.provider.name}"
        if reason is None:
            kept.append(endpoint)
        else:
            dropped.append(f"{endpoint.endpoint_id}: {reason}")
    return kept, dropped


def _over_max_price(endpoint: Endpoint, max_price) -> bool:
    per_million = 1_000_000
    return bool(
        (max_price.prompt is not None and endpoint.prompt_price * per_million > max_price.prompt)
        or (max_price.completion is not None and endpoint.completion_price * per_million > max_price.completion)
        or (max_price.request is not None and endpoint.request_price > max_price.request)
    )


def resolve_model(catalog: Catalog, slug: str) -> tuple[ModelRef, ModelInfo | None]:
    ref = parse_model(slug)
    return ref, catalog.model(ref.model_id)
