"""OpenRouter's documented default load balancing.

Endpoints with significant failures in the last 30 s are deprioritised; among the rest each is
picked with weight 1/price² (price = the request's expected cost, so prompt-heavy and output-heavy
requests weigh prompt and completion prices as they will be billed). Explicit `sort` is handled
by the caller (deterministic order), as on OpenRouter.
"""
from __future__ import annotations

from typing import Sequence

from .base import Candidate, Policy, RoutingContext
from .registry import register
from .sampler import apply_floor, normalise

__all__ = ["OpenRouterDefault"]

_FREE_PRICE = 1e-12  # free endpoints get a finite, very large weight instead of 1/0


@register
class OpenRouterDefault(Policy):
    """>>> p = OpenRouterDefault(); c = [Candidate("a/m", "a", "m", 1e-6, 2e-6), Candidate("b/m", "b", "m", 2e-6, 4e-6)]
    >>> round(p.distribution(c, RoutingContext())["a/m"], 3)
    0.8
    """

    name = "openrouter"

    def __init__(self, failure_window_s: float = 30.0, failure_threshold: int = 3, outage_weight: float = 1e-3,
                 min_prob: float = 0.0):
        self.failure_window_s = failure_window_s
        self.failure_threshold = failure_threshold
        self.outage_weight = outage_weight
        self.min_prob = min_prob

    def distribution(self, candidates: Sequence[Candidate], context: RoutingContext) -> dict[str, float]:
        features = context.features
        weights: dict[str, float] = {}
        for candidate in candidates:
            price = candidate.expected_cost(max(features.prompt_tokens, 1), max(features.expected_output_tokens, 1))
            weight = 1.0 / max(price, _FREE_PRICE) ** 2
            stats = context.stats.get(candidate.endpoint_id)
            if stats is not None and stats.recent_failures(context.now, self.failure_window_s) >= self.failure_threshold:
                weight *= self.outage_weight
            weights[candidate.endpoint_id] = weight
        probabilities = normalise(weights)
        return apply_floor(probabilities, self.min_prob) if self.min_prob > 0.0 else probabilities
