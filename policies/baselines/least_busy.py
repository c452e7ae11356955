"""Least-busy routing: the endpoint with the fewest requests in flight right now (ties shared).

In-flight counts arrive in `context.in_flight`, maintained by serving (or the simulator).
"""
from __future__ import annotations

from typing import Sequence

from ..base import Candidate, RoutingContext
from ..exploration import greedy
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["LeastBusy"]


@register
class LeastBusy(ScoringPolicy):
    """>>> from policies.base import Candidate, RoutingContext
    >>> c = [Candidate(e, e, "m", 1e-6, 1e-6) for e in ("a", "b")]
    >>> LeastBusy().distribution(c, RoutingContext(in_flight={"a": 3, "b": 1}))
    {'a': 0.0, 'b': 1.0}
    """

    name = "least-busy"

    def __init__(self, min_prob: float = 0.0):
        self.min_prob = min_prob

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        # Plain Python floats (what numpy's float array and negation would give): for a few
        # candidates the numpy calls cost more than the decision.
        busy = context.in_flight
        return greedy([-float(busy.get(c.endpoint_id, 0)) for c in candidates])
