"""Simulated attempts as the gateway's telemetry events, written to the same DuckDB `events` table.

One row per attempt with exactly `telemetry.events.EVENT_FIELDS` as columns (`source="simulator"`),
built column-wise with polars rather than one `AttemptEvent` object per attempt, so a million-request
replay is logged in seconds. Notebooks, the trace loader and OPE read these files unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import polars as pl

from telemetry.events import EVENT_FIELDS
from telemetry.store import EVENT_SCHEMA, EventStore

from .config import ReplayResult
from .world import ERROR_CLASS_OF_CODE, OK, STATUS_OF_CODE

__all__ = ["events_frame", "write_events"]

SIMULATOR_KEY_ID = "simulator"


def events_frame(result: ReplayResult, trace: pl.DataFrame, run_id: str = "run") -> pl.DataFrame:
    """The attempts of one replay as telemetry events (columns and dtypes of the `events` table)."""
    attempts = result.attempts
    if attempts.height == 0:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    world = result.world
    request_index = attempts["request"].to_numpy()
    requests = trace.select("model", "prompt_tokens", "max_tokens", "stream", "has_tools", "output_tokens")[request_index]
    provider_of = {e.endpoint_id: e.provider for e in world.endpoints}
    model_of = {e.endpoint_id: e.model for e in world.endpoints}
    candidate_sets = pl.Series("candidates", [list(s) for s in result.candidate_sets], dtype=pl.List(pl.String))
    success = pl.col("code") == OK
    prefix = f"sim-{run_id}-{result.policy}-"
    frame = pl.concat([attempts, requests], how="horizontal").with_columns(
        request_id=pl.lit(prefix) + pl.col("request").cast(pl.String),
        generation_id=pl.lit("gen-" + prefix) + pl.col("request").cast(pl.String),
        key_id=pl.lit(SIMULATOR_KEY_ID),
        requested_model=pl.when(pl.col("model") != "").then("model").otherwise(pl.lit(world.endpoints[0].model)),
        served_model=pl.col("endpoint_id").replace_strict(model_of),
        provider=pl.col("endpoint_id").replace_strict(provider_of),
        candidates=candidate_sets.gather(attempts["candidate_set"].to_numpy()),
        policy=pl.lit(result.policy),
        policy_version=pl.lit(result.policy_version),
        completion_tokens=pl.when(success).then("output_tokens").otherwise(0),
        ttft_s=pl.when(success).then("ttft_s"),
        tokens_per_s=pl.when(success & (pl.col("tokens_per_s") > 0)).then("tokens_per_s"),
        status=pl.col("code").replace_strict(STATUS_OF_CODE, return_dtype=pl.Int32),
        error_class=pl.col("code").replace_strict({OK: None, **ERROR_CLASS_OF_CODE}, return_dtype=pl.String),
        is_byok=pl.lit(False),
        source=pl.lit("simulator"),
    )
    return frame.select(pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items())


def write_events(path: str | Path, frames: Iterable[pl.DataFrame]) -> int:
    """Append event frames to the DuckDB file at `path` (created and migrated if new); returns rows written."""
    written = 0
    with EventStore(path) as store:
        for frame in frames:
            assert tuple(frame.columns) == EVENT_FIELDS
            written += store.append_frame(frame)
    return written
