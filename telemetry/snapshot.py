"""Per-endpoint health that dispatch and policies read on the request path.

`LiveStats` takes outcomes as they happen (cheap appends) and publishes an immutable
`StatsSnapshot`; a scheduled job can replace the baseline figures from the DuckDB store.
The request path only ever reads a snapshot; it never queries DuckDB.
"""
from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["EndpointStats", "LiveStats"]


@dataclass(frozen=True, slots=True)
class EndpointStats:
    endpoint_id: str
    failure_times: tuple[float, ...] = ()  # unix seconds of recent counted failures, ascending
    n_recent: int = 0
    successes_5m: int = 0
    failures_5m: int = 0
    ttft_p50_s: float | None = None
    latency_p50_s: float | None = None
    tokens_per_s_p50: float | None = None

    def recent_failures(self, now: float, window_s: float = 30.0) -> int:
        return len(self.failure_times) - bisect.bisect_left(self.failure_times, now - window_s)

    @property
    def uptime_5m(self) -> float | None:
        total = self.successes_5m + self.failures_5m
        return self.successes_5m / total if total else None


@dataclass
class _Window:
    outcomes: deque = field(default_factory=lambda: deque(maxlen=512))  # (ts, ok, ttft, latency, tps)


class LiveStats:
    """Thread-safe accumulator of recent outcomes; `snapshot()` is an immutable view."""

    def __init__(self, window_s: float = 300.0):
        self.window_s = window_s
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._snapshot: Mapping[str, EndpointStats] = {}

    def observe(self, endpoint_id: str, now: float, ok: bool, counts_against_uptime: bool = True,
                ttft_s: float | None = None, latency_s: float | None = None, tokens_per_s: float | None = None) -> None:
        with self._lock:
            window = self._windows.setdefault(endpoint_id, _Window())
            window.outcomes.append((now, ok, counts_against_uptime, ttft_s, latency_s, tokens_per_s))
            snapshot = dict(self._snapshot)
            snapshot[endpoint_id] = self._summarise(endpoint_id, window, now)
            self._snapshot = snapshot  # swap: readers holding the old dict are unaffected

    def snapshot(self) -> Mapping[str, EndpointStats]:
        return self._snapshot

    def _summarise(self, endpoint_id: str, window: _Window, now: float) -> EndpointStats:
        horizon = now - self.window_s
        recent = [o for o in window.outcomes if o[0] >= horizon]
        failures = tuple(o[0] for o in recent if not o[1] and o[2])
        ok = [o for o in recent if o[1]]
        return EndpointStats(
            endpoint_id=endpoint_id,
            failure_times=failures,
            n_recent=len(recent),
            successes_5m=len(ok),
            failures_5m=len(failures),
            ttft_p50_s=_median([o[3] for o in ok if o[3] is not None]),
            latency_p50_s=_median([o[4] for o in ok if o[4] is not None]),
            tokens_per_s_p50=_median([o[5] for o in ok if o[5] is not None]),
        )


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])
