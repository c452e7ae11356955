"""LiteLLM-style latency-based routing ("latency-based-routing" in LiteLLM's router).

As LiteLLM does: keep each endpoint's last `window` latencies, normalised per output token when
the output length is known; record a failure as `failure_latency_s` (LiteLLM records timeouts
as 1000 s); endpoints never tried count as latency 0 so they are tried first; then pick uniformly
among the endpoints whose mean latency is within `buffer` (a fraction) of the lowest.
"""
from __future__ import annotations

from collections import deque
from typing import Sequence

from ..base import Candidate, Observation, RoutingContext
from ..estimators import NEUTRAL_ERRORS
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["LatencyBased"]


@register
class LatencyBased(ScoringPolicy):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate(e, e, "m", 1e-6, 1e-6) for e in ("a", "b", "c")]
    >>> p = LatencyBased(buffer=0.1)
    >>> for endpoint, latency in [("a", 1.0), ("b", 1.05), ("c", 2.0)]:
    ...     p.update(Observation(endpoint, RoutingContext(), success=True, latency_s=latency))
    >>> p.distribution(c, RoutingContext())
    {'a': 0.5, 'b': 0.5, 'c': 0.0}
    """

    name = "latency-based"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, buffer: float = 0.1, window: int = 10, failure_latency_s: float = 1000.0, min_prob: float = 0.0):
        self.buffer = buffer
        self.window = window
        self.failure_latency_s = failure_latency_s
        self.min_prob = min_prob

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        # Plain Python: a handful of numpy calls would cost more than the arithmetic for ~10 candidates.
        means = getattr(self, "mean_latency_", {})
        latencies = [means.get(c.endpoint_id, 0.0) for c in candidates]
        lowest = min(latencies)
        threshold = lowest + self.buffer * lowest
        share = 1.0 / sum(1 for latency in latencies if latency <= threshold)
        return [share if latency <= threshold else 0.0 for latency in latencies]

    def _learn(self, observation: Observation) -> None:
        if observation.success:
            if observation.latency_s is None:
                return
            latency = observation.latency_s
            if observation.output_tokens > 0:
                latency /= observation.output_tokens
        elif observation.error_class in NEUTRAL_ERRORS:
            return
        else:
            latency = self.failure_latency_s
        if not hasattr(self, "latencies_"):
            self.latencies_: dict[str, deque] = {}
            self.mean_latency_: dict[str, float] = {}
        recent = self.latencies_.setdefault(observation.endpoint_id, deque(maxlen=self.window))
        recent.append(latency)
        self.mean_latency_[observation.endpoint_id] = sum(recent) / len(recent)
