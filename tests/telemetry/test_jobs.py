from __future__ import annotations

import polars as pl

from telemetry.jobs import TelemetryJobs
from telemetry.snapshot import LiveStats
from telemetry.writer import TelemetryWriter

from telemetry_testdata import T0


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_jobs_roll_up_rebuild_snapshot_refresh_prices_and_retire(store_path, tmp_path, make_event):
    clock = FakeClock(T0 + 120)
    prices = {"alpha/m": (1e-6, 2e-6, 0.0)}
    live = LiveStats()
    with TelemetryWriter(store_path) as writer:
        jobs = TelemetryJobs(writer, live, price_source=lambda: dict(prices), archive_dir=tmp_path / "archive",
                             retention_days=1, clock=clock)
        writer.record(make_event(endpoint_id="alpha/m", ts=T0 - 2 * 86_400))  # due for retention
        writer.record(make_event(endpoint_id="alpha/m", ts=T0 - 3_600, error_class="timeout"))  # via the rollup
        writer.record(make_event(endpoint_id="alpha/m", ts=T0 + 10))
        writer.record(make_event(endpoint_id="alpha/m", ts=T0 + 70, error_class="5xx", ttft_s=None))
        assert jobs.run_rollups() == 4  # minutes: T0 - 2 days, T0 - 1 h, T0 and T0 + 60
        assert jobs.rebuild_snapshot() == 1
        stats = live.snapshot()["alpha/m"]
        assert (stats.successes_5m, stats.failures_5m, stats.successes_1d, stats.failures_1d) == (1, 1, 1, 2)
        assert jobs.refresh_prices() == 1
        prices["alpha/m"] = (1e-6, 3e-6, 0.0)
        clock.now += 60
        assert jobs.refresh_prices() == 1
        assert jobs.refresh_prices() == 0
        assert jobs.run_retention() == 1
        history = writer.read_frame("SELECT * FROM price_history ORDER BY valid_from")
        remaining = writer.read_frame("SELECT count(*) AS n FROM events")["n"][0]
    assert history.select("completion_price", "valid_from", "valid_to").rows() == [
        (2e-6, T0 + 120, T0 + 180), (3e-6, T0 + 180, None)]
    assert remaining == 3
    assert pl.read_parquet(tmp_path / "archive" / "**" / "*.parquet").height == 1


def test_scheduler_starts_and_stops_every_configured_job(store_path, tmp_path):
    with TelemetryWriter(store_path) as writer:
        jobs = TelemetryJobs(writer, LiveStats(), rollup_interval_s=3600, snapshot_interval_s=3600).start()
        assert sorted(jobs.job_ids) == ["telemetry-rollups", "telemetry-snapshot"]
        jobs.shutdown()
        assert jobs.job_ids == []
        jobs = TelemetryJobs(writer, LiveStats(), price_source=dict, archive_dir=tmp_path).start()
        assert len(jobs.job_ids) == 4
        jobs.shutdown()
