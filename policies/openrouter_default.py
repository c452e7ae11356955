"""OpenRouter's documented default load balancing.

Endpoints with significant failures in the last 30 s are deprioritised; among the rest each is
picked with weight 1/price² (price = the request's expected cost, so prompt-heavy and output-heavy
requests weigh prompt and completion prices as they will be billed). Explicit `sort` is handled
by the caller (deterministic order), as on OpenRouter.
"""
from __future__ import annotations

import math
from typing import Sequence

from .base import Candidate, Policy, RoutingContext
from .registry import register
from .sampler import floor_values

__all__ = ["OpenRouterDefault"]

_FREE_PRICE = 1e-12  # free endpoints get a finite, very large weight instead of 1/0


@register
class OpenRouterDefault(Policy):
    """>>> p = OpenRouterDefault(); c = [Candidate("a/m", "a", "m", 1e-6, 2e-6), Candidate("b/m", "b", "m", 2e-6, 4e-6)]
    >>> round(p.distribution(c, RoutingContext())["a/m"], 3)
    0.8
    """

    name = "openrouter"
    reads_in_flight = False  # reads context.stats only (the simulator then passes no in-flight counts)

    def __init__(self, failure_window_s: float = 30.0, failure_threshold: int = 3, outage_weight: float = 1e-3,
                 min_prob: float = 0.0):
        self.failure_window_s = failure_window_s
        self.failure_threshold = failure_threshold
        self.outage_weight = outage_weight
        self.min_prob = min_prob

    def distribution(self, candidates: Sequence[Candidate], context: RoutingContext) -> dict[str, float]:
        return dict(zip([c.endpoint_id for c in candidates], self.distribution_values(candidates, context)))

    def distribution_values(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        """`distribution`'s probabilities as a list in candidate order (the simulator's fast path)."""
        features, stats, now = context.features, context.stats, context.now
        prompt_tokens, output_tokens = max(features.prompt_tokens, 1), max(features.expected_output_tokens, 1)
        window_s, threshold, outage_weight = self.failure_window_s, self.failure_threshold, self.outage_weight
        weights = []
        for candidate in candidates:
            # Candidate.expected_cost, inline (the same operations in the same order).
            price = (candidate.request_price + prompt_tokens * candidate.prompt_price
                     + output_tokens * candidate.completion_price)
            weight = 1.0 / max(price, _FREE_PRICE) ** 2
            endpoint_stats = stats.get(candidate.endpoint_id)
            # Failures in the window are among the 5-minute ones: too few of those settles it without a search.
            if endpoint_stats is not None and len(endpoint_stats.failure_times) >= threshold \
                    and endpoint_stats.recent_failures(now, window_s) >= threshold:
                weight *= outage_weight
            weights.append(weight)
        total = sum(weights)  # `normalise`'s arithmetic on a list
        if not weights:
            return []
        if total <= 0.0 or not math.isfinite(total):
            probabilities = [1.0 / len(weights)] * len(weights)
        else:
            probabilities = [weight / total for weight in weights]
        return floor_values(probabilities, self.min_prob) if self.min_prob > 0.0 else probabilities
