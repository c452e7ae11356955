"""Uniform random routing: every candidate equally likely."""
from __future__ import annotations

from typing import Sequence

from ..base import Candidate, RoutingContext
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["Uniform"]


@register
class Uniform(ScoringPolicy):
    """>>> from policies.base import Candidate, RoutingContext
    >>> Uniform().distribution([Candidate("a/m", "a", "m", 1e-6, 1e-6), Candidate("b/m", "b", "m", 1e-6, 1e-6)], RoutingContext())
    {'a/m': 0.5, 'b/m': 0.5}
    """

    name = "uniform"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, min_prob: float = 0.0):
        self.min_prob = min_prob  # accepted for a uniform signature; uniform already exceeds any floor

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        share = 1.0 / len(candidates)
        return [share] * len(candidates)
