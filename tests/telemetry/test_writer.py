from __future__ import annotations

import threading
import time

import pytest

from telemetry.store import EventStore
from telemetry.writer import TelemetryWriter


def test_stop_flushes_everything_queued(store_path, make_event):
    events = [make_event(endpoint_id=f"ep-{i % 5}") for i in range(12_345)]
    writer = TelemetryWriter(store_path, batch_size=1_000, flush_interval_s=5.0).start()
    assert all(writer.record(event) for event in events)
    writer.stop()
    assert writer.written == len(events) and writer.dropped == 0 and writer.queue_depth == 0
    with EventStore(store_path) as store:
        ids = store.query("SELECT request_id FROM events")["request_id"].to_list()
    assert sorted(ids) == sorted(e.request_id for e in events)


def test_full_queue_counts_drops_and_keeps_the_rest(store_path, make_event):
    writer = TelemetryWriter(store_path, max_queue=10)  # not started: nothing drains the queue
    accepted = [writer.record(make_event()) for _ in range(15)]
    assert accepted == [True] * 10 + [False] * 5
    assert writer.dropped == 5 and writer.queue_depth == 10
    writer.start()
    writer.stop()
    assert writer.written == 10
    assert writer.record(make_event()) is False  # after stop: refused and counted, never silently lost
    assert writer.dropped == 6
    with EventStore(store_path) as store:
        assert store.query("SELECT count(*) AS n FROM events")["n"][0] == 10


def test_flush_read_frame_and_call_run_while_writer_is_live(store_path, make_event):
    with TelemetryWriter(store_path, flush_interval_s=10.0) as writer:
        for _ in range(3):
            writer.record(make_event(endpoint_id="alpha/x"))
        writer.flush()
        frame = writer.read_frame("SELECT count(*) AS n FROM events WHERE endpoint_id = $e", {"e": "alpha/x"})
        assert frame["n"][0] == 3
        assert writer.call(lambda store: threading.current_thread().name) == "telemetry-writer"
        with pytest.raises(ZeroDivisionError):
            writer.call(lambda store: 1 / 0)
        assert writer.running  # a failing task does not kill the writer
    assert not writer.running
    with pytest.raises(RuntimeError):
        writer.read_frame("SELECT 1")


def test_reopened_writer_appends_to_existing_data(store_path, make_event):
    with TelemetryWriter(store_path) as writer:
        writer.record(make_event())
    with TelemetryWriter(store_path) as writer:
        writer.record(make_event())
        writer.flush()
        assert writer.read_frame("SELECT count(*) AS n FROM events")["n"][0] == 2


def test_stop_without_start_still_writes_queued_events(store_path, make_event):
    writer = TelemetryWriter(store_path)
    writer.record(make_event())
    writer.stop()
    assert writer.written == 1
    with EventStore(store_path) as store:
        assert store.query("SELECT count(*) AS n FROM events")["n"][0] == 1


def test_a_batch_that_cannot_be_inserted_is_counted_not_fatal(store_path, make_event):
    with TelemetryWriter(store_path) as writer:
        writer.record(make_event(attempt="not-a-number"))
        writer.flush()
        assert (writer.failed, writer.written) == (1, 0)
        writer.record(make_event())
        writer.flush()
        assert (writer.failed, writer.written) == (1, 1)


def test_one_bad_event_loses_only_its_chunk_of_a_large_drain(store_path, make_event):
    # Stopped writer: all 12,000 events are drained at once, as one transaction of three 5k chunks.
    writer = TelemetryWriter(store_path, max_queue=20_000)
    events = [make_event() for _ in range(12_000)]
    events[7_000] = make_event(request_id=None)  # passes the Arrow conversion, violates NOT NULL in DuckDB
    events[11_000] = make_event(attempt="not-a-number")  # fails the Arrow conversion
    assert all(writer.record(event) for event in events)
    writer.stop()
    assert (writer.written, writer.failed) == (5_000, 7_000)  # chunk 0 kept; chunks 1 and 2 (5k + 2k) lost
    with EventStore(store_path) as store:
        ids = store.query("SELECT request_id FROM events")["request_id"].to_list()
    assert sorted(ids) == sorted(e.request_id for e in events[:5_000])


def test_batch_size_caps_the_events_per_transaction_without_losing_any(store_path, make_event):
    writer = TelemetryWriter(store_path, batch_size=1_500)
    events = [make_event() for _ in range(4_000)]
    for event in events:
        writer.record(event)
    writer.stop()
    assert (writer.written, writer.failed) == (4_000, 0)
    with EventStore(store_path) as store:
        assert store.query("SELECT count(DISTINCT request_id) AS n FROM events")["n"][0] == 4_000


def test_a_backlog_is_written_without_waiting_for_the_next_tick(store_path, make_event):
    events = [make_event() for _ in range(6_000)]
    with TelemetryWriter(store_path, flush_interval_s=60.0) as writer:
        writer.call(lambda store: [writer.record(event) for event in events])  # a backlog builds while it is busy
        deadline = time.monotonic() + 20.0  # far below the 60 s tick
        while writer.written < len(events) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.written == len(events)
