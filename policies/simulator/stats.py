"""Live endpoint stats on the simulated clock, cheap enough to update on every simulated attempt.

It publishes the same `telemetry.snapshot.EndpointStats` records that serving's `LiveStats` does
(same 5-minute window bounded to the last `max_outcomes` outcomes, same counting rule: 429, user
errors and client cancels do not count against uptime), so policies read identical fields offline
and online. A failure is published at once (failure times and counts are exact, so outage
detection is as fast as serving's); successes are published every `refresh_every` successes per
endpoint, with percentiles over the last `median_window` of them, as a rollup would, because
rebuilding the record and sorting on every simulated success would cost more than the policy call.
"""
from __future__ import annotations

from collections import deque
from dataclasses import fields
from typing import Mapping

import numpy as np

from telemetry import snapshot as _snapshot_module
from telemetry.snapshot import EndpointStats

__all__ = ["SimulatedStats"]

_PERCENTILES = (0.5, 0.75, 0.9, 0.99)
# The stats record is gaining 30-minute/1-day figures; fill them when this version has them.
_HAS_LONG_WINDOWS = "successes_30m" in {f.name for f in fields(EndpointStats)}
_Percentiles = getattr(_snapshot_module, "Percentiles", None)
_THIRTY_MINUTES_S = 1_800.0
_nan = float("nan")


class _EndpointWindow:
    __slots__ = ("failures", "outcomes", "n_ok", "long", "long_ok", "long_failures", "total_ok", "total_failures",
                 "recent_ok", "n_recorded", "ok_since_refresh", "figures")

    def __init__(self, median_window: int) -> None:
        self.failures: deque[float] = deque()  # counted failure times among `outcomes`, ascending
        self.outcomes: deque[tuple[float, bool, bool]] = deque()  # (ts, ok, counts_against_uptime)
        self.n_ok = 0
        self.long: deque[tuple[float, bool, bool]] = deque()  # 30-minute window, unbounded
        self.long_ok = self.long_failures = self.total_ok = self.total_failures = 0
        # Ring buffer of the last `median_window` successes: (ttft, latency, tokens/s), nan if unknown.
        # A flat list, three floats per success (numpy only when percentiles are due): storing a row
        # in an array costs ~10x more, and numpy converts flat floats far faster than tuples.
        self.recent_ok: list[float] = [_nan] * (3 * median_window)
        self.n_recorded = 0
        self.ok_since_refresh = 0
        self.figures: dict = {}


