"""Synthetic attempt events, generated column-wise, for benchmarks, demos and notebook smoke runs.

Not a world model (that is `policies.simulator`): just plausible-looking rows with the exact
`events` schema, fast enough to produce ten million of them in seconds.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from .events import AttemptEvent, ERROR_CLASSES
from .store import EVENT_SCHEMA

__all__ = ["synthetic_events_frame", "synthetic_events"]


def synthetic_events_frame(n_events: int, *, start_ts: float = 1_800_000_000.0, duration_s: float = 86_400.0,
                           n_endpoints: int = 40, error_rate: float = 0.05, seed: int = 0) -> pl.DataFrame:
    """`n_events` attempts spread uniformly over [start_ts, start_ts + duration_s), ordered by ts."""
    rng = np.random.default_rng(seed)
    endpoint_names = np.array([f"provider-{i % 8}/model-{i // 8}" for i in range(n_endpoints)])
    endpoint_index = rng.integers(0, n_endpoints, n_events)
    failed = rng.random(n_events) < error_rate
    error_class = pl.Series(ERROR_CLASSES).gather(rng.integers(0, len(ERROR_CLASSES), n_events))
    ttft = rng.lognormal(-1.0, 0.6, n_events)
    tokens_per_s = rng.normal(60.0, 15.0, n_events).clip(5.0)
    completion_tokens = rng.integers(1, 800, n_events)
    latency = ttft + completion_tokens / tokens_per_s
    endpoint = pl.Series("endpoint_id", endpoint_names[endpoint_index]).cast(pl.String)
    ids = pl.int_range(0, n_events, eager=True).cast(pl.String)
    frame = pl.DataFrame({
        "request_id": "req-" + ids,
        "generation_id": "gen-" + ids,
        "ts": np.sort(start_ts + rng.random(n_events) * duration_s),
        "key_id": "key-" + pl.Series(rng.integers(0, 50, n_events)).cast(pl.String),
        "requested_model": endpoint.str.split("/").list.get(1),
        "served_model": endpoint.str.split("/").list.get(1),
        "endpoint_id": endpoint,
        "provider": endpoint.str.split("/").list.get(0),
        "attempt": np.zeros(n_events, dtype=np.int32),
        "policy": "synthetic",
        "policy_version": "1",
        "propensity": np.ones(n_events),
        "prompt_tokens": rng.integers(10, 4000, n_events).astype(np.int32),
        "max_tokens": None,
        "stream": rng.random(n_events) < 0.5,
        "has_tools": False,
        "completion_tokens": np.where(failed, 0, completion_tokens).astype(np.int32),
        "ttft_s": np.where(failed, np.nan, ttft),
        "latency_s": latency,
        "tokens_per_s": np.where(failed, np.nan, tokens_per_s),
        "status": np.where(failed, 500, 200).astype(np.int32),
        "error_class": error_class,
        "prompt_price": 1e-6,
        "completion_price": 2e-6,
        "cost": np.where(failed, 0.0, completion_tokens * 2e-6),
        "is_byok": False,
        "source": "synthetic",
    })
    return frame.with_columns(pl.col("ttft_s", "tokens_per_s").fill_nan(None),
                              error_class=pl.when(pl.Series(failed)).then(pl.col("error_class")),
                              candidates=pl.concat_list("endpoint_id")).cast(EVENT_SCHEMA).select(list(EVENT_SCHEMA))


def synthetic_events(n_events: int, **options) -> list[AttemptEvent]:
    """The same rows as `AttemptEvent` objects (slower; for exercising the record() path)."""
    frame = synthetic_events_frame(n_events, **options)
    return [AttemptEvent(**{**row, "candidates": tuple(row["candidates"])}) for row in frame.iter_rows(named=True)]
