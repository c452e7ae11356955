"""Matplotlib figures for the analyst notebooks, drawn from polars frames.

Every function returns a `matplotlib.figure.Figure` built without pyplot's global state (so many
figures in one kernel do not pile up), and `save_figure` writes one to a PNG. Inputs are the
frames of `telemetry.analyst` and `telemetry.notebook_frames`, or replay/OPE results as frames.

>>> from telemetry.synthetic import synthetic_events_frame
>>> events = synthetic_events_frame(2_000, n_endpoints=4)
>>> save_figure(plot_throughput(events), "/tmp/throughput.png").stat().st_size > 0  # doctest: +SKIP
True
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.figure import Figure

from .events import ERROR_CLASSES

__all__ = ["save_figure", "short_labels", "plot_latency_distributions", "plot_throughput", "plot_error_classes",
           "plot_uptime_over_time", "plot_spend_by", "plot_spend_over_time", "plot_price_history", "plot_fees",
           "plot_regret_curves", "plot_ope_estimates"]

PER_MILLION = 1_000_000


def save_figure(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def short_labels(endpoint_ids: list[str]) -> dict[str, str]:
    """Endpoint ids shortened to their provider when all serve one model (the usual notebook case)."""
    models = {e.split("/", 1)[-1] for e in endpoint_ids}
    return {e: e.split("/", 1)[0] if len(models) == 1 else e for e in endpoint_ids}


def _colours(keys: list[str]) -> dict[str, tuple]:
    # One colour per endpoint, the same in every figure of a notebook.
    palette = colormaps["tab10"]
    return {key: palette(i % 10) for i, key in enumerate(sorted(keys))}


def plot_latency_distributions(events: pl.DataFrame) -> Figure:
    """ECDFs of time to first token and end-to-end latency per endpoint (successful attempts, log scale)."""
    ok = events.filter(pl.col("error_class").is_null())
    endpoints = sorted(ok["endpoint_id"].unique().to_list())
    labels, colours = short_labels(endpoints), _colours(endpoints)
    figure = Figure(figsize=(11, 4))
    for axis, (column, title) in zip(figure.subplots(1, 2), (("ttft_s", "time to first token"),
                                                             ("latency_s", "end-to-end latency"))):
        for endpoint in endpoints:
            values = np.sort(ok.filter(pl.col("endpoint_id") == endpoint)[column].drop_nulls().to_numpy())
            if values.size:
                axis.step(values, np.arange(1, values.size + 1) / values.size, where="post",
                          label=labels[endpoint], color=colours[endpoint])
        axis.set_xscale("log")
        axis.set_xlabel(f"{title} (s, log scale)")
        axis.set_ylabel("share of successful attempts")
        axis.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=8)
    figure.suptitle("Latency distributions per endpoint")
    return figure


def plot_throughput(events: pl.DataFrame) -> Figure:
    """Decode throughput (tokens/s) per endpoint as box plots of successful attempts."""
    ok = events.filter(pl.col("error_class").is_null() & pl.col("tokens_per_s").is_not_null())
    endpoints = sorted(ok["endpoint_id"].unique().to_list())
    labels = short_labels(endpoints)
    figure = Figure(figsize=(8, 0.45 * len(endpoints) + 1.5))
    axis = figure.subplots()
    axis.boxplot([ok.filter(pl.col("endpoint_id") == e)["tokens_per_s"].to_numpy() for e in endpoints],
                 orientation="horizontal", tick_labels=[labels[e] for e in endpoints], showfliers=False)
    axis.set_xlabel("tokens per second (box: quartiles, whiskers: 1.5 IQR)")
    axis.set_title("Throughput per endpoint")
    axis.grid(axis="x", alpha=0.3)
    return figure


def plot_error_classes(shares: pl.DataFrame) -> Figure:
    """Stacked share of attempts per error class and endpoint (from `error_class_shares`)."""
    labels = short_labels(shares["endpoint_id"].to_list())
    figure = Figure(figsize=(9, 0.45 * shares.height + 1.8))
    axis = figure.subplots()
    left = np.zeros(shares.height)
    names = [labels[e] for e in shares["endpoint_id"]]
    for error_class in ERROR_CLASSES:
        values = 100 * shares[error_class].to_numpy()
        if values.any():
            axis.barh(names, values, left=left, label=error_class)
            left += values
    axis.set_xlabel("% of attempts")
    axis.set_title("Failed attempts by error class")
    if left.any():
        axis.legend(fontsize=8, loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    return figure


def plot_uptime_over_time(uptime: pl.DataFrame) -> Figure:
    """Uptime per endpoint and bucket (from `uptime_over_time`), in %."""
    endpoints = sorted(uptime["endpoint_id"].unique().to_list())
    labels, colours = short_labels(endpoints), _colours(endpoints)
    figure = Figure(figsize=(11, 3.8))
    axis = figure.subplots()
    for endpoint in endpoints:
        part = uptime.filter(pl.col("endpoint_id") == endpoint)
        axis.plot(part["bucket"].to_list(), (100 * part["uptime"].fill_null(np.nan)).to_list(), marker=".",
                  label=labels[endpoint], color=colours[endpoint])
    axis.set_ylabel("uptime (%)")
    axis.set_ylim(-2, 102)
    axis.set_title("Uptime over time (successes / (successes + errors not caused by the user or rate limits))")
    axis.legend(fontsize=8, loc="lower left")
    axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    return figure


def plot_spend_by(spend: Mapping[str, pl.DataFrame], top: int = 10) -> Figure:
    """One bar panel per `spend_by` frame (title: the grouping column), the `top` largest values."""
    figure = Figure(figsize=(5 * len(spend), 3.8))
    for axis, (column, frame) in zip(np.atleast_1d(figure.subplots(1, len(spend))), spend.items()):
        head = frame.head(top).reverse()
        axis.barh([str(v) for v in head[column]], head["cost_usd"].to_numpy())
        axis.set_title(f"spend by {column}")
        axis.set_xlabel("USD")
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def plot_spend_over_time(spend: pl.DataFrame, by: str = "provider") -> Figure:
    """Stacked bars of spend per time bucket (from `spend_over_time`)."""
    wide = spend.pivot(on=by, index="bucket", values="cost_usd").sort("bucket").fill_null(0.0)
    groups = [c for c in wide.columns if c != "bucket"]
    figure = Figure(figsize=(11, 3.8))
    axis = figure.subplots()
    x = np.arange(wide.height)
    bottom = np.zeros(wide.height)
    for group in groups:
        values = wide[group].to_numpy()
        axis.bar(x, values, bottom=bottom, label=group)
        bottom += values
    step = max(1, wide.height // 8)
    axis.set_xticks(x[::step], [t.strftime("%H:%M") for t in wide["bucket"].to_list()[::step]])
    axis.set_ylabel("USD per bucket")
    axis.set_title(f"Spend over time by {by}")
    axis.legend(fontsize=8)
    return figure


def plot_price_history(prices: pl.DataFrame, until=None) -> Figure:
    """Step lines of prompt and completion price per endpoint in USD per million tokens."""
    endpoints = sorted(prices["endpoint_id"].unique().to_list())
    labels, colours = short_labels(endpoints), _colours(endpoints)
    figure = Figure(figsize=(11, 3.8))
    for axis, column in zip(figure.subplots(1, 2, sharey=True), ("prompt_price", "completion_price")):
        for endpoint in endpoints:
            part = prices.filter(pl.col("endpoint_id") == endpoint).sort("valid_from")
            times = part["valid_from"].to_list() + ([until] if until is not None else [])
            values = (part[column] * PER_MILLION).to_list()
            axis.step(times, values + values[-1:] if until is not None else values, where="post",
                      label=labels[endpoint], color=colours[endpoint])
        axis.set_title(column.replace("_", " ") + " (USD / M tokens)")
        axis.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=8)
    figure.autofmt_xdate()
    return figure


def plot_fees(fees: pl.DataFrame) -> Figure:
    """Left: per provider, list cost plus platform and BYOK fees as billed. Right: the totals as billed,
    had everything paid with credits, and had everything brought its own key (from `fee_breakdown`)."""
    frame = fees.reverse()
    figure = Figure(figsize=(12, 0.4 * fees.height + 2.2))
    per_provider, totals = figure.subplots(1, 2, width_ratios=(3, 2))
    left = np.zeros(frame.height)
    for column, label in (("list_cost_usd", "provider list price"), ("platform_fee_usd", "platform fee"),
                          ("byok_fee_usd", "BYOK fee")):
        values = frame[column].to_numpy()
        per_provider.barh(frame["provider"].to_list(), values, left=left, label=label)
        left += values
    per_provider.set_xlabel("USD")
    per_provider.set_title("As billed: list price + fees, per provider")
    per_provider.legend(fontsize=8, loc="lower right")
    list_cost = float(fees["list_cost_usd"].sum())
    scenarios = ["as billed", "all credits", "all BYOK"]
    fee_totals = [float(fees["platform_fee_usd"].sum() + fees["byok_fee_usd"].sum()),
                  float(fees["all_credits_fee_usd"].sum()), float(fees["all_byok_fee_usd"].sum())]
    totals.bar(scenarios, [list_cost] * 3, label="provider list price")
    totals.bar(scenarios, fee_totals, bottom=[list_cost] * 3, label="gateway fee")
    for x, fee in enumerate(fee_totals):
        totals.annotate(f"+${fee:,.2f}", (x, list_cost + fee), ha="center", va="bottom", fontsize=8)
    totals.set_ylabel("USD")
    totals.set_title("Total cost to the user")
    totals.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def plot_regret_curves(requests: Mapping[str, pl.DataFrame]) -> Figure:
    """Cumulative regret against the hindsight oracle per policy (replay `requests` frames)."""
    figure = Figure(figsize=(11, 4))
    total, mean = figure.subplots(1, 2)
    for policy, frame in requests.items():
        cumulative = np.cumsum(frame["regret"].to_numpy())
        n = np.arange(1, cumulative.size + 1)
        total.plot(n, cumulative, label=policy)
        mean.plot(n, cumulative / n, label=policy)
    total.set_title("cumulative regret")
    mean.set_title("mean regret so far")
    for axis in (total, mean):
        axis.set_xlabel("requests")
        axis.grid(alpha=0.3)
    mean.set_yscale("symlog", linthresh=0.01)
    total.legend(fontsize=8)
    return figure


def plot_ope_estimates(estimates: pl.DataFrame, truth: Mapping[str, float] | None = None) -> Figure:
    """Estimates with confidence intervals per target policy and estimator; `truth` marks replayed values.

    `estimates` has columns policy, estimator, value, ci_low, ci_high (one row per pair).
    """
    policies = list(dict.fromkeys(estimates["policy"].to_list()))
    estimators = list(dict.fromkeys(estimates["estimator"].to_list()))
    figure = Figure(figsize=(10, 0.7 * len(policies) + 1.8))
    axis = figure.subplots()
    offsets = np.linspace(-0.3, 0.3, len(estimators))
    for offset, estimator in zip(offsets, estimators):
        rows = estimates.filter(pl.col("estimator") == estimator)
        y = np.array([policies.index(p) for p in rows["policy"]]) + offset
        value = rows["value"].to_numpy()
        error = np.vstack([value - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - value])
        axis.errorbar(value, y, xerr=error, fmt="o", capsize=3, label=estimator)
    if truth:
        known = [p for p in policies if p in truth]
        axis.scatter([truth[p] for p in known], [policies.index(p) for p in known], marker="*", s=160, color="black",
                     zorder=5, label="replayed (ground truth)")
    axis.set_yticks(range(len(policies)), policies)
    axis.invert_yaxis()  # first policy on top
    axis.set_xlabel("estimated mean utility per request (95% bootstrap CI)")
    axis.set_title("Off-policy estimates of each policy's value from the logged traffic")
    axis.legend(fontsize=8, loc="best")
    axis.grid(axis="x", alpha=0.3)
    return figure
