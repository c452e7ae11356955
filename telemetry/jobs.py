"""Scheduled telemetry jobs (APScheduler 3, in-process), started and stopped with the app.

- rollups: `update_rollups` on the writer thread, every `rollup_interval_s`;
- snapshot: rebuild the routing stats baseline from the store and merge it into `LiveStats`;
- prices: ask the caller-supplied `price_source()` for current prices and record changes;
- retention: move raw events older than `retention_days` to partitioned Parquet.

Every job is also a public method, so tests and CLI commands run them directly with no timing.
Writes go through `TelemetryWriter.call`, so the writer thread stays the only writer.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping

from apscheduler.schedulers.background import BackgroundScheduler

from .prices import PriceTriple, record_prices
from .retention import export_old_events
from .rollups import UPTIME_COUNTS_SQL, update_rollups
from .snapshot import ONE_DAY_S, SNAPSHOT_COLUMNS, THIRTY_MINUTES_S, LiveStats, build_snapshot
from .writer import TelemetryWriter

__all__ = ["TelemetryJobs"]


_SNAPSHOT_SQL = f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM events WHERE ts >= $since AND ts <= $now"


class TelemetryJobs:
    def __init__(self, writer: TelemetryWriter, live_stats: LiveStats, *,
                 price_source: Callable[[], Mapping[str, PriceTriple]] | None = None,
                 archive_dir: str | Path | None = None, retention_days: float = 30.0,
                 rollup_interval_s: float = 60.0, snapshot_interval_s: float = 30.0,
                 price_interval_s: float = 300.0, retention_interval_s: float = 3_600.0,
                 clock: Callable[[], float] = time.time):
        self.writer = writer
        self.live_stats = live_stats
        self.price_source = price_source
        self.archive_dir = archive_dir
        self.retention_days = retention_days
        self.intervals = {"rollups": rollup_interval_s, "snapshot": snapshot_interval_s,
                          "prices": price_interval_s, "retention": retention_interval_s}
        self.clock = clock
        self._scheduler: BackgroundScheduler | None = None

    # -- the jobs -----------------------------------------------------------------------------
    def run_rollups(self) -> int:
        return self.writer.call(update_rollups)

    def rebuild_snapshot(self) -> int:
        """Rebuild the stats baseline; returns the number of endpoints.

        Raw events cover the last 30 minutes (from a minute boundary); the rest of the day's uptime
        counts come from the rollup, which the rollup job keeps complete for minutes that old.
        """
        now = self.clock()
        self.writer.flush()  # everything finished before `now` is then in the store
        boundary = (now - THIRTY_MINUTES_S) // 60 * 60
        frame = self.writer.read_frame(_SNAPSHOT_SQL, {"since": boundary, "now": now})
        earlier = self.writer.read_frame(UPTIME_COUNTS_SQL, {"since": now - ONE_DAY_S, "until": boundary})
        baseline = build_snapshot(frame, now, earlier_counts=earlier)
        self.live_stats.merge_baseline(baseline, now)
        return len(baseline)

    def refresh_prices(self) -> int:
        if self.price_source is None:
            return 0
        prices = self.price_source()
        now = self.clock()
        return self.writer.call(lambda store: record_prices(store, prices, now))

    def run_retention(self) -> int:
        if self.archive_dir is None:
            return 0
        cutoff = self.clock() - self.retention_days * ONE_DAY_S
        return self.writer.call(lambda store: export_old_events(store, self.archive_dir, cutoff))

    # -- scheduling ---------------------------------------------------------------------------
    def start(self) -> TelemetryJobs:
        scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1}, timezone="UTC")
        jobs = {"rollups": self.run_rollups, "snapshot": self.rebuild_snapshot}
        if self.price_source is not None:
            jobs["prices"] = self.refresh_prices
        if self.archive_dir is not None:
            jobs["retention"] = self.run_retention
        for name, job in jobs.items():
            scheduler.add_job(job, "interval", seconds=self.intervals[name], id=f"telemetry-{name}",
                              name=f"telemetry {name}")
        scheduler.start()
        self._scheduler = scheduler
        return self

    def add_interval_job(self, name: str, job: Callable[[], object], seconds: float) -> None:
        """Schedule another job (e.g. the router's policy refit) on the same in-process scheduler."""
        if self._scheduler is None:
            raise RuntimeError("start() the jobs before adding one")
        self._scheduler.add_job(job, "interval", seconds=seconds, id=name, name=name)

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let a running job finish. Call before `writer.stop()`."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    @property
    def job_ids(self) -> list[str]:
        return [] if self._scheduler is None else [job.id for job in self._scheduler.get_jobs()]
