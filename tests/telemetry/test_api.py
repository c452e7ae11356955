from __future__ import annotations

import pytest

from telemetry.api import endpoint_live_stats, generation_detail
from telemetry.snapshot import build_snapshot
from telemetry.store import EventStore, events_frame
from telemetry.writer import TelemetryWriter

from telemetry_testdata import T0


@pytest.fixture
def fallback_request(make_event):
    """One request: a timeout on alpha, a 5xx on beta, then success on gamma."""
    common = dict(request_id="req-fallback", generation_id="gen-fallback")
    return [
        make_event(**common, attempt=0, ts=T0, endpoint_id="alpha/m", provider="alpha", error_class="timeout",
                   status=0, ttft_s=None, latency_s=10.0, tokens_per_s=None, completion_tokens=0, cost=0.0,
                   propensity=0.6),
        make_event(**common, attempt=1, ts=T0 + 10, endpoint_id="beta/m", provider="beta", error_class="5xx",
                   status=503, ttft_s=None, latency_s=0.5, tokens_per_s=None, completion_tokens=0, cost=0.0,
                   propensity=0.3),
        make_event(**common, attempt=2, ts=T0 + 10.5, endpoint_id="gamma/m", provider="gamma", served_model="gamma-m",
                   latency_s=2.0, ttft_s=0.4, completion_tokens=80, cost=3e-4, propensity=0.1),
    ]


def test_generation_detail_returns_every_attempt(store_path, make_event, fallback_request):
    with TelemetryWriter(store_path, flush_interval_s=30.0) as writer:
        for event in [make_event(), *fallback_request, make_event()]:
            writer.record(event)
        detail = generation_detail(writer, "gen-fallback")  # still queued: found through a flush
        assert generation_detail(writer, "gen-unknown") is None
    assert detail["model"] == "gamma-m" and detail["provider"] == "gamma" and detail["success"] is True
    assert (detail["ttft_s"], detail["latency_s"], detail["tokens_completion"]) == (0.4, 2.0, 80)
    assert detail["total_latency_s"] == pytest.approx(12.5)
    assert detail["total_cost"] == pytest.approx(3e-4)
    assert [(a["endpoint_id"], a["status"], a["error_class"]) for a in detail["attempts"]] == [
        ("alpha/m", 0, "timeout"), ("beta/m", 503, "5xx"), ("gamma/m", 200, None)]
    assert [a["propensity"] for a in detail["attempts"]] == [0.6, 0.3, 0.1]
    with EventStore(store_path) as store:  # the same answer straight from the store once the writer is gone
        assert generation_detail(store, "gen-fallback") == detail


def test_endpoint_live_stats_reports_openrouter_shapes(fallback_request, make_event):
    successes = [make_event(endpoint_id="gamma/m", ts=T0 + i, ttft_s=0.1 * i, latency_s=float(i), tokens_per_s=10.0 * i)
                 for i in range(1, 5)]
    snapshot = build_snapshot(events_frame(fallback_request + successes), now=T0 + 60)
    stats = endpoint_live_stats(snapshot, "gamma/m")
    assert stats["uptime_last_5m"] == 100.0 and stats["uptime_last_1d"] == 100.0
    assert stats["latency_last_30m"]["p50"] == pytest.approx(0.3)  # TTFT, as OpenRouter reports latency
    assert stats["e2e_latency_last_30m"]["p50"] == pytest.approx(2.0)
    assert stats["throughput_last_30m"]["p50"] == pytest.approx(30.0)  # 10, 20, 30, 40 and the fallback's 50
    assert stats["throughput_last_30m"]["p99"] < stats["throughput_last_30m"]["p50"]
    assert endpoint_live_stats(snapshot, "alpha/m")["uptime_last_30m"] == 0.0
    assert endpoint_live_stats(snapshot, "unknown/m") == {
        "uptime_last_5m": None, "uptime_last_30m": None, "uptime_last_1d": None,
        "latency_last_30m": None, "e2e_latency_last_30m": None, "throughput_last_30m": None}
