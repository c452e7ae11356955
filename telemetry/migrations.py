"""Numbered one-shot schema migrations for the telemetry DuckDB file.

Each migration runs once, in order, inside its own transaction, and is recorded in
`schema_version`; `migrate()` is therefore idempotent and safe to call on every open. Never edit a
migration that has shipped: append a new one. The `events` columns follow
`telemetry.events.EVENT_FIELDS` in order (a test checks it), so new event fields need a new
migration adding the column at the end.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

__all__ = ["Migration", "MIGRATIONS", "current_version", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events: one row per attempt (decision + outcome)", """
        CREATE TABLE events (
            request_id VARCHAR NOT NULL,
            generation_id VARCHAR NOT NULL,
            ts DOUBLE NOT NULL,
            key_id VARCHAR,
            requested_model VARCHAR,
            served_model VARCHAR,
            endpoint_id VARCHAR NOT NULL,
            provider VARCHAR,
            attempt INTEGER NOT NULL,
            candidates VARCHAR[],
            policy VARCHAR,
            policy_version VARCHAR,
            propensity DOUBLE,
            prompt_tokens INTEGER,
            max_tokens INTEGER,
            stream BOOLEAN,
            has_tools BOOLEAN,
            completion_tokens INTEGER,
            ttft_s DOUBLE,
            latency_s DOUBLE,
            tokens_per_s DOUBLE,
            status INTEGER,
            error_class VARCHAR,
            prompt_price DOUBLE,
            completion_price DOUBLE,
            cost DOUBLE,
            is_byok BOOLEAN,
            source VARCHAR
        );
        -- Analysts want a real timestamp; ts stays DOUBLE unix seconds for cheap arithmetic.
        CREATE VIEW events_v AS
            SELECT *, make_timestamp(CAST(ts * 1e6 AS BIGINT)) AS started_at FROM events;
    """),
    Migration(2, "price_history: each endpoint's prices with validity intervals", """
        CREATE TABLE price_history (
            endpoint_id VARCHAR NOT NULL,
            prompt_price DOUBLE NOT NULL,
            completion_price DOUBLE NOT NULL,
            request_price DOUBLE NOT NULL,
            valid_from DOUBLE NOT NULL,
            valid_to DOUBLE  -- NULL while the price is current
        );
    """),
    Migration(3, "endpoint_minute rollup and its dirty-range bookkeeping", """
        CREATE TABLE endpoint_minute (
            endpoint_id VARCHAR NOT NULL,
            minute TIMESTAMP NOT NULL,
            requests BIGINT NOT NULL,
            successes BIGINT NOT NULL,
            errors BIGINT NOT NULL,
            errors_timeout BIGINT NOT NULL,
            errors_connect BIGINT NOT NULL,
            errors_429 BIGINT NOT NULL,
            errors_5xx BIGINT NOT NULL,
            errors_bad_response BIGINT NOT NULL,
            errors_mid_stream BIGINT NOT NULL,
            errors_client_cancel BIGINT NOT NULL,
            errors_user BIGINT NOT NULL,
            ttft_p50_s DOUBLE, ttft_p90_s DOUBLE, ttft_p99_s DOUBLE,
            latency_p50_s DOUBLE, latency_p90_s DOUBLE, latency_p99_s DOUBLE,
            tokens_per_s_p50 DOUBLE,
            uptime DOUBLE,
            PRIMARY KEY (endpoint_id, minute)
        );
        -- Lowest event ts appended since the last rollup run (NULL = nothing to do). Appends lower
        -- it, so late events (long streams are logged with their start time) are never missed.
        CREATE TABLE rollup_state (name VARCHAR PRIMARY KEY, dirty_from DOUBLE);
        INSERT INTO rollup_state VALUES ('endpoint_minute', NULL);
    """),
)


def current_version(connection: duckdb.DuckDBPyConnection) -> int:
    connection.execute("""
        CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)
    """)
    (version,) = connection.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0]
    return int(version)


def migrate(connection: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration; returns the versions applied now (empty when up to date)."""
    applied = []
    version = current_version(connection)
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute(migration.sql)
            connection.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)",
                               [migration.version, migration.description])
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
