"""Cheapest routing: the lowest expected price for this request's token counts (ties shared)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import Candidate, RoutingContext
from ..exploration import greedy
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["Cheapest"]


@register
class Cheapest(ScoringPolicy):
    """>>> from policies.base import Candidate, RoutingContext
    >>> c = [Candidate("a/m", "a", "m", 2e-6, 2e-6), Candidate("b/m", "b", "m", 1e-6, 1e-6)]
    >>> Cheapest().distribution(c, RoutingContext())
    {'a/m': 0.0, 'b/m': 1.0}
    """

    name = "cheapest"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, min_prob: float = 0.0):
        self.min_prob = min_prob

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> np.ndarray:
        # With no token counts yet every endpoint would cost its flat fee; price one token each way.
        features = context.features
        prompt, output = max(features.prompt_tokens, 1), max(features.expected_output_tokens, 1)
        prices = np.array([c.expected_cost(prompt, output) for c in candidates])
        return greedy(-prices)
