"""The replay loop's row logs turned into the result frames (one row per request / per attempt)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

__all__ = ["REQUEST_LOG_FIELDS", "ATTEMPT_LOG_FIELDS", "request_frame", "attempt_frame"]

# The tuples the loop appends, in order.
REQUEST_LOG_FIELDS = ("success", "n_attempts", "first_endpoint", "served_endpoint", "propensity", "ttft_s",
                      "latency_s", "tokens_per_s", "cost")
ATTEMPT_LOG_FIELDS = ("request", "attempt", "endpoint_id", "code", "ts", "ttft_s", "latency_s", "tokens_per_s",
                      "cost", "propensity", "candidate_set", "epoch")


def _names(indices: pl.Series, endpoint_ids: Sequence[str]) -> pl.Series:
    """Endpoint columns -> endpoint ids (-1 -> null)."""
    names = np.array([*endpoint_ids, None], dtype=object)
    return pl.Series(indices.name, names[indices.to_numpy()], dtype=pl.String)


def request_frame(rows: list[tuple], trace_columns: dict[str, np.ndarray], utility: np.ndarray,
                  oracle_utility: np.ndarray, endpoint_ids: Sequence[str]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=list(REQUEST_LOG_FIELDS), orient="row")
    return frame.with_columns(
        _names(frame["first_endpoint"], endpoint_ids), _names(frame["served_endpoint"], endpoint_ids),
    ).select(
        pl.Series("request", np.arange(frame.height)), pl.Series("timestamp", trace_columns["timestamp"]),
        pl.Series("prompt_tokens", trace_columns["prompt_tokens"]),
        pl.Series("output_tokens", trace_columns["output_tokens"]),
        *REQUEST_LOG_FIELDS, pl.Series("utility", utility), pl.Series("oracle_utility", oracle_utility),
        pl.Series("regret", oracle_utility - utility),
    )


def attempt_frame(rows: list[tuple], epoch_prices: Sequence[tuple[list[float], list[float]]],
                  endpoint_ids: Sequence[str]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=list(ATTEMPT_LOG_FIELDS), orient="row")
    if frame.height == 0:
        return frame
    column = frame["endpoint_id"].to_numpy()
    epoch = frame["epoch"].to_numpy()
    prompt_prices = np.array([p for p, _ in epoch_prices])
    completion_prices = np.array([c for _, c in epoch_prices])
    return frame.with_columns(
        _names(frame["endpoint_id"], endpoint_ids), pl.col("code").cast(pl.Int8),
        pl.Series("prompt_price", prompt_prices[epoch, column]),
        pl.Series("completion_price", completion_prices[epoch, column]),
    ).drop("epoch")
