"""Per-endpoint circuit breaker: skip an endpoint that failed repeatedly in the last seconds.

closed --(failure_threshold consecutive failures)--> open --(cooldown_s)--> half-open
half-open lets one trial request through: success closes the breaker, failure re-opens it.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CircuitBreaker", "BreakerBoard"]


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    consecutive_failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if now - self.opened_at >= self.cooldown_s else "open"

    def allow(self, now: float) -> bool:
        state = self.state(now)
        if state == "closed":
            return True
        if state == "half-open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def record(self, ok: bool, now: float) -> None:
        self.trial_in_flight = False
        if ok:
            self.consecutive_failures = 0
            self.opened_at = None
            return
        self.consecutive_failures += 1
        if self.opened_at is not None or self.consecutive_failures >= self.failure_threshold:
            self.opened_at = now  # a failed half-open trial re-opens for a full cooldown


class BreakerBoard:
    """The breakers of every endpoint, created on first use."""

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0):
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, endpoint_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(endpoint_id)
        if breaker is None:
            breaker = self._breakers[endpoint_id] = CircuitBreaker(self.failure_threshold, self.cooldown_s)
        return breaker

    def states(self, now: float) -> dict[str, str]:
        return {endpoint_id: b.state(now) for endpoint_id, b in self._breakers.items()}
