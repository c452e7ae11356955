"""Fastest routing: the lowest rolling median end-to-end latency (ties shared).

The median comes from the live stats snapshot in the context when serving has one for the
endpoint (`EndpointStats.latency_p50_s`), otherwise from the policy's own last `window`
successful attempts. Endpoints with no latency known at all count as fastest, so each new
endpoint is tried before being judged. Failures do not enter the median (that is what a
"fastest" baseline means; health-aware choice is the learned policies' job).
"""
from __future__ import annotations

import statistics
from collections import deque
from typing import Sequence

from ..base import Candidate, Observation, RoutingContext
from ..exploration import greedy
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["Fastest"]


@register
class Fastest(ScoringPolicy):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate("a/m", "a", "m", 1e-6, 1e-6), Candidate("b/m", "b", "m", 1e-6, 1e-6)]
    >>> p = Fastest()
    >>> for endpoint, latency in [("a/m", 3.0), ("b/m", 1.0)]:
    ...     p.update(Observation(endpoint, RoutingContext(), success=True, latency_s=latency))
    >>> p.distribution(c, RoutingContext())
    {'a/m': 0.0, 'b/m': 1.0}
    """

    name = "fastest"
    reads_in_flight = False  # reads context.stats only (the simulator then passes no in-flight counts)

    def __init__(self, window: int = 50, min_prob: float = 0.0):
        self.window = window
        self.min_prob = min_prob

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        stats = context.stats
        latencies = []
        for candidate in candidates:
            endpoint_stats = stats.get(candidate.endpoint_id)
            latency = endpoint_stats.latency_p50_s if endpoint_stats is not None else None
            latencies.append(self._own_median(candidate.endpoint_id) if latency is None else latency)
        return greedy([-float(latency) for latency in latencies])  # numpy's negated float array, in Python

    def _own_median(self, endpoint_id: str) -> float:
        """Median of this policy's own recent latencies (0 if none), worked out when first needed."""
        p50 = self.__dict__.get("p50_")
        if p50 is None:
            return 0.0
        median = p50.get(endpoint_id)
        if median is None:
            recent = self.latencies_.get(endpoint_id)
            if not recent:
                return 0.0
            median = p50[endpoint_id] = statistics.median(recent)
        return median

    def _learn(self, observation: Observation) -> None:
        if not observation.success or observation.latency_s is None:
            return
        if not hasattr(self, "latencies_"):
            self.latencies_: dict[str, deque] = {}
            self.p50_: dict[str, float] = {}  # medians of `latencies_`, dropped when one changes
        recent = self.latencies_.setdefault(observation.endpoint_id, deque(maxlen=self.window))
        recent.append(observation.latency_s)
        # Recomputed only when a decision needs it: with live stats (serving, the simulator) it never does.
        self.p50_.pop(observation.endpoint_id, None)