class SimulatedStats:
    def __init__(self, window_s: float = 300.0, refresh_every: int = 32, median_window: int = 128,
                 max_outcomes: int = 512):
        self.window_s = window_s
        self.refresh_every = refresh_every
        self.median_window = median_window
        self.max_outcomes = max_outcomes
        self._windows: dict[str, _EndpointWindow] = {}
        self._snapshot: dict[str, EndpointStats] = {}
        self._dirty: dict[str, float] = {}  # endpoint -> time of its latest observation
        self._interpolations: dict = {}  # see `_figures`

    def observe(self, endpoint_id: str, now: float, ok: bool, counts_against_uptime: bool = True,
                ttft_s: float | None = None, latency_s: float | None = None, tokens_per_s: float | None = None) -> None:
        window = self._windows.get(endpoint_id)
        if window is None:
            window = self._windows[endpoint_id] = _EndpointWindow(self.median_window)
        if len(window.outcomes) == self.max_outcomes:
            self._drop_oldest(window)
        outcome = (now, ok, counts_against_uptime)
        window.outcomes.append(outcome)
        window.long.append(outcome)
        if ok:
            window.n_ok += 1
            window.long_ok += 1
            window.total_ok += 1
            slot = 3 * (window.n_recorded % self.median_window)
            window.recent_ok[slot:slot + 3] = (
                _nan if ttft_s is None else ttft_s, _nan if latency_s is None else latency_s,
                _nan if tokens_per_s is None else tokens_per_s)
            window.n_recorded += 1
            window.ok_since_refresh += 1
            if window.ok_since_refresh < self.refresh_every and window.figures.get("latency_p50_s") is not None:
                return  # successes are published in batches after the first (see module docstring)
        elif counts_against_uptime:
            window.failures.append(now)
            window.long_failures += 1
            window.total_failures += 1
        self._dirty[endpoint_id] = now

    def snapshot(self) -> Mapping[str, EndpointStats]:
        """Immutable view; a new dict only when something was observed since the last call."""
        if self._dirty:
            snapshot = dict(self._snapshot)
            for endpoint_id, now in self._dirty.items():
                snapshot[endpoint_id] = self._summarise(endpoint_id, now)
            self._dirty.clear()
            self._snapshot = snapshot
        return self._snapshot

    def _summarise(self, endpoint_id: str, now: float) -> EndpointStats:
        window = self._windows[endpoint_id]
        horizon = now - self.window_s
        while window.outcomes and window.outcomes[0][0] < horizon:
            self._drop_oldest(window)
        long, cutoff = window.long, now - _THIRTY_MINUTES_S
        if long and long[0][0] < cutoff:  # every outcome leaves once: counted in locals, stored once
            dropped_ok = dropped_failures = 0
            while long and long[0][0] < cutoff:
                _, ok, counts = long.popleft()
                dropped_ok += ok
                dropped_failures += (not ok) and counts
            window.long_ok -= dropped_ok
            window.long_failures -= dropped_failures
        if window.ok_since_refresh >= self.refresh_every or window.figures.get("latency_p50_s") is None:
            recent = np.fromiter(window.recent_ok, float, len(window.recent_ok)).reshape(-1, 3)
            window.figures = _figures(recent, self._interpolations)
            window.ok_since_refresh = 0
        figures = window.figures
        extra = {}
        if _HAS_LONG_WINDOWS:
            extra = dict(successes_30m=window.long_ok, failures_30m=window.long_failures,
                         successes_1d=window.total_ok, failures_1d=window.total_failures,
                         ttft_30m=figures["ttft_30m"], latency_30m=figures["latency_30m"],
                         tokens_per_s_30m=figures["tokens_per_s_30m"])
        return EndpointStats(
            endpoint_id=endpoint_id, failure_times=tuple(window.failures), n_recent=len(window.outcomes),
            successes_5m=window.n_ok, failures_5m=len(window.failures), ttft_p50_s=figures["ttft_p50_s"],
            latency_p50_s=figures["latency_p50_s"], tokens_per_s_p50=figures["tokens_per_s_p50"], **extra,
        )

    @staticmethod
    def _drop_oldest(window: _EndpointWindow) -> None:
        _, ok, counts = window.outcomes.popleft()
        if ok:
            window.n_ok -= 1
        elif counts:
            window.failures.popleft()  # failures are appended in the same order as outcomes


_NAMES = (("ttft_p50_s", "ttft_30m", False), ("latency_p50_s", "latency_30m", False),
          ("tokens_per_s_p50", "tokens_per_s_30m", True))
_LEVELS = np.array([0.5, *(q for q in _PERCENTILES), *(1 - q for q in _PERCENTILES)])


_COLUMNS = np.arange(len(_NAMES))


def _interpolation(counts: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low rows, high rows, fractions) of every level for columns holding `counts` values each."""
    filled = np.maximum(np.array(counts) - 1, 0)[None, :]
    # Linear interpolation between order statistics: serving's, polars', DuckDB's and numpy's definition.
    position = _LEVELS[:, None] * filled
    low = np.floor(position).astype(np.intp)
    return low, np.minimum(low + 1, filled), position - low


def _figures(recent_ok: np.ndarray, interpolations: dict | None = None) -> dict:
    """p50 and tail percentiles of the three columns at once (nan = missing or unfilled slot).

    `interpolations` caches `_interpolation` by the columns' counts of values: once the buffer is
    full they rarely change, and working out the positions costs more than the percentiles.
    """
    ordered = np.sort(recent_ok, axis=0)  # nan sorts last, so each column starts with its values
    # Values per column: np.count_nonzero's count through the ufunc (its axis= wrapper costs more).
    counts = tuple(np.add.reduce(~np.isnan(ordered), axis=0).tolist())
    found = None if interpolations is None else interpolations.get(counts)
    if found is None:
        found = _interpolation(counts)
        if interpolations is not None:
            interpolations[counts] = found
    low, high, fraction = found
    low_values = ordered[low, _COLUMNS]
    quantiles = (low_values + (ordered[high, _COLUMNS] - low_values) * fraction).T.tolist()
    figures: dict = {}
    for column, (p50_name, tail_name, higher_is_better) in enumerate(_NAMES):
        if counts[column] == 0:
            figures[p50_name] = figures[tail_name] = None
            continue
        values = quantiles[column]
        figures[p50_name] = values[0]
        if _Percentiles is not None:
            figures[tail_name] = _Percentiles(*(values[5:] if higher_is_better else values[1:5]))
    return figures
