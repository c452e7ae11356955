"""Per-endpoint, per-minute rollups of the events table, in DuckDB SQL (all of them live here).

Figures per (endpoint_id, minute): requests (attempts), successes, errors and errors by class, 429s,
TTFT and latency p50/p90/p99 and tokens/s p50 over successful attempts, and uptime as OpenRouter
defines it: successes / (successes + errors), where errors caused by the user, rate limits (429)
and client cancellations do not count (see `telemetry.events.UPTIME_EXCLUDED`).

Incremental: every append lowers `rollup_state.dirty_from` to the oldest event written, so a run
recomputes only the minutes from there on, including late events (streams are logged with their
start time, after they finish). Percentiles cannot be merged across runs, hence whole minutes are
recomputed rather than counts added.
"""
from __future__ import annotations

import duckdb

from .events import ERROR_CLASSES, UPTIME_EXCLUDED
from .store import EventStore

__all__ = ["ROLLUP_SELECT_SQL", "ROLLUP_COLUMNS", "UPTIME_COUNTS_SQL", "update_rollups", "rebuild_rollups"]


def _error_column(error_class: str) -> str:
    return "errors_" + error_class.replace("-", "_")


_ERRORS_BY_CLASS = ",\n        ".join(
    f"count(*) FILTER (WHERE error_class = '{c}') AS {_error_column(c)}" for c in ERROR_CLASSES)
_EXCLUDED = ", ".join(f"'{c}'" for c in UPTIME_EXCLUDED)

# $from_ts is a minute boundary (unix seconds); only events from there on are aggregated.
ROLLUP_SELECT_SQL = f"""
    WITH per_minute AS (
        SELECT
            endpoint_id,
            CAST(floor(ts / 60) AS BIGINT) AS minute_index,  -- cheaper to group on than a timestamp
            count(*) AS requests,
            count(*) FILTER (WHERE error_class IS NULL) AS successes,
            count(error_class) AS errors,
            {_ERRORS_BY_CLASS},
            count(*) FILTER (WHERE error_class IS NOT NULL AND error_class NOT IN ({_EXCLUDED})) AS counted_errors,
            quantile_cont(ttft_s, [0.5, 0.9, 0.99]) FILTER (WHERE error_class IS NULL) AS ttft_q,
            quantile_cont(latency_s, [0.5, 0.9, 0.99]) FILTER (WHERE error_class IS NULL) AS latency_q,
            quantile_cont(tokens_per_s, 0.5) FILTER (WHERE error_class IS NULL) AS tokens_per_s_p50
        FROM events
        WHERE ts >= $from_ts
        GROUP BY ALL
    )
    SELECT
        endpoint_id, make_timestamp(minute_index * 60000000) AS minute, requests, successes, errors,
        {", ".join(_error_column(c) for c in ERROR_CLASSES)},
        ttft_q[1] AS ttft_p50_s, ttft_q[2] AS ttft_p90_s, ttft_q[3] AS ttft_p99_s,
        latency_q[1] AS latency_p50_s, latency_q[2] AS latency_p90_s, latency_q[3] AS latency_p99_s,
        tokens_per_s_p50,
        CASE WHEN successes + counted_errors > 0
             THEN successes / (successes + counted_errors) END AS uptime
    FROM per_minute
"""

ROLLUP_COLUMNS = (
    "endpoint_id", "minute", "requests", "successes", "errors", *(_error_column(c) for c in ERROR_CLASSES),
    "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "latency_p50_s", "latency_p90_s", "latency_p99_s",
    "tokens_per_s_p50", "uptime",
)


# Successes and counted failures per endpoint over whole minutes in [$since, $until) (unix seconds),
# from the rollup: lets the stats rebuild cover a day without rereading a day of raw events.
UPTIME_COUNTS_SQL = f"""
    SELECT endpoint_id, sum(successes) AS successes,
           sum(errors - {" - ".join(_error_column(c) for c in UPTIME_EXCLUDED)}) AS failures
    FROM endpoint_minute
    WHERE minute >= make_timestamp(CAST($since * 1e6 AS BIGINT)) AND minute < make_timestamp(CAST($until * 1e6 AS BIGINT))
    GROUP BY endpoint_id
"""


def _connection(store: EventStore | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    return store.connection if isinstance(store, EventStore) else store


def _recompute_from(connection: duckdb.DuckDBPyConnection, from_ts: float) -> int:
    from_ts = float(from_ts // 60 * 60)
    # No explicit transaction: if this dies half-way, dirty_from is still set and the next run redoes it.
    connection.execute("DELETE FROM endpoint_minute WHERE minute >= make_timestamp(CAST($from_ts * 1e6 AS BIGINT))",
                       {"from_ts": from_ts})
    connection.execute(f"INSERT INTO endpoint_minute ({', '.join(ROLLUP_COLUMNS)}) {ROLLUP_SELECT_SQL}",
                       {"from_ts": from_ts})
    (n_rows,) = connection.execute("SELECT count(*) FROM endpoint_minute WHERE minute >= make_timestamp("
                                   "CAST($from_ts * 1e6 AS BIGINT))", {"from_ts": from_ts}).fetchall()[0]
    return int(n_rows)


def update_rollups(store: EventStore | duckdb.DuckDBPyConnection) -> int:
    """Recompute the minutes touched since the last run; returns the number of minute rows written.

    Run it where events are written (the writer thread, via `TelemetryWriter.call`), so no append
    can slip in between reading and clearing the dirty mark.
    """
    connection = _connection(store)
    (dirty_from,) = connection.execute(
        "SELECT dirty_from FROM rollup_state WHERE name = 'endpoint_minute'").fetchall()[0]
    if dirty_from is None:
        return 0
    n_rows = _recompute_from(connection, dirty_from)
    connection.execute("UPDATE rollup_state SET dirty_from = NULL WHERE name = 'endpoint_minute'")
    return n_rows


def rebuild_rollups(store: EventStore | duckdb.DuckDBPyConnection) -> int:
    """Recompute every minute that still has raw events (after a bulk load or a definition change).

    Minutes whose raw events retention already moved to Parquet keep their rollup rows.
    """
    connection = _connection(store)
    (oldest,) = connection.execute("SELECT min(ts) FROM events").fetchall()[0]
    n_rows = 0 if oldest is None else _recompute_from(connection, oldest)
    connection.execute("UPDATE rollup_state SET dirty_from = NULL WHERE name = 'endpoint_minute'")
    return n_rows
