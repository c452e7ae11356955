import duckdb
import polars as pl
import pytest

from policies.simulator.traces import TRACE_SCHEMA, load_trace, rescale_time, tile_trace
from telemetry.events import EVENT_FIELDS


@pytest.mark.parametrize("name, rows, median_output", [("azure-code", 8819, 13), ("azure-conv", 19366, 129),
                                                      ("mooncake", 12031, 350)])
def test_builtin_traces_are_the_real_ones(name, rows, median_output):
    trace = load_trace(name)
    assert trace.schema == pl.Schema(TRACE_SCHEMA)
    assert trace.height == rows
    assert trace["timestamp"].is_sorted()
    assert abs(trace["output_tokens"].median() - median_output) <= 2
    assert 3000 < trace["timestamp"].max() - trace["timestamp"].min() < 3700  # about one hour each


def test_generic_csv_with_iso_timestamps_and_defaults(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,prompt_tokens,output_tokens,stream\n"
                    "2024-01-01T00:00:01,10,5,true\n2024-01-01T00:00:00,20,0,false\n")
    trace = load_trace(path)
    assert trace["prompt_tokens"].to_list() == [20, 10]  # sorted by time
    assert trace["timestamp"][0] == 1704067200.0
    assert trace["output_tokens"].to_list() == [1, 5]  # an answer has at least one token
    assert trace["model"].to_list() == ["", ""] and trace["stream"].to_list() == [False, True]


def test_generic_file_missing_columns_is_named(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame({"timestamp": [1.0], "prompt_tokens": [3]}).write_parquet(path)
    with pytest.raises(ValueError, match="output_tokens"):
        load_trace(path)


def test_gateway_telemetry_becomes_one_row_per_request(tmp_path):
    rows = [  # request a: failed attempt then success; request b: failed everywhere
        dict(request_id="a", ts=10.0, attempt=0, completion_tokens=0, error_class="5xx", max_tokens=None),
        dict(request_id="a", ts=10.5, attempt=1, completion_tokens=42, error_class=None, max_tokens=None),
        dict(request_id="b", ts=11.0, attempt=0, completion_tokens=0, error_class="timeout", max_tokens=64),
    ]
    frame = pl.DataFrame([{**{f: None for f in EVENT_FIELDS}, "prompt_tokens": 7, "requested_model": "m",
                           "stream": True, "has_tools": False, **row} for row in rows])
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in ("endpoint_id", "error_class", "requested_model"))
    path = tmp_path / "telemetry.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.register("frame", frame.to_arrow())
        connection.execute("CREATE TABLE events AS SELECT * FROM frame")
    trace = load_trace(path)
    assert trace.height == 2
    assert trace["timestamp"].to_list() == [10.0, 11.0]
    assert trace["output_tokens"].to_list() == [42, 64]
    assert trace["stream"].all() and trace["model"].to_list() == ["m", "m"]


def test_rescale_and_tile():
    trace = load_trace("azure-conv", limit=100)
    span = trace["timestamp"].max() - trace["timestamp"].min()
    fast = rescale_time(trace, 4.0)
    assert fast["timestamp"].max() - fast["timestamp"].min() == pytest.approx(span / 4)
    assert fast["timestamp"][0] == trace["timestamp"][0]
    tiled = tile_trace(trace, 250)
    assert tiled.height == 250 and tiled["timestamp"].is_sorted()
    with pytest.raises(ValueError):
        rescale_time(trace, 0.0)
