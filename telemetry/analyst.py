"""Polars frames from a telemetry DuckDB file, for notebooks and the simulator.

Each function opens the file read-only, runs one query and closes it, so analysis never holds a
lock the gateway needs. DuckDB allows a single writing process: while a gateway runs on the file,
read in-process with `TelemetryWriter.read_frame` or work on a copy.

>>> events("var/telemetry.duckdb", since=time.time() - 3600)  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from .events import UPTIME_EXCLUDED
from .store import EventStore

__all__ = ["events", "rollups", "price_history", "endpoint_health"]

_EXCLUDED = ", ".join(f"'{c}'" for c in UPTIME_EXCLUDED)


def _frame(path: str | Path, sql: str, params: dict | None = None) -> pl.DataFrame:
    with EventStore(path, read_only=True) as store:
        return store.query(sql, params)


def _window(column: str, since: float | None, until: float | None) -> tuple[str, dict]:
    return (f"{column} >= coalesce($since, {column}) AND {column} < coalesce($until, {column} + 1)",
            {"since": since, "until": until})


def events(path: str | Path, since: float | None = None, until: float | None = None,
           endpoint_id: str | None = None) -> pl.DataFrame:
    """Raw attempt events (plus `started_at` as a timestamp), ordered by time."""
    condition, params = _window("ts", since, until)
    return _frame(path, f"""
        SELECT * FROM events_v WHERE {condition} AND endpoint_id = coalesce($endpoint_id, endpoint_id)
        ORDER BY ts
    """, {**params, "endpoint_id": endpoint_id})


def rollups(path: str | Path, since: float | None = None, until: float | None = None) -> pl.DataFrame:
    """The per-endpoint, per-minute rollup table (run `update_rollups` first for fresh figures)."""
    condition, params = _window("epoch(minute)", since, until)
    return _frame(path, f"SELECT * FROM endpoint_minute WHERE {condition} ORDER BY minute, endpoint_id", params)


def price_history(path: str | Path, endpoint_id: str | None = None) -> pl.DataFrame:
    """Every price interval, with `valid_to` null for current prices."""
    return _frame(path, """
        SELECT * FROM price_history WHERE endpoint_id = coalesce($endpoint_id, endpoint_id)
        ORDER BY endpoint_id, valid_from
    """, {"endpoint_id": endpoint_id})


def endpoint_health(path: str | Path, since: float | None = None, until: float | None = None) -> pl.DataFrame:
    """One row per endpoint over the window: attempts, errors by class, uptime, latency percentiles."""
    condition, params = _window("ts", since, until)
    return _frame(path, f"""
        SELECT
            endpoint_id,
            count(*) AS attempts,
            count(*) FILTER (WHERE error_class IS NULL) AS successes,
            count(error_class) AS errors,
            count(*) FILTER (WHERE error_class = '429') AS rate_limited,
            count(*) FILTER (WHERE error_class IS NULL) / nullif(count(*) FILTER (
                WHERE error_class IS NULL OR error_class NOT IN ({_EXCLUDED})), 0) AS uptime,
            quantile_cont(ttft_s, [0.5, 0.9, 0.99]) FILTER (WHERE error_class IS NULL) AS ttft_p50_p90_p99_s,
            quantile_cont(latency_s, [0.5, 0.9, 0.99]) FILTER (WHERE error_class IS NULL) AS latency_p50_p90_p99_s,
            median(tokens_per_s) FILTER (WHERE error_class IS NULL) AS tokens_per_s_p50,
            sum(cost) AS cost_usd,
            min(ts) AS first_ts, max(ts) AS last_ts
        FROM events WHERE {condition}
        GROUP BY endpoint_id ORDER BY endpoint_id
    """, params)
