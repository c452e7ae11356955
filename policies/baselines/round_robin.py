"""Round-robin routing: candidates take turns, in the order the caller lists them.

The turn is learned state advanced by `update` (one step per observed attempt), which keeps
`distribution` a pure function of (state, candidates, context): asking twice without an update in
between gives the same answer, and the propensity of the endpoint whose turn it is is exactly 1
(or 1 - (n-1)*min_prob with a floor). Serving and the simulator call `update` after every attempt.
"""
from __future__ import annotations

from typing import Sequence

from ..base import Candidate, Observation, RoutingContext
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["RoundRobin"]


@register
class RoundRobin(ScoringPolicy):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate("a/m", "a", "m", 1e-6, 1e-6), Candidate("b/m", "b", "m", 1e-6, 1e-6)]
    >>> p = RoundRobin(); p.update(Observation("a/m", RoutingContext(), success=True))
    >>> p.distribution(c, RoutingContext())
    {'a/m': 0.0, 'b/m': 1.0}
    """

    name = "round-robin"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, min_prob: float = 0.0):
        self.min_prob = min_prob

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        turn = getattr(self, "turn_", 0) % len(candidates)
        probabilities = [0.0] * len(candidates)
        probabilities[turn] = 1.0
        return probabilities

    def _learn(self, observation: Observation) -> None:
        self.turn_ = getattr(self, "turn_", 0) + 1
