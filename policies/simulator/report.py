"""Compare replayed policies: cost, latency tails, failures, traffic shares, utility and regret.

`summarise` turns one `ReplayResult` into plain numbers; `build_report` gathers several runs of the
same trace and world into one JSON-ready dict (stating that the world is synthetic);
`print_report` renders it as a rich table and `plot_report` writes PNG figures.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from .replay import ReplayResult

__all__ = ["summarise", "build_report", "print_report", "plot_report", "SYNTHETIC_NOTE"]

SYNTHETIC_NOTE = ("Synthetic world: real latency/error profiles (llmperf), real prices, real incident durations "
                  "and a real arrival trace joined together; no provider served these requests.")
_QUANTILES = (0.5, 0.95, 0.99)


def _quantiles(values: pl.Series) -> dict[str, float | None]:
    if values.len() == 0:
        return {f"p{int(q * 100)}": None for q in _QUANTILES}
    return {f"p{int(q * 100)}": float(values.quantile(q, "linear")) for q in _QUANTILES}


def summarise(result: ReplayResult, n_buckets: int = 20) -> dict:
    requests = result.requests
    served = requests.filter(pl.col("success"))
    n = requests.height
    total_cost = float(requests["cost"].sum())
    start = float(requests["timestamp"].min())
    span = max(float(requests["timestamp"].max()) - start, 1e-9)
    bucket = ((pl.col("timestamp") - start) / span * n_buckets).floor().clip(0, n_buckets - 1).cast(pl.Int32)
    shares = (requests.filter(pl.col("first_endpoint").is_not_null())
              .group_by(bucket.alias("bucket"), "first_endpoint").len()
              .with_columns(share=pl.col("len") / pl.col("len").sum().over("bucket")))
    over_time = {
        endpoint: [float(v) for v in (
            pl.DataFrame({"bucket": range(n_buckets)}, schema={"bucket": pl.Int32})
            .join(shares.filter(pl.col("first_endpoint") == endpoint), on="bucket", how="left")
            .sort("bucket")["share"].fill_null(0.0))]
        for endpoint in result.world.endpoint_ids
    }
    overall = requests.group_by("first_endpoint").len().drop_nulls()
    return {
        "policy": result.policy,
        "policy_version": result.policy_version,
        "requests": n,
        "cost_total_usd": total_cost,
        "cost_per_1k_usd": 1000.0 * total_cost / n if n else 0.0,
        "ttft_s": _quantiles(served["ttft_s"]),
        "latency_s": _quantiles(served["latency_s"]),
        "failure_rate": float(1.0 - requests["success"].mean()) if n else 0.0,
        "attempts_per_request": float(requests["n_attempts"].mean()) if n else 0.0,
        "utility_mean": float(requests["utility"].mean()) if n else 0.0,
        "regret_mean": float(requests["regret"].mean()) if n else 0.0,
        "regret_total": float(requests["regret"].sum()),
        "traffic_share": {row[0]: row[1] / n for row in overall.iter_rows()},
        "traffic_share_over_time": {"n_buckets": n_buckets, "bucket_s": span / n_buckets, "share": over_time},
        "replay_requests_per_s": result.requests_per_s,
    }


def build_report(results: Sequence[ReplayResult], trace_name: str, seed: int | None = None) -> dict:
    world = results[0].world
    return {
        "trace": trace_name,
        "requests": results[0].requests.height if results else 0,
        "seed": seed,
        "world": {
            "name": world.name, "description": world.description.strip(), "synthetic": world.synthetic,
            "note": SYNTHETIC_NOTE if world.synthetic else "", "sources": list(world.sources),
            "endpoints": list(world.endpoint_ids),
            "outages": [asdict(o) for o in world.outages], "price_changes": [asdict(p) for p in world.price_changes],
            "degradations": [asdict(d) for d in world.degradations],
        },
        "objective_weights": asdict(results[0].config.weights),
        "policies": [summarise(r) for r in results],
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    world = report["world"]
    table = Table(title=f"{report['trace']} x {world['name']}: {report['requests']} requests per policy",
                  caption=world["note"])
    for header in ("policy", "$/1k req", "TTFT p50/p95/p99 s", "latency p50/p95/p99 s", "failed %", "attempts",
                   "utility", "regret", "req/s"):
        table.add_column(header, justify="left" if header == "policy" else "right")
    for row in sorted(report["policies"], key=lambda r: r["regret_mean"]):
        ttft, latency = row["ttft_s"], row["latency_s"]
        table.add_row(
            row["policy"], _fmt(row["cost_per_1k_usd"], 3),
            "/".join(_fmt(ttft[k]) for k in ("p50", "p95", "p99")),
            "/".join(_fmt(latency[k]) for k in ("p50", "p95", "p99")),
            _fmt(100 * row["failure_rate"], 2), _fmt(row["attempts_per_request"], 3),
            _fmt(row["utility_mean"], 3), _fmt(row["regret_mean"], 3), f"{row['replay_requests_per_s']:,.0f}",
        )
    console.print(table)


def plot_report(report: dict, out_dir: str | Path) -> list[Path]:
    """Traffic share over time (one panel per policy), and utility/regret/cost/latency bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    policies = report["policies"]
    endpoints = report["world"]["endpoints"]
    written = []

    figure, axes = plt.subplots(len(policies), 1, figsize=(9, 1.8 * len(policies) + 1), sharex=True, squeeze=False)
    for axis, row in zip(axes[:, 0], policies):
        over_time = row["traffic_share_over_time"]
        x = (np.arange(over_time["n_buckets"]) + 0.5) * over_time["bucket_s"] / 60.0
        axis.stackplot(x, [over_time["share"][e] for e in endpoints], labels=[e.split("/")[0] for e in endpoints])
        axis.set_ylabel(row["policy"], rotation=0, ha="right", va="center")
        axis.set_ylim(0, 1)
    for outage in report["world"]["outages"]:
        for axis in axes[:, 0]:
            axis.axvspan(outage["start_s"] / 60.0, outage["end_s"] / 60.0, color="k", alpha=0.12)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[-1, 0].set_xlabel("minutes into the trace (grey: outage)")
    figure.suptitle(f"First-choice traffic share per endpoint - {report['trace']} x {report['world']['name']} (synthetic world)")
    figure.tight_layout()
    written.append(out_dir / "traffic_share.png")
    figure.savefig(written[-1], dpi=110)
    plt.close(figure)

    figure, axes = plt.subplots(1, 4, figsize=(14, 0.4 * len(policies) + 2), sharey=True)
    names = [r["policy"] for r in policies]
    for axis, (title, values) in zip(axes, (
        ("mean regret (utility points)", [r["regret_mean"] for r in policies]),
        ("cost per 1k requests (USD)", [r["cost_per_1k_usd"] for r in policies]),
        ("latency p95 (s)", [r["latency_s"]["p95"] or 0.0 for r in policies]),
        ("failed after fallback (%)", [100 * r["failure_rate"] for r in policies]),
    )):
        axis.barh(names, values)
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    written.append(out_dir / "comparison.png")
    figure.savefig(written[-1], dpi=110)
    plt.close(figure)
    return written
