"""Request traces to replay, as polars DataFrames with one row per request.

Canonical columns (what `load_trace` returns, sorted by timestamp):

| column | type | meaning |
|---|---|---|
| timestamp | Float64 | arrival, unix seconds (or seconds from the trace start when the source has no date) |
| prompt_tokens | Int64 | prompt size |
| output_tokens | Int64 | tokens the answer will have (ground truth the policy does not see) |
| model | String | requested model slug; "" means "whatever model the world serves" |
| stream | Boolean | streamed request |
| max_tokens | Int64, nullable | requested output cap, visible to the policy |
| has_tools | Boolean | request carries tools |

The generic Parquet/CSV schema is the same: `timestamp` (unix seconds as a number, or an ISO-8601
datetime) and `prompt_tokens`, `output_tokens` are required; `model`, `stream`, `max_tokens`,
`has_tools` are optional and filled with the defaults above. Built-in traces: "azure-code",
"azure-conv" (Azure LLM inference 2023, CC BY 4.0) and "mooncake" (Mooncake conversation,
Apache-2.0), shipped in `data/`. A DuckDB file holding the gateway's `events` table replays the
gateway's own traffic (one row per request, from its first attempt).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

__all__ = ["TRACE_SCHEMA", "BUILTIN_TRACES", "load_trace", "load_builtin_trace", "load_generic_trace",
           "load_telemetry_trace", "rescale_time", "tile_trace"]

TRACE_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Float64(), "prompt_tokens": pl.Int64(), "output_tokens": pl.Int64(), "model": pl.String(),
    "stream": pl.Boolean(), "max_tokens": pl.Int64(), "has_tools": pl.Boolean(),
}
_DATA = Path(__file__).with_name("data")
BUILTIN_TRACES: dict[str, Path] = {
    "azure-code": _DATA / "azure_code_2023.parquet",
    "azure-conv": _DATA / "azure_conv_2023.parquet",
    "mooncake": _DATA / "mooncake_conversation.parquet",
}
_REQUIRED = ("timestamp", "prompt_tokens", "output_tokens")
_DEFAULTS = {"model": "", "stream": False, "max_tokens": None, "has_tools": False}


def load_trace(source: str | Path, limit: int | None = None) -> pl.DataFrame:
    """A built-in trace by name, or a .parquet/.csv (generic schema) or .duckdb (telemetry) file."""
    if str(source) in BUILTIN_TRACES:
        trace = load_builtin_trace(str(source))
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"trace {str(source)!r} is neither a file nor one of {', '.join(BUILTIN_TRACES)}")
        trace = load_telemetry_trace(path) if path.suffix in (".duckdb", ".db") else load_generic_trace(path)
    return trace.head(limit) if limit is not None else trace


def load_builtin_trace(name: str) -> pl.DataFrame:
    try:
        path = BUILTIN_TRACES[name]
    except KeyError:
        raise KeyError(f"unknown trace {name!r}; valid: {', '.join(BUILTIN_TRACES)}") from None
    return _canonical(pl.read_parquet(path))


def load_generic_trace(path: str | Path) -> pl.DataFrame:
    path = Path(path)
    frame = pl.read_csv(path, try_parse_dates=True) if path.suffix == ".csv" else pl.read_parquet(path)
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"trace {path} lacks required column(s) {missing}; required: {list(_REQUIRED)}")
    if frame.schema["timestamp"].is_temporal():
        frame = frame.with_columns(pl.col("timestamp").dt.epoch("us") / 1e6)
    return _canonical(frame)


def load_telemetry_trace(path: str | Path) -> pl.DataFrame:
    """One request per `request_id` from a gateway telemetry DuckDB file (`events` table)."""
    with duckdb.connect(str(path), read_only=True) as connection:
        frame = connection.sql("""
            SELECT min(ts) AS timestamp, any_value(prompt_tokens) AS prompt_tokens,
                   max(completion_tokens) AS output_tokens, any_value(requested_model) AS model,
                   bool_or(stream) AS stream, any_value(max_tokens) AS max_tokens, bool_or(has_tools) AS has_tools,
                   bool_or(error_class IS NULL) AS succeeded
            FROM events GROUP BY request_id
        """).pl()
    # A request that failed everywhere produced no tokens: replay it with the typical answer length.
    typical = frame.filter(pl.col("succeeded"))["output_tokens"].median() or 256
    frame = frame.with_columns(
        pl.when(pl.col("succeeded")).then(pl.col("output_tokens"))
        .otherwise(pl.coalesce("max_tokens", pl.lit(int(typical)))).alias("output_tokens")
    )
    return _canonical(frame.drop("succeeded"))


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    for column, default in _DEFAULTS.items():
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(default, dtype=TRACE_SCHEMA[column]).alias(column))
    frame = frame.select(pl.col(c).cast(t) for c, t in TRACE_SCHEMA.items())
    return frame.with_columns(pl.col("output_tokens").clip(lower_bound=1)).sort("timestamp", maintain_order=True)


def rescale_time(trace: pl.DataFrame, speedup: float) -> pl.DataFrame:
    """Compress (speedup > 1) or stretch (speedup < 1) inter-arrival times around the first arrival."""
    if speedup <= 0:
        raise ValueError(f"speedup must be > 0, got {speedup}")
    start = pl.col("timestamp").min()
    return trace.with_columns(start + (pl.col("timestamp") - start) / speedup)


def tile_trace(trace: pl.DataFrame, n_requests: int) -> pl.DataFrame:
    """Repeat a trace back to back until it has `n_requests` rows (for throughput benchmarks)."""
    span = float(trace["timestamp"].max() - trace["timestamp"].min())
    gap = span / max(trace.height - 1, 1)
    copies = -(-n_requests // trace.height)
    tiles = [trace.with_columns(pl.col("timestamp") + k * (span + gap)) for k in range(copies)]
    return pl.concat(tiles).head(n_requests)
