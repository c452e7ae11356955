from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from telemetry.events import EVENT_FIELDS
from telemetry.migrations import MIGRATIONS, migrate
from telemetry.store import EVENT_ARROW_SCHEMA, EventStore, events_arrow, events_frame
from telemetry.synthetic import synthetic_events_frame


def test_events_table_columns_follow_event_fields(store_path):
    with EventStore(store_path) as store:
        columns = [row[0] for row in store.connection.execute("DESCRIBE events").fetchall()]
    assert tuple(columns) == EVENT_FIELDS


def test_events_are_written_exactly(store_path, make_event):
    events = [make_event(), make_event(error_class="5xx", status=502, ttft_s=None, latency_s=0.4, tokens_per_s=None,
                                        completion_tokens=0, cost=0.0, max_tokens=None, candidates=("beta/x",)),
              make_event(attempt=1, is_byok=True, has_tools=True, stream=False, source="simulator")]
    with EventStore(store_path) as store:
        assert store.append(events) == 3
        stored = store.query("SELECT * FROM events ORDER BY request_id")
    expected = events_frame(events).sort("request_id")
    assert stored.schema == expected.schema
    assert stored.to_dicts() == expected.to_dicts()
    assert stored["candidates"].to_list()[1] == ["beta/x"]
    assert stored["max_tokens"].to_list()[1] is None


def test_batch_insert_is_one_statement_per_batch(store_path, make_event):
    events = [make_event(endpoint_id=f"ep-{i % 3}") for i in range(12_000)]
    with EventStore(store_path) as store:
        assert store.append(events[:7000]) == 7000
        assert store.append(events[7000:]) == 5000
        assert store.append([]) == 0
        counts = dict(store.connection.execute("SELECT endpoint_id, count(*) FROM events GROUP BY 1").fetchall())
        (dirty_from,) = store.connection.execute("SELECT dirty_from FROM rollup_state").fetchall()[0]
    assert counts == {"ep-0": 4000, "ep-1": 4000, "ep-2": 4000}
    assert dirty_from == min(e.ts for e in events)


def test_reopened_database_keeps_all_data(store_path, make_event):
    events = [make_event() for _ in range(250)]
    with EventStore(store_path) as store:
        store.append(events)
    with EventStore(store_path) as store:
        store.append([make_event()])
        ids = store.connection.execute("SELECT request_id FROM events").fetchall()
    assert {i for (i,) in ids} == {e.request_id for e in events} | {"req-250"}
    with EventStore(store_path, read_only=True) as reader:
        (count,) = reader.connection.execute("SELECT count(*) FROM events").fetchall()[0]
    assert count == 251


def test_migrations_are_idempotent(store_path):
    connection = duckdb.connect(str(store_path))
    assert migrate(connection) == [m.version for m in MIGRATIONS]
    assert migrate(connection) == []
    versions = connection.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
    connection.close()
    with EventStore(store_path) as store:  # opening again must not re-run anything
        (n_rollup_state,) = store.connection.execute("SELECT count(*) FROM rollup_state").fetchall()[0]
    assert n_rollup_state == 1


def test_events_arrow_matches_the_column_by_column_conversion_across_chunks(make_event):
    # 5,000 events span three internal conversion chunks; vary nulls and list lengths across them.
    events = [make_event(ttft_s=None if i % 7 == 0 else 0.1 * i, max_tokens=None if i % 3 == 0 else i,
                         error_class="timeout" if i % 11 == 0 else None, candidates=tuple(f"ep-{j}" for j in range(i % 4)),
                         stream=i % 2 == 0, propensity=1.0 / (1 + i)) for i in range(5_000)]
    table = events_arrow(events)
    assert table.schema == EVENT_ARROW_SCHEMA and table.num_rows == 5_000
    by_column = pa.Table.from_pydict({name: [getattr(e, name) for e in events] for name in EVENT_ARROW_SCHEMA.names},
                                     schema=EVENT_ARROW_SCHEMA)
    assert table.combine_chunks().equals(by_column)
    assert events_arrow([]).schema == EVENT_ARROW_SCHEMA and events_arrow([]).num_rows == 0


def test_a_wrongly_typed_field_fails_the_conversion(make_event):
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        events_arrow([make_event(), make_event(prompt_tokens="many")])


def test_append_arrow_inserts_and_marks_the_rollup_dirty(store_path, make_event):
    events = [make_event(ts=1_000.0 + i) for i in range(10)]
    with EventStore(store_path) as store:
        assert store.append_arrow(events_arrow(events[5:])) == 5
        assert store.append_arrow(events_arrow(events[:5])) == 5  # older events lower the dirty mark
        assert store.append_arrow(events_arrow([])) == 0
        reordered = events_arrow(events).select(list(reversed(EVENT_ARROW_SCHEMA.names)))
        with pytest.raises(ValueError, match="EVENT_ARROW_SCHEMA"):
            store.append_arrow(reordered)
        stored = store.query("SELECT * FROM events ORDER BY ts")
        (dirty_from,) = store.connection.execute("SELECT dirty_from FROM rollup_state").fetchall()[0]
    assert stored.to_dicts() == events_frame(events).to_dicts()
    assert dirty_from == 1_000.0


def test_a_failed_insert_leaves_nothing_behind(store_path, make_event):
    with EventStore(store_path) as store:
        store.append([make_event()])
        with pytest.raises(duckdb.ConstraintException):
            store.append([make_event(ts=1.0), make_event(request_id=None)])  # NOT NULL request_id
        (count,) = store.connection.execute("SELECT count(*) FROM events").fetchall()[0]
        (dirty_from,) = store.connection.execute("SELECT dirty_from FROM rollup_state").fetchall()[0]
        store.append([make_event()])  # the connection is usable again (no transaction left open)
    assert count == 1 and dirty_from != 1.0


def test_batches_above_a_row_group_take_the_parallel_insert_path_intact(store_path):
    frame = synthetic_events_frame(130_000, n_endpoints=5)  # > 122,880 rows: DuckDB's Batch Insert
    with EventStore(store_path) as store:
        assert store.append_frame(frame) == 130_000
        assert store.append_frame(frame.head(10)) == 10  # small batch: serial Insert
        stored = store.query("SELECT count(*) AS n, sum(completion_tokens) AS tokens, min(ts) AS oldest FROM events")
    assert stored["n"][0] == 130_010
    assert stored["tokens"][0] == frame["completion_tokens"].sum() + frame.head(10)["completion_tokens"].sum()
    assert stored["oldest"][0] == frame["ts"].min()
