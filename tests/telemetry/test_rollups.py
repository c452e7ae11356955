from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from telemetry.rollups import ROLLUP_COLUMNS, rebuild_rollups, update_rollups
from telemetry.store import EventStore

from telemetry_testdata import T0

# (endpoint, seconds after T0, error class, ttft, latency, tokens/s); T0 is a minute boundary.
ROWS = [
    ("a", 1, None, 0.2, 1.0, 40.0), ("a", 5, None, 0.4, 2.0, 50.0), ("a", 9, None, 0.9, 3.5, 70.0),
    ("a", 20, "5xx", None, 0.3, None), ("a", 30, "429", None, 0.1, None), ("a", 40, "user", None, 0.1, None),
    ("a", 61, None, 0.3, 1.5, 55.0), ("a", 70, "timeout", None, 30.0, None),
    ("b", 2, "connect", None, None, None), ("b", 3, "client-cancel", None, 4.0, None),
    ("b", 65, None, 0.5, 2.5, 35.0), ("b", 66, None, 0.7, 2.9, 30.0), ("b", 67, "mid-stream", 0.6, 5.0, None),
]


def events_for(make_event, rows):
    return [make_event(endpoint_id=e, ts=T0 + dt, error_class=err, ttft_s=ttft, latency_s=lat, tokens_per_s=tps)
            for e, dt, err, ttft, lat, tps in rows]


def expected_rollup(events) -> pl.DataFrame:
    """The rollup computed independently with polars, straight from the definition."""
    frame = pl.DataFrame([{"endpoint_id": e.endpoint_id, "ts": e.ts, "error_class": e.error_class, "ttft_s": e.ttft_s,
                           "latency_s": e.latency_s, "tokens_per_s": e.tokens_per_s} for e in events])
    ok = pl.col("error_class").is_null()
    classes = {"timeout": "errors_timeout", "connect": "errors_connect", "429": "errors_429", "5xx": "errors_5xx",
               "bad-response": "errors_bad_response", "mid-stream": "errors_mid_stream",
               "client-cancel": "errors_client_cancel", "user": "errors_user"}
    counted = pl.col("error_class").is_not_null() & ~pl.col("error_class").is_in(["user", "429", "client-cancel"])
    return (
        frame.with_columns(minute=pl.from_epoch((pl.col("ts") // 60 * 60).cast(pl.Int64), time_unit="s"))
        .group_by("endpoint_id", "minute")
        .agg(
            pl.len().alias("requests"), ok.sum().alias("successes"), pl.col("error_class").is_not_null().sum().alias("errors"),
            *[(pl.col("error_class") == c).sum().alias(name) for c, name in classes.items()],
            *[pl.col(m).filter(ok).quantile(q, "linear").alias(f"{m}_p{int(q * 100)}")
              for m in ("ttft_s", "latency_s") for q in (0.5, 0.9, 0.99)],
            pl.col("tokens_per_s").filter(ok).quantile(0.5, "linear").alias("tokens_per_s_p50"),
            (ok.sum() / (ok | counted).sum()).alias("uptime"),
        )
        .rename({f"{m}_p{p}": f"{m.removesuffix('_s')}_p{p}_s" for m in ("ttft_s", "latency_s") for p in (50, 90, 99)})
        .select(ROLLUP_COLUMNS)
        .sort("endpoint_id", "minute")
    )


def stored_rollup(store) -> pl.DataFrame:
    return store.query("SELECT * FROM endpoint_minute ORDER BY endpoint_id, minute").select(ROLLUP_COLUMNS)


def assert_frames_close(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.columns == expected.columns and actual.height == expected.height
    for left, right in zip(actual.iter_rows(named=True), expected.iter_rows(named=True)):
        for column, value in right.items():
            if isinstance(value, float):
                assert left[column] == pytest.approx(value), column
            else:
                assert left[column] == value, column


def test_rollup_matches_hand_computed_frame(store_path, make_event):
    events = events_for(make_event, ROWS)
    with EventStore(store_path) as store:
        store.append(events)
        assert update_rollups(store) == 4
        actual = stored_rollup(store)
    expected = expected_rollup(events)
    assert_frames_close(actual, expected)
    first = actual.row(0, named=True)  # endpoint a, first minute, checked by hand as well
    assert first["minute"] == datetime.fromtimestamp(T0, timezone.utc).replace(tzinfo=None)
    assert (first["requests"], first["successes"], first["errors"], first["errors_429"]) == (6, 3, 3, 1)
    assert first["uptime"] == pytest.approx(3 / 4)  # the 429 and the user error do not count
    assert first["latency_p50_s"] == pytest.approx(2.0)
    assert actual.filter(pl.col("endpoint_id") == "b")["uptime"].to_list()[0] == 0.0  # connect failure only


def test_rollup_is_incremental_and_takes_late_events(store_path, make_event):
    events = events_for(make_event, ROWS)
    with EventStore(store_path) as store:
        store.append(events[:8])
        update_rollups(store)
        assert update_rollups(store) == 0  # nothing new
        late = events_for(make_event, [("a", 10, "5xx", None, 1.0, None)])  # lands in the first minute
        store.append(events[8:] + late)
        update_rollups(store)
        incremental = stored_rollup(store)
        rebuild_rollups(store)
        rebuilt = stored_rollup(store)
    assert_frames_close(incremental, expected_rollup(events + late))
    assert_frames_close(rebuilt, incremental)
