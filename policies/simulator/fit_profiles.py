"""Fit per-endpoint latency/error profiles from the llmperf leaderboard measurements.

Run once by a maintainer (the source is not shipped with the project):

    python -m policies.simulator.fit_profiles /path/to/llmperf_requests_flat.csv

Writes `policies/simulator/data/latency_profiles.json`, which `profiles.load_profiles()` reads.
Source: ray-project/llmperf-leaderboard@27aa9b6 (Apache-2.0), 150 requests per (provider, Llama-2
size), 550 prompt tokens, ~150 output tokens, 5 concurrent requests, Dec 2023 - Jan 2024.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import polars as pl

__all__ = ["fit_profiles", "OUTPUT_PATH"]

OUTPUT_PATH = Path(__file__).with_name("data") / "latency_profiles.json"
SOURCE = "ray-project/llmperf-leaderboard@27aa9b6 (Apache-2.0)"
# Decode speed is winsorised: a few replicate/together requests return almost all tokens at once
# (end_to_end ~ ttft), which would give tokens/s in the tens of thousands and a meaningless sd.
WINSOR_QUANTILES = (0.05, 0.95)


def fit_profiles(csv_path: str | Path) -> dict[str, dict]:
    requests = pl.read_csv(csv_path, schema_overrides={"error_code": pl.String})
    profiles: dict[str, dict] = {}
    for (provider, size), group in requests.group_by("provider", "model_size", maintain_order=True):
        n_total = group.height
        n_429 = group.filter(pl.col("error_code") == "429").height
        n_error = group.filter(pl.col("error_code").is_not_null() & (pl.col("error_code") != "429")).height
        ok = group.filter(
            pl.col("error_code").is_null()
            & (pl.col("number_output_tokens") > 1)
            & (pl.col("end_to_end_latency_s") > pl.col("ttft_s"))
            & (pl.col("ttft_s") > 0)
        )
        # llmperf's inter_token_latency includes TTFT, so decode speed is derived from the
        # time after the first token instead.
        decode = ((pl.col("number_output_tokens") - 1) / (pl.col("end_to_end_latency_s") - pl.col("ttft_s")))
        tokens_per_s = ok.select(decode.alias("tps"))["tps"]
        low, high = (tokens_per_s.quantile(q) for q in WINSOR_QUANTILES)
        tokens_per_s = tokens_per_s.clip(low, high)
        log_ttft = ok["ttft_s"].log()
        name = f"{provider}-{size}"
        profiles[name] = {
            "name": name,
            "ttft_log_mu": round(float(log_ttft.mean()), 6),
            "ttft_log_sigma": round(float(log_ttft.std()), 6),
            "tokens_per_s_mean": round(float(tokens_per_s.mean()), 4),
            "tokens_per_s_sd": round(float(tokens_per_s.std()), 4),
            "error_rate": round(n_error / n_total, 6),
            "rate_429": round(n_429 / n_total, 6),
            "source": f"{SOURCE} {provider} llama-2-{size}: {ok.height} ok of {n_total} requests",
        }
        assert all(math.isfinite(v) for v in profiles[name].values() if isinstance(v, float)), name
    return dict(sorted(profiles.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="llmperf_requests_flat.csv")
    parser.add_argument("--out", default=str(OUTPUT_PATH))
    args = parser.parse_args(argv)
    profiles = fit_profiles(args.csv)
    Path(args.out).write_text(json.dumps(profiles, indent=1) + "\n")
    print(f"wrote {len(profiles)} profiles to {args.out}")


if __name__ == "__main__":
    main()
