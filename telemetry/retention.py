"""Retention: move raw events older than a cutoff from the hot DuckDB table to Parquet.

Files land in `directory/date=YYYY-MM-DD/events-<uuid>.parquet` (hive partitioning by the UTC day
the attempt started), which DuckDB, polars or a warehouse read back directly:
`pl.scan_parquet("archive/**/*.parquet", hive_partitioning=True)`. Rollup rows are kept.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .store import EventStore

__all__ = ["export_old_events"]


def export_old_events(store: EventStore | duckdb.DuckDBPyConnection, directory: str | Path, before_ts: float) -> int:
    """Export events with ts < before_ts to partitioned Parquet, then delete them; returns the count.

    Export happens before the delete, so a crash in between duplicates rows in the archive rather
    than losing them.
    """
    connection = store.connection if isinstance(store, EventStore) else store
    before_ts = float(before_ts)
    (n_old,) = connection.execute("SELECT count(*) FROM events WHERE ts < $before", {"before": before_ts}).fetchall()[0]
    if not n_old:
        return 0
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    quoted_dir = str(directory).replace("'", "''")
    # COPY takes no bound parameters; before_ts is a float formatted by Python, not user text.
    connection.execute(f"""
        COPY (
            SELECT *, strftime(make_timestamp(CAST(ts * 1e6 AS BIGINT)), '%Y-%m-%d') AS date
            FROM events WHERE ts < {before_ts!r}
        ) TO '{quoted_dir}' (FORMAT parquet, PARTITION_BY (date), APPEND, FILENAME_PATTERN 'events-{{uuid}}')
    """)
    connection.execute("DELETE FROM events WHERE ts < $before", {"before": before_ts})
    return int(n_old)
