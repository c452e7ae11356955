"""Load soak through a gateway child process with ~20 % upstream faults: nothing lost, nothing leaked.

The quick run is part of the default suite; `pytest -m soak` (or `benchmarks/bench_soak.py`) runs
the full 10,000 requests at concurrency 200.
"""
from __future__ import annotations

import pytest

from .soak import run_soak


def _check(report) -> None:
    table = "\n".join(f"{k}: {v}" for k, v in report.rows())
    assert report.unanswered == 0, table
    assert report.gateway_500s == 0, table
    assert set(report.statuses) <= {200, 429, 502, 503, 504}, table
    assert report.streams > 0 and report.streams_without_done == 0, table
    assert 0.1 <= report.fault_rate <= 0.35, table  # the faults really were injected
    assert report.statuses[200] >= 0.9 * report.n_requests, table  # and fallback absorbed most of them
    # Telemetry: one event per attempt, for every generation a client heard of.
    assert report.missing_generations == 0 and report.mismatched_generations == 0, table
    assert report.events_match_upstreams, table
    assert report.events_in_duckdb >= report.attempts_seen_by_clients, table
    # Money: the ledger holds exactly what the clients were told they paid.
    assert report.settled_cost > 0 and report.ledger_usage == report.settled_cost, table
    assert report.rss_growth_mb < 40, table
    assert report.gateway_log_errors == [], table
    assert report.exit_code in (0, -15), table  # uvicorn re-raises SIGTERM after a clean shutdown


def test_quick_soak_loses_nothing(tmp_path):
    _check(run_soak(tmp_path, n_requests=1000, concurrency=100, seed=1))


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_full_soak_loses_nothing(tmp_path):
    _check(run_soak(tmp_path, n_requests=10_000, concurrency=200, seed=2))
