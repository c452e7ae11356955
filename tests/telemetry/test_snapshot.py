from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from telemetry.snapshot import LiveStats, Percentiles, build_snapshot
from telemetry.store import events_frame

from telemetry_testdata import T0

NOW = T0 + 86_400.0


@pytest.fixture
def history(make_event):
    def event(age_s, error_class=None, ttft=None, latency=None, tps=None, endpoint="a"):
        return make_event(endpoint_id=endpoint, ts=NOW - age_s, error_class=error_class, ttft_s=ttft,
                          latency_s=latency, tokens_per_s=tps)
    return [
        event(10, ttft=0.2, latency=1.0, tps=40.0), event(20, "5xx"), event(100, "429"),
        event(200, ttft=0.4, latency=2.0, tps=60.0),
        event(1_000, ttft=0.6, latency=3.0, tps=80.0), event(1_500, "timeout"),  # older than 5 min
        event(5_000, ttft=9.0, latency=9.0, tps=9.0), event(5_001, "connect"),  # older than 30 min
        event(90_000, ttft=0.1), event(-10, "5xx"),  # older than a day, and in the future: ignored
        event(50, ttft=1.0, latency=1.0, tps=10.0, endpoint="b"),
    ]


def test_build_snapshot_matches_hand_computation(history):
    snapshot = build_snapshot(events_frame(history), NOW)
    assert set(snapshot) == {"a", "b"}
    a = snapshot["a"]
    assert a.failure_times == (NOW - 20,)
    assert (a.n_recent, a.successes_5m, a.failures_5m) == (4, 2, 1)
    assert (a.ttft_p50_s, a.latency_p50_s, a.tokens_per_s_p50) == pytest.approx((0.3, 1.5, 50.0))
    assert (a.successes_30m, a.failures_30m, a.successes_1d, a.failures_1d) == (3, 2, 4, 3)
    assert a.uptime_5m == pytest.approx(2 / 3)
    assert a.uptime_30m == pytest.approx(0.6)
    assert a.uptime_1d == pytest.approx(4 / 7)
    assert dataclasses.astuple(a.ttft_30m) == pytest.approx((0.4, 0.5, 0.56, 0.596))
    assert dataclasses.astuple(a.latency_30m) == pytest.approx((2.0, 2.5, 2.8, 2.98))
    # Throughput percentiles describe the slow tail: p99 is the value 99% of requests beat.
    assert dataclasses.astuple(a.tokens_per_s_30m) == pytest.approx((60.0, 50.0, 44.0, 40.4))
    assert a.recent_failures(NOW, 30.0) == 1 and a.recent_failures(NOW + 15, 30.0) == 0
    assert snapshot["b"].ttft_30m == Percentiles(1.0, 1.0, 1.0, 1.0)


def test_build_snapshot_of_no_events_is_empty(history):
    assert build_snapshot(events_frame(history).clear(), NOW) == {}


def test_earlier_counts_add_to_the_daily_uptime_only(history):
    earlier = pl.DataFrame({"endpoint_id": ["a", "c"], "successes": [10, 4], "failures": [2, 1]})
    recent = events_frame(history).filter(pl.col("ts") >= NOW - 1_800)
    snapshot = build_snapshot(recent, NOW, earlier_counts=earlier)
    a, c = snapshot["a"], snapshot["c"]
    assert (a.successes_1d, a.failures_1d, a.successes_30m, a.failures_30m) == (13, 4, 3, 2)
    assert (c.successes_1d, c.failures_1d, c.successes_5m, c.failure_times, c.ttft_30m) == (4, 1, 0, (), None)
    assert c.uptime_1d == pytest.approx(0.8) and c.uptime_30m is None


def test_merge_baseline_does_not_double_count(history):
    live = LiveStats()
    for event in history[:2]:  # live already saw these before the rebuild
        live.observe_event(event, now=event.ts)
    live.merge_baseline(build_snapshot(events_frame(history), NOW), built_at=NOW)
    a = live.snapshot()["a"]
    assert (a.successes_5m, a.failures_5m, a.failures_30m, a.failures_1d) == (2, 1, 2, 3)
    live.observe("a", NOW + 5, ok=False, ttft_s=None)
    live.observe("a", NOW + 6, ok=False, counts_against_uptime=False)  # e.g. a 429
    live.observe("a", NOW + 7, ok=True, ttft_s=0.5, latency_s=1.0, tokens_per_s=30.0)
    a = live.snapshot()["a"]
    assert (a.successes_5m, a.failures_5m) == (3, 2)
    assert (a.successes_30m, a.failures_30m, a.successes_1d, a.failures_1d) == (4, 3, 5, 4)
    assert a.failure_times == (NOW - 20, NOW + 5)
    assert a.recent_failures(NOW + 8, 30.0) == 2
    assert a.ttft_30m == Percentiles(0.4, 0.5, pytest.approx(0.56), pytest.approx(0.596))  # from the baseline
    assert "b" in live.snapshot()  # endpoints known only to the baseline appear too


def test_live_stats_without_baseline_uses_its_window():
    live = LiveStats(window_s=60.0)
    live.observe("x", 100.0, ok=True, ttft_s=0.1, latency_s=1.0, tokens_per_s=10.0)
    live.observe("x", 110.0, ok=True, ttft_s=0.3, latency_s=3.0, tokens_per_s=30.0)
    live.observe("x", 120.0, ok=False)
    x = live.snapshot()["x"]
    assert (x.successes_5m, x.failures_5m, x.ttft_p50_s) == (2, 1, pytest.approx(0.2))
    assert x.latency_30m == Percentiles(2.0, 2.5, pytest.approx(2.8), pytest.approx(2.98))
    live.observe("x", 175.0, ok=True)  # the first two fell out of the 60 s window
    x = live.snapshot()["x"]
    assert (x.n_recent, x.successes_5m, x.failures_5m) == (2, 1, 1)
