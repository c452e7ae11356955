"""The DuckDB file that holds every attempt event, price observation and rollup.

Events go in as whole batches: a list of `AttemptEvent` becomes one Arrow table (`events_arrow`) and
one `INSERT ... SELECT` in one transaction, never one statement per row. Not thread-safe by itself:
in the gateway a single `TelemetryWriter` thread owns the store; readers in the same process use
cursors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .events import EVENT_FIELDS, AttemptEvent
from .migrations import migrate

__all__ = ["DEFAULT_STORE_PATH", "EVENT_ARROW_SCHEMA", "EVENT_SCHEMA", "EventStore", "events_arrow", "events_frame",
           "query_frame"]

DEFAULT_STORE_PATH = Path("var") / "telemetry.duckdb"

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String, "generation_id": pl.String, "ts": pl.Float64, "key_id": pl.String,
    "requested_model": pl.String, "served_model": pl.String, "endpoint_id": pl.String,
    "provider": pl.String, "attempt": pl.Int32, "candidates": pl.List(pl.String), "policy": pl.String,
    "policy_version": pl.String, "propensity": pl.Float64, "prompt_tokens": pl.Int32,
    "max_tokens": pl.Int32, "stream": pl.Boolean, "has_tools": pl.Boolean,
    "completion_tokens": pl.Int32, "ttft_s": pl.Float64, "latency_s": pl.Float64,
    "tokens_per_s": pl.Float64, "status": pl.Int32, "error_class": pl.String,
    "prompt_price": pl.Float64, "completion_price": pl.Float64, "cost": pl.Float64,
    "is_byok": pl.Boolean, "source": pl.String,
}
assert tuple(EVENT_SCHEMA) == EVENT_FIELDS, "EVENT_SCHEMA must list EVENT_FIELDS in order"

_CANDIDATES_ARROW = pa.list_(pa.string())
_ARROW_TYPES = {pl.String: pa.string(), pl.Float64: pa.float64(), pl.Int32: pa.int32(), pl.Boolean: pa.bool_()}
EVENT_ARROW_SCHEMA = pa.schema([pa.field(name, _CANDIDATES_ARROW if name == "candidates" else _ARROW_TYPES[dtype])
                                for name, dtype in EVENT_SCHEMA.items()])
_EVENT_STRUCT = pa.struct(list(EVENT_ARROW_SCHEMA))
# Reads every field of each event into a row tuple. Generated from EVENT_FIELDS (as namedtuple and
# dataclasses generate their methods) because a comprehension with literal attribute names lets
# CPython specialise each slot read: 0.39 us per event, against 0.67 for attrgetter(*EVENT_FIELDS).
_event_rows = eval(f"lambda events: [({''.join(f'event.{name}, ' for name in EVENT_FIELDS)}) for event in events]")
# Rows are converted 2048 at a time: the tuples of a chunk stay in CPU cache, which keeps the cost per
# event flat for large batches (one pass over 120k events was ~1.8x slower per event), and each
# conversion holds the GIL for ~2 ms at most, less than the interpreter's 5 ms switch interval.
_CHUNK_ROWS = 2_048
_ROW_GROUP_ROWS = 122_880  # DuckDB's default row group size


def events_arrow(events: Sequence[AttemptEvent]) -> pa.Table:
    """An Arrow table with one row per event and exactly the `events` table's columns and types.

    Each event is read in one pass (all fields at once, as a tuple) and converted as an Arrow
    struct: ~30% cheaper than 28 column passes at 5k events and ~50% at 120k.
    """
    if not events:
        return EVENT_ARROW_SCHEMA.empty_table()
    return pa.Table.from_batches(
        [pa.RecordBatch.from_struct_array(pa.array(_event_rows(events[start:start + _CHUNK_ROWS]), _EVENT_STRUCT))
         for start in range(0, len(events), _CHUNK_ROWS)], schema=EVENT_ARROW_SCHEMA)


def events_frame(events: Sequence[AttemptEvent]) -> pl.DataFrame:
    """A polars frame with one row per event and exactly the `events` table's columns."""
    if not events:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    return pl.from_arrow(events_arrow(events), rechunk=True)


def query_frame(connection: duckdb.DuckDBPyConnection, sql: str, params: Sequence | Mapping | None = None) -> pl.DataFrame:
    """Run one query and return its result as a polars frame (via Arrow)."""
    return connection.sql(sql, params=params).pl()


class EventStore:
    """Owns one DuckDB connection to the telemetry file; applies migrations on open."""

    def __init__(self, path: str | Path = DEFAULT_STORE_PATH, *, read_only: bool = False):
        self.path = str(path)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            migrate(self._connection)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._connection

    def append(self, events: Sequence[AttemptEvent]) -> int:
        """Insert a batch of events in one statement; returns the number of rows written."""
        return self.append_arrow(events_arrow(events)) if events else 0

    def append_arrow(self, batch: pa.Table) -> int:
        """Insert an Arrow table with exactly `EVENT_ARROW_SCHEMA` (see `events_arrow`), in one transaction."""
        if not batch.schema.equals(EVENT_ARROW_SCHEMA):  # INSERT ... SELECT * matches columns by position
            raise ValueError(f"append_arrow needs EVENT_ARROW_SCHEMA (build the table with events_arrow), got {batch.schema}")
        if batch.num_rows == 0:
            return 0
        return self._insert(batch, pc.min(batch["ts"]).as_py())

    def append_frame(self, frame: pl.DataFrame) -> int:
        """Insert a frame with the `events` columns (in any order, e.g. from the simulator)."""
        if frame.height == 0:
            return 0
        batch = frame.select([pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items()]).to_arrow()
        return self._insert(batch, frame["ts"].min())

    def _insert(self, batch: pa.Table, oldest: float) -> int:
        connection = self._connection
        _event_batch = batch  # found by DuckDB's replacement scan: register()/unregister() cost ~0.5 ms per batch
        connection.execute("BEGIN TRANSACTION")
        try:
            if batch.num_rows < _ROW_GROUP_ROWS:
                # RETURNING makes DuckDB plan a serial Insert rather than the Batch Insert it picks when
                # it has several threads: below a row group, Batch Insert's extra row collections cost
                # ~0.4 us/event (at 5k rows); from there on it writes row groups in parallel (2x faster
                # at 1M rows). fetchnumpy() drains the returned zeros as one array, the cheapest way to
                # finish the statement on every DuckDB version.
                connection.execute("INSERT INTO events SELECT * FROM _event_batch RETURNING 0").fetchnumpy()
            else:
                connection.execute("INSERT INTO events SELECT * FROM _event_batch")
            # Mark the rollup dirty from the oldest event just written (see telemetry.rollups).
            connection.execute(
                "UPDATE rollup_state SET dirty_from = least(coalesce(dirty_from, $oldest), $oldest)",
                {"oldest": oldest})
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return batch.num_rows

    def query(self, sql: str, params: Sequence | Mapping | None = None) -> pl.DataFrame:
        return query_frame(self._connection, sql, params)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
