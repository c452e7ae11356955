"""Turning candidates into an attempt order: explicit `order`/`sort`, or the policy's probabilities."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from policies.base import Policy, RoutingContext
from policies.sampler import sample_order

from .catalog import Endpoint
from .schemas import ProviderPreferences

__all__ = ["Decision", "decide"]


@dataclass(frozen=True, slots=True)
class Decision:
    order: tuple[Endpoint, ...]
    propensity: float  # probability that order[0] was chosen first
    probabilities: dict[str, float] = field(default_factory=dict)
    policy: str = ""
    policy_version: str = ""


def decide(endpoints: Sequence[Endpoint], prefs: ProviderPreferences, sort: str | None, policy: Policy,
           context: RoutingContext, rng: np.random.Generator) -> Decision:
    by_id = {e.endpoint_id: e for e in endpoints}
    if prefs.order or sort:
        # Explicit preferences turn load balancing off, as on OpenRouter: the order is deterministic.
        ordered = _sorted(endpoints, sort, context) if sort else list(endpoints)
        if prefs.order:
            rank = {name.lower(): i for i, name in enumerate(prefs.order)}
            ordered.sort(key=lambda e: rank.get(e.provider.name.lower(), len(rank)))  # stable: keeps sort within
        ordered = _soft_preferences(ordered, prefs, context)
        probabilities = {e.endpoint_id: (1.0 if i == 0 else 0.0) for i, e in enumerate(ordered)}
        return Decision(tuple(ordered), 1.0, probabilities, f"sort:{sort}" if sort else "order", "1")
    candidates = [e.candidate for e in endpoints]
    probabilities = policy.distribution(candidates, context)
    order_ids, propensity = sample_order(probabilities, rng)
    ordered = _soft_preferences([by_id[i] for i in order_ids], prefs, context)
    if ordered and ordered[0].endpoint_id != order_ids[0]:
        propensity = 1.0  # a soft preference overrode the draw; the first choice was deterministic
    return Decision(tuple(ordered), propensity, probabilities, policy.name, getattr(policy, "version", "0"))


def _sorted(endpoints: Sequence[Endpoint], sort: str, context: RoutingContext) -> list[Endpoint]:
    features = context.features
    stats = context.stats

    def price(e: Endpoint) -> float:
        return e.cost(max(features.prompt_tokens, 1), max(features.expected_output_tokens, 1))

    def throughput(e: Endpoint) -> float:  # unknown throughput sorts after measured endpoints
        s = stats.get(e.endpoint_id)
        return -(s.tokens_per_s_p50 or 0.0) if s is not None else 0.0

    def latency(e: Endpoint) -> float:
        s = stats.get(e.endpoint_id)
        value = s.ttft_p50_s if s is not None else None
        return value if value is not None else float("inf")

    key = {"price": price, "throughput": throughput, "latency": latency}[sort]
    return sorted(endpoints, key=lambda e: (key(e), price(e)))


def _soft_preferences(ordered: list[Endpoint], prefs: ProviderPreferences, context: RoutingContext) -> list[Endpoint]:
    """preferred_min_throughput / preferred_max_latency move misses to the back, never drop them."""
    if prefs.preferred_min_throughput is None and prefs.preferred_max_latency is None:
        return ordered
    min_tps = _p50_threshold(prefs.preferred_min_throughput)
    max_latency = _p50_threshold(prefs.preferred_max_latency)

    def misses(e: Endpoint) -> bool:
        s = context.stats.get(e.endpoint_id)
        if s is None:
            return False
        if min_tps is not None and s.tokens_per_s_p50 is not None and s.tokens_per_s_p50 < min_tps:
            return True
        if max_latency is not None and s.latency_p50_s is not None and s.latency_p50_s > max_latency:
            return True
        return False

    return [e for e in ordered if not misses(e)] + [e for e in ordered if misses(e)]


def _p50_threshold(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get("p50", next(iter(value.values()), None))
    return float(value)
