"""From recorded telemetry to the `Observation`s that `Policy.fit` learns from.

The events are `telemetry.events.AttemptEvent` rows (columns `EVENT_FIELDS`), from the DuckDB
store or the simulator, loaded as a polars DataFrame. The request features are rebuilt as serving
knew them, except the output length: training uses the tokens actually produced (what the
latency depended on), while serving predicts with its guess `expected_output_tokens`.
"""
from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

import os

from .base import Observation, Policy, RequestFeatures, RoutingContext
from .serving import PolicySnapshot, policy_version, save_policy

__all__ = ["observations_from_events", "fit_from_events", "refit_snapshot", "DEFAULT_OUTPUT_TOKENS"]

DEFAULT_OUTPUT_TOKENS = 256  # output length assumed for a failed attempt with no max_tokens

_COLUMNS = ("ts", "endpoint_id", "prompt_tokens", "max_tokens", "stream", "has_tools", "completion_tokens",
            "ttft_s", "latency_s", "tokens_per_s", "error_class", "cost", "propensity")


def observations_from_events(events: pl.DataFrame) -> list[Observation]:
    """One `Observation` per attempt row, oldest first.

    >>> import polars as pl
    >>> df = pl.DataFrame({"ts": [0.0], "endpoint_id": ["p/m"], "prompt_tokens": [10], "max_tokens": [None],
    ...     "stream": [False], "has_tools": [False], "completion_tokens": [5], "ttft_s": [0.2], "latency_s": [0.3],
    ...     "tokens_per_s": [50.0], "error_class": [None], "cost": [1e-6], "propensity": [0.5]})
    >>> [(o.endpoint_id, o.success, o.context.features.expected_output_tokens) for o in observations_from_events(df)]
    [('p/m', True, 5)]
    """
    missing = [c for c in _COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events are missing columns {missing}; expected telemetry.events.EVENT_FIELDS")
    observations = []
    # NaN and null both mean "not measured" (a failed attempt has no TTFT).
    rows = events.select(_COLUMNS).sort("ts").with_columns(
        pl.col("ttft_s", "latency_s", "tokens_per_s").cast(pl.Float64).fill_nan(None))
    for row in rows.iter_rows(named=True):
        success = row["error_class"] is None
        max_tokens = row["max_tokens"]
        produced = row["completion_tokens"] or 0
        expected_output = produced if success and produced > 0 else (max_tokens or DEFAULT_OUTPUT_TOKENS)
        ts = float(row["ts"])
        features = RequestFeatures(
            prompt_tokens=int(row["prompt_tokens"] or 0),
            max_tokens=max_tokens,
            expected_output_tokens=int(expected_output),
            stream=bool(row["stream"]),
            has_tools=bool(row["has_tools"]),
            hour_of_day=datetime.fromtimestamp(ts, tz=timezone.utc).hour,
        )
        observations.append(Observation(
            endpoint_id=row["endpoint_id"],
            context=RoutingContext(features=features, now=ts),
            success=success,
            error_class=row["error_class"],
            ttft_s=row["ttft_s"],
            latency_s=row["latency_s"],
            output_tokens=int(produced),
            tokens_per_s=row["tokens_per_s"],
            cost=float(row["cost"] or 0.0),
            propensity=float(row["propensity"] if row["propensity"] is not None else 1.0),
            now=ts,
        ))
    return observations


def fit_from_events(policy: Policy, events: pl.DataFrame) -> Policy:
    """A fresh copy of `policy` fitted on `events` (the scheduled refit job's one call)."""
    return policy.clone().fit(observations_from_events(events))


def refit_snapshot(template: Policy, events: pl.DataFrame, directory: str | os.PathLike | None = None) -> PolicySnapshot:
    """The scheduled refit job's body: fit a fresh copy on `events`, save it, return the snapshot to swap in.

    Without `directory` nothing is written and the version is the content hash all the same.
    """
    fitted = fit_from_events(template, events)
    if directory is not None:
        save_policy(fitted, directory)
    else:
        fitted.version = policy_version(fitted)
    return PolicySnapshot.of(fitted)
