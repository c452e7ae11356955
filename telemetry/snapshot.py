"""Per-endpoint health that dispatch and policies read on the request path.

`LiveStats` takes outcomes as they happen (cheap appends) and publishes an immutable snapshot
(`Mapping[str, EndpointStats]`); a scheduled job rebuilds a baseline from the DuckDB store with the
pure function `build_snapshot` and hands it to `LiveStats.merge_baseline`. The request path only
ever reads a snapshot; it never queries DuckDB.

Merging without double counting: the baseline covers outcomes up to `built_at`, the live window
adds only outcomes observed after it. Percentiles cannot be merged, so the 30-minute percentiles come
from the latest baseline (or from the live window until a first baseline exists).
"""
from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

import polars as pl

from .events import UPTIME_EXCLUDED, AttemptEvent, counts_against_uptime

__all__ = ["EndpointStats", "LiveStats", "Percentiles", "build_snapshot", "SNAPSHOT_COLUMNS"]

FIVE_MINUTES_S = 300.0
THIRTY_MINUTES_S = 1_800.0
ONE_DAY_S = 86_400.0
PERCENTILES = (0.5, 0.75, 0.9, 0.99)
SNAPSHOT_COLUMNS = ("endpoint_id", "ts", "error_class", "ttft_s", "latency_s", "tokens_per_s")


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Tail percentiles: pXX is the value that XX% of requests did at least as well as.

    For times that is the XX% quantile; for throughput (higher is better) the (100-XX)% quantile,
    so p99 is always the bad tail, as in OpenRouter's `throughput_last_30m`.
    """
    p50: float
    p75: float
    p90: float
    p99: float

    def as_dict(self) -> dict[str, float]:
        return {"p50": self.p50, "p75": self.p75, "p90": self.p90, "p99": self.p99}


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
    successes_30m: int = 0
    failures_30m: int = 0
    successes_1d: int = 0
    failures_1d: int = 0
    ttft_30m: Percentiles | None = None
    latency_30m: Percentiles | None = None
    tokens_per_s_30m: Percentiles | None = None

    def recent_failures(self, now: float, window_s: float = 30.0) -> int:
        return len(self.failure_times) - bisect.bisect_left(self.failure_times, now - window_s)

    @property
    def uptime_5m(self) -> float | None:
        return _ratio(self.successes_5m, self.failures_5m)

    @property
    def uptime_30m(self) -> float | None:
        return _ratio(self.successes_30m, self.failures_30m)

    @property
    def uptime_1d(self) -> float | None:
        return _ratio(self.successes_1d, self.failures_1d)


def _ratio(successes: int, failures: int) -> float | None:
    total = successes + failures
    return successes / total if total else None


# --------------------------------------------------------------------------------------------
# Rebuild from the store: one pure function over an events frame.
# --------------------------------------------------------------------------------------------
def build_snapshot(events: pl.DataFrame, now: float, *, failure_window_s: float = FIVE_MINUTES_S,
                   earlier_counts: pl.DataFrame | None = None) -> Mapping[str, EndpointStats]:
    """Stats per endpoint from events (at least `SNAPSHOT_COLUMNS`) that started in the last day.

    Counted failures exclude `UPTIME_EXCLUDED` classes; percentiles use successful attempts only.
    `earlier_counts` (endpoint_id, successes, failures) adds to the one-day uptime counts for the
    part of the day that `events` does not cover (e.g. from the rollup table); the caller makes
    sure the two do not overlap.
    """
    ok = pl.col("error_class").is_null()
    counted = pl.col("error_class").is_not_null() & ~pl.col("error_class").is_in(UPTIME_EXCLUDED)
    since = {window: pl.col("ts") >= now - seconds for window, seconds in
             (("5m", failure_window_s), ("30m", THIRTY_MINUTES_S))}
    ok_30m = ok & since["30m"]

    def tail(column: str, higher_is_better: bool = False) -> list[pl.Expr]:
        values = pl.col(column).filter(ok_30m & pl.col(column).is_not_null())
        return [values.quantile(1 - q if higher_is_better else q, "linear").alias(f"{column}_q{i}")
                for i, q in enumerate(PERCENTILES)]

    def median_5m(column: str) -> pl.Expr:
        return pl.col(column).filter(ok & since["5m"] & pl.col(column).is_not_null()).median()

    aggregated = (
        events.lazy()
        .select(SNAPSHOT_COLUMNS)
        .filter((pl.col("ts") <= now) & (pl.col("ts") > now - ONE_DAY_S))
        .group_by("endpoint_id")
        .agg(
            pl.col("ts").filter(counted & since["5m"]).sort().alias("failure_times"),
            since["5m"].sum().alias("n_recent"),
            (ok & since["5m"]).sum().alias("successes_5m"),
            (counted & since["5m"]).sum().alias("failures_5m"),
            median_5m("ttft_s").alias("ttft_p50_s"),
            median_5m("latency_s").alias("latency_p50_s"),
            median_5m("tokens_per_s").alias("tokens_per_s_p50"),
            ok_30m.sum().alias("successes_30m"),
            (counted & since["30m"]).sum().alias("failures_30m"),
            ok.sum().alias("successes_1d"),
            counted.sum().alias("failures_1d"),
            *tail("ttft_s"), *tail("latency_s"), *tail("tokens_per_s", higher_is_better=True),
        )
        .collect()
    )
    if earlier_counts is not None and earlier_counts.height:
        earlier = earlier_counts.select(
            pl.col("endpoint_id").cast(pl.String), pl.col("successes").cast(pl.UInt32).alias("earlier_successes"),
            pl.col("failures").cast(pl.UInt32).alias("earlier_failures"))
        aggregated = (
            aggregated.join(earlier, on="endpoint_id", how="full", coalesce=True)
            .with_columns(pl.col("n_recent", "successes_5m", "failures_5m", "successes_30m", "failures_30m",
                                 "successes_1d", "failures_1d", "earlier_successes", "earlier_failures").fill_null(0),
                          pl.col("failure_times").fill_null(pl.lit([], dtype=pl.List(pl.Float64))))
            .with_columns(pl.col("successes_1d") + pl.col("earlier_successes"),
                          pl.col("failures_1d") + pl.col("earlier_failures"))
        )
    return {row["endpoint_id"]: _stats_from_row(row) for row in aggregated.iter_rows(named=True)}


def _stats_from_row(row: dict) -> EndpointStats:
    def percentiles(column: str) -> Percentiles | None:
        values = [row[f"{column}_q{i}"] for i in range(len(PERCENTILES))]
        return None if values[0] is None else Percentiles(*values)

    return EndpointStats(
        endpoint_id=row["endpoint_id"], failure_times=tuple(row["failure_times"]), n_recent=row["n_recent"],
        successes_5m=row["successes_5m"], failures_5m=row["failures_5m"], ttft_p50_s=row["ttft_p50_s"],
        latency_p50_s=row["latency_p50_s"], tokens_per_s_p50=row["tokens_per_s_p50"],
        successes_30m=row["successes_30m"], failures_30m=row["failures_30m"],
        successes_1d=row["successes_1d"], failures_1d=row["failures_1d"],
        ttft_30m=percentiles("ttft_s"), latency_30m=percentiles("latency_s"),
        tokens_per_s_30m=percentiles("tokens_per_s"),
    )


# --------------------------------------------------------------------------------------------
# Live accumulation between rebuilds.
# --------------------------------------------------------------------------------------------
@dataclass
class _Window:
    outcomes: deque = field(default_factory=lambda: deque(maxlen=512))  # (ts, ok, counted, ttft, latency, tps)


class LiveStats:
    """Thread-safe accumulator of recent outcomes; `snapshot()` is an immutable view.

    `observe` is on the request path, so it only appends and marks the endpoint dirty; the
    summary (a pass and a sort over up to `max_outcomes`) is recomputed when the snapshot is read,
    at most every `refresh_s` seconds for successes and at once after a counted failure (the
    30-second outage rule must see failures without delay). `refresh_s=0` recomputes on every read.
    """

    def __init__(self, window_s: float = FIVE_MINUTES_S, max_outcomes: int = 512, refresh_s: float = 0.0):
        self.window_s = window_s
        self.max_outcomes = max_outcomes
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._baseline: Mapping[str, EndpointStats] = {}
        self._built_at = -math.inf
        self._snapshot: Mapping[str, EndpointStats] = {}
        self._dirty: dict[str, float] = {}  # endpoint_id -> latest observed time
        self._urgent = False
        self._refreshed_at = -math.inf  # monotonic

    def observe(self, endpoint_id: str, now: float, ok: bool, counts_against_uptime: bool = True,
                ttft_s: float | None = None, latency_s: float | None = None, tokens_per_s: float | None = None) -> None:
        with self._lock:
            window = self._windows.get(endpoint_id)
            if window is None:
                window = self._windows[endpoint_id] = _Window(deque(maxlen=self.max_outcomes))
            window.outcomes.append((now, ok, counts_against_uptime, ttft_s, latency_s, tokens_per_s))
            self._dirty[endpoint_id] = max(now, self._dirty.get(endpoint_id, now))
            if not ok and counts_against_uptime:
                self._urgent = True

    def observe_event(self, event: AttemptEvent, now: float | None = None) -> None:
        """Observe a finished attempt; `now` defaults to its end (ts + latency)."""
        if now is None:
            now = event.ts + (event.latency_s or 0.0)
        self.observe(event.endpoint_id, now, event.success, counts_against_uptime(event.error_class),
                     event.ttft_s, event.latency_s, event.tokens_per_s)

    def merge_baseline(self, baseline: Mapping[str, EndpointStats], built_at: float) -> None:
        """Adopt a rebuilt baseline covering outcomes up to `built_at`; live outcomes after it add on."""
        with self._lock:
            self._baseline = dict(baseline)
            self._built_at = built_at
            endpoints = set(self._windows) | set(self._baseline)
            self._snapshot = {endpoint_id: self._summarise(endpoint_id, built_at) for endpoint_id in endpoints}
            self._dirty.clear()
            self._urgent = False

    def snapshot(self) -> Mapping[str, EndpointStats]:
        if self._dirty and (self._urgent or time.monotonic() - self._refreshed_at >= self.refresh_s):
            with self._lock:
                if self._dirty:
                    snapshot = dict(self._snapshot)
                    for endpoint_id, now in self._dirty.items():
                        snapshot[endpoint_id] = self._summarise(endpoint_id, now)
                    self._dirty.clear()
                    self._urgent = False
                    self._refreshed_at = time.monotonic()
                    self._snapshot = snapshot  # swap: readers holding the old dict are unaffected
        return self._snapshot

    def _summarise(self, endpoint_id: str, now: float) -> EndpointStats:
        # Runs on every observe(), so: prune in place, one pass over the window, one sort per metric.
        horizon = now - self.window_s
        window = self._windows.get(endpoint_id)
        outcomes = window.outcomes if window else deque()
        while outcomes and outcomes[0][0] < horizon:
            outcomes.popleft()
        built_at = self._built_at
        n_new = new_ok = 0
        new_failures, ttfts, latencies, throughputs = [], [], [], []
        for ts, ok, counted, ttft, latency, throughput in outcomes:
            if ts < horizon:  # observed out of order
                continue
            if ts > built_at:  # not yet in the baseline
                n_new += 1
                if ok:
                    new_ok += 1
                elif counted:
                    new_failures.append(ts)
            if ok:
                if ttft is not None:
                    ttfts.append(ttft)
                if latency is not None:
                    latencies.append(latency)
                if throughput is not None:
                    throughputs.append(throughput)
        ttfts.sort()
        latencies.sort()
        throughputs.sort()
        base = self._baseline.get(endpoint_id) or EndpointStats(endpoint_id)
        base_is_recent = now - built_at < self.window_s  # else its 5-minute counts are stale
        old_failures = [t for t in base.failure_times if horizon <= t <= built_at]
        return EndpointStats(
            endpoint_id=endpoint_id,
            failure_times=tuple(sorted(old_failures + new_failures)),
            n_recent=(base.n_recent if base_is_recent else 0) + n_new,
            successes_5m=(base.successes_5m if base_is_recent else 0) + new_ok,
            failures_5m=len(old_failures) + len(new_failures),
            ttft_p50_s=_fallback(_quantile(ttfts, 0.5), base.ttft_p50_s),
            latency_p50_s=_fallback(_quantile(latencies, 0.5), base.latency_p50_s),
            tokens_per_s_p50=_fallback(_quantile(throughputs, 0.5), base.tokens_per_s_p50),
            successes_30m=base.successes_30m + new_ok,
            failures_30m=base.failures_30m + len(new_failures),
            successes_1d=base.successes_1d + new_ok,
            failures_1d=base.failures_1d + len(new_failures),
            ttft_30m=base.ttft_30m or _percentiles(ttfts),
            latency_30m=base.latency_30m or _percentiles(latencies),
            tokens_per_s_30m=base.tokens_per_s_30m or _percentiles(throughputs, higher_is_better=True),
        )


def _fallback(value, default):
    return default if value is None else value


def _quantile(ascending: list[float], q: float) -> float | None:
    """Linear-interpolated quantile of sorted values (polars' "linear", DuckDB's quantile_cont)."""
    if not ascending:
        return None
    position = q * (len(ascending) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ascending) - 1)
    return ascending[low] + (ascending[high] - ascending[low]) * (position - low)


def _percentiles(ascending: list[float], higher_is_better: bool = False) -> Percentiles | None:
    if not ascending:
        return None
    return Percentiles(*(_quantile(ascending, 1 - q if higher_is_better else q) for q in PERCENTILES))
