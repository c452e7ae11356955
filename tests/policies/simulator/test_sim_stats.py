import pytest

from policies.simulator.stats import SimulatedStats
from telemetry.snapshot import LiveStats


def _feed(stats, outcomes):
    for now, ok, counts, ttft in outcomes:
        stats.observe("e", now, ok, counts_against_uptime=counts, ttft_s=ttft if ok else None,
                      latency_s=2 * ttft if ok else None, tokens_per_s=50.0 if ok else None)


def test_counts_match_serving_live_stats():
    outcomes = [(float(t), t % 3 != 0, t % 2 != 0, 0.1 + t / 100) for t in range(0, 700)]
    simulated, serving = SimulatedStats(refresh_every=1), LiveStats()
    _feed(simulated, outcomes)
    _feed(serving, outcomes)
    mine, theirs = simulated.snapshot()["e"], serving.snapshot()["e"]
    assert mine.failure_times == theirs.failure_times
    assert (mine.n_recent, mine.successes_5m, mine.failures_5m) == (theirs.n_recent, theirs.successes_5m, theirs.failures_5m)
    assert mine.recent_failures(698.0) == theirs.recent_failures(698.0) > 0
    assert mine.ttft_p50_s == pytest.approx(theirs.ttft_p50_s, rel=0.1)


def test_window_is_bounded_and_snapshot_is_immutable_view():
    stats = SimulatedStats(max_outcomes=8)
    _feed(stats, [(float(t), False, True, 0.0) for t in range(20)])
    first = stats.snapshot()
    assert first["e"].failures_5m == 8 and first["e"].failure_times[0] == 12.0
    _feed(stats, [(21.0, True, True, 0.3)])
    assert stats.snapshot()["e"].successes_5m == 1
    assert first["e"].successes_5m == 0
    assert stats.snapshot() is stats.snapshot()
