from __future__ import annotations

import polars as pl

from telemetry.retention import export_old_events
from telemetry.rollups import update_rollups
from telemetry.store import EventStore

from telemetry_testdata import T0  # 2027-01-15 08:00:00 UTC

DAY = 86_400.0


def test_retention_exports_old_events_to_partitions_and_deletes_them(store_path, tmp_path, make_event):
    old = [make_event(ts=T0 - 2 * DAY + i) for i in range(3)] + [make_event(ts=T0 - DAY + i) for i in range(2)]
    recent = [make_event(ts=T0 + i) for i in range(4)]
    archive = tmp_path / "archive"
    with EventStore(store_path) as store:
        store.append(old + recent)
        update_rollups(store)
        assert export_old_events(store, archive, before_ts=T0) == 5
        assert export_old_events(store, archive, before_ts=T0) == 0  # nothing left to move
        remaining = store.query("SELECT request_id FROM events ORDER BY ts")["request_id"].to_list()
        (n_rollup_minutes,) = store.connection.execute("SELECT count(*) FROM endpoint_minute").fetchall()[0]
    assert remaining == [e.request_id for e in recent]
    assert n_rollup_minutes == 3  # rollups outlive the raw rows
    partitions = sorted(p.name for p in archive.iterdir())
    assert partitions == ["date=2027-01-13", "date=2027-01-14"]
    exported = pl.read_parquet(archive / "**" / "*.parquet", hive_partitioning=True)
    assert sorted(exported["request_id"].to_list()) == sorted(e.request_id for e in old)
    assert exported.filter(pl.col("date").cast(pl.String) == "2027-01-13").height == 3
    assert exported["candidates"].to_list()[0] == list(old[0].candidates)


def test_retention_appends_to_an_existing_archive(store_path, tmp_path, make_event):
    archive = tmp_path / "archive"
    with EventStore(store_path) as store:
        store.append([make_event(ts=T0 - DAY)])
        export_old_events(store, archive, before_ts=T0)
        store.append([make_event(ts=T0 - DAY + 60)])
        export_old_events(store, archive, before_ts=T0)
    assert len(list((archive / "date=2027-01-14").glob("*.parquet"))) == 2
    assert pl.read_parquet(archive / "**" / "*.parquet").height == 2
