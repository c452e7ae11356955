"""Polars summaries of telemetry frames that the analyst notebooks plot (no plotting here).

Each takes the frames `telemetry.analyst` returns (`events`, `rollups`) and returns a small frame,
so a notebook cell is one call and the same numbers can be checked in tests.

>>> from telemetry.synthetic import synthetic_events_frame
>>> spend_by(synthetic_events_frame(1_000), "provider").height
8
"""
from __future__ import annotations

import polars as pl

from .events import ERROR_CLASSES, UPTIME_EXCLUDED

__all__ = ["spend_by", "spend_over_time", "observed_prices", "fee_breakdown", "error_class_shares",
           "uptime_over_time"]


def spend_by(events: pl.DataFrame, by: str) -> pl.DataFrame:
    """USD spent, requests and tokens per value of `by` (e.g. served_model, provider, key_id), largest first."""
    return (events.group_by(by)
            .agg(cost_usd=pl.col("cost").sum(), requests=pl.col("request_id").n_unique(),
                 prompt_tokens=pl.col("prompt_tokens").filter(pl.col("error_class").is_null()).sum(),
                 completion_tokens=pl.col("completion_tokens").sum())
            .sort("cost_usd", by, descending=[True, False]))


def spend_over_time(events: pl.DataFrame, every: str = "5m", by: str = "provider") -> pl.DataFrame:
    """USD per time bucket (`started_at` truncated to `every`) and value of `by`."""
    return (events.with_columns(bucket=pl.col("started_at").dt.truncate(every))
            .group_by("bucket", by).agg(cost_usd=pl.col("cost").sum())
            .sort("bucket", by))


def observed_prices(events: pl.DataFrame) -> pl.DataFrame:
    """Per endpoint, the prices (USD per token) in effect from each time they were first seen changed.

    Events carry the prices applied to them, so this is the price history as billed, for logs
    with or without the `price_history` table (simulated ones have none).
    """
    changed = (pl.col("prompt_price") != pl.col("prompt_price").shift(1).over("endpoint_id")) | (
        pl.col("completion_price") != pl.col("completion_price").shift(1).over("endpoint_id"))
    return (events.sort("endpoint_id", "ts")
            .filter(changed.fill_null(True))
            .select("endpoint_id", pl.col("started_at").alias("valid_from"), "prompt_price", "completion_price"))


def fee_breakdown(events: pl.DataFrame, platform_fee: float, byok_fee: float) -> pl.DataFrame:
    """Per provider: list cost, and what the gateway's fees add on top of it.

    Credit-paid traffic is charged `cost * (1 + platform_fee)`; BYOK traffic is billed at list
    price by the provider and the gateway charges `cost * byok_fee` (the rule in
    `router.billing.service`). `all_credits_fee_usd` and `all_byok_fee_usd` are the fees had all
    the traffic paid with credits, or brought its own keys.
    """
    byok = pl.col("is_byok")
    return (events.group_by("provider")
            .agg(list_cost_usd=pl.col("cost").sum(),
                 credit_cost_usd=pl.col("cost").filter(~byok).sum(),
                 byok_cost_usd=pl.col("cost").filter(byok).sum())
            .with_columns(platform_fee_usd=pl.col("credit_cost_usd") * platform_fee,
                          byok_fee_usd=pl.col("byok_cost_usd") * byok_fee,
                          all_credits_fee_usd=pl.col("list_cost_usd") * platform_fee,
                          all_byok_fee_usd=pl.col("list_cost_usd") * byok_fee)
            .with_columns(user_pays_usd=pl.col("list_cost_usd") + pl.col("platform_fee_usd") + pl.col("byok_fee_usd"))
            .sort("list_cost_usd", "provider", descending=[True, False]))


def error_class_shares(events: pl.DataFrame) -> pl.DataFrame:
    """Per endpoint, the share of attempts that ended in each error class (columns in ERROR_CLASSES order)."""
    attempts = events.group_by("endpoint_id").agg(attempts=pl.len())
    by_class = (events.filter(pl.col("error_class").is_not_null())
                .pivot(on="error_class", index="endpoint_id", values="request_id", aggregate_function="len"))
    frame = attempts.join(by_class, on="endpoint_id", how="left")
    return frame.select(
        "endpoint_id", "attempts",
        *[(pl.col(c).fill_null(0) / pl.col("attempts")).alias(c) if c in frame.columns else pl.lit(0.0).alias(c)
          for c in ERROR_CLASSES],
    ).sort("endpoint_id")


def uptime_over_time(rollups: pl.DataFrame, every: str = "5m") -> pl.DataFrame:
    """Uptime per endpoint and bucket from the minute rollup: counts add up, minute ratios would not."""
    excluded = sum(pl.col("errors_" + c.replace("-", "_")) for c in UPTIME_EXCLUDED)
    return (rollups.with_columns(bucket=pl.col("minute").dt.truncate(every), counted=pl.col("errors") - excluded)
            .group_by("endpoint_id", "bucket")
            .agg(pl.col("requests").sum(), pl.col("successes").sum(), pl.col("counted").sum())
            .with_columns(uptime=(pl.col("successes") / (pl.col("successes") + pl.col("counted"))).fill_nan(None))
            .sort("endpoint_id", "bucket"))
