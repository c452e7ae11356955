"""History = rolled-up minutes + minutes not rolled up yet, and both parts agree with a full rollup."""
from __future__ import annotations

import polars as pl
import pytest

from router.marketplace import endpoint_history
from telemetry.rollups import update_rollups
from telemetry.synthetic import synthetic_events_frame
from telemetry.writer import TelemetryWriter

START = 1_800_000_000.0  # a minute boundary
WANTED = ["provider-0/model-0", "provider-1/model-0"]
COLUMNS = ["endpoint_id", "t", "requests", "errors", "ttft_p50_s", "latency_p50_s", "tokens_per_s_p50", "uptime"]


@pytest.fixture
def writer(tmp_path):
    with TelemetryWriter(tmp_path / "telemetry.duckdb") as running:
        yield running


def events(start: float, minutes: int, seed: int) -> pl.DataFrame:
    return synthetic_events_frame(300 * minutes, start_ts=start, duration_s=60.0 * minutes, n_endpoints=4,
                                  error_rate=0.1, seed=seed)


def rolled_up(writer: TelemetryWriter, since: float, until: float) -> pl.DataFrame:
    writer.call(update_rollups)
    return writer.read_frame(f"""
        SELECT {', '.join(COLUMNS).replace(' t,', ' epoch(minute) AS t,')} FROM endpoint_minute
        WHERE list_contains($ids, endpoint_id) AND epoch(minute) >= $since AND epoch(minute) < $until
        ORDER BY endpoint_id, t""", {"ids": WANTED, "since": since, "until": until})


def test_fresh_minutes_come_from_raw_events_and_match_the_rollup(writer):
    writer.call(lambda store: (store.append_frame(events(START, 20, seed=1)), update_rollups(store)))
    writer.call(lambda store: store.append_frame(events(START + 20 * 60, 10, seed=2)))  # not rolled up yet
    since, until = START + 5 * 60, START + 30 * 60
    history = endpoint_history(writer, WANTED, since, until)
    assert set(history["endpoint_id"]) == set(WANTED)
    assert history["t"].min() == since and history["t"].max() == until - 60
    assert history.filter(pl.col("t") >= START + 20 * 60).height == 2 * 10  # the fresh part is there
    expected = rolled_up(writer, since, until)
    assert history.select(COLUMNS).equals(expected.select(COLUMNS).cast(history.select(COLUMNS).schema))


def test_window_start_is_rounded_down_to_its_minute_and_an_empty_store_gives_no_rows(writer):
    assert endpoint_history(writer, WANTED, START, START + 600).height == 0
    writer.call(lambda store: store.append_frame(events(START, 5, seed=3)))
    history = endpoint_history(writer, WANTED, START + 90, START + 180)
    assert sorted(set(history["t"])) == [START + 60, START + 120]
