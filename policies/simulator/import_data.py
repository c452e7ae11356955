"""Maintainer script: build the simulator's committed data from the public sources.

    python -m policies.simulator.import_data /path/to/shared/data

Writes into `policies/simulator/data/` (see PROVENANCE.md there):
- `azure_code_2023.parquet`, `azure_conv_2023.parquet`: Azure LLM inference trace 2023 (CC BY 4.0),
  columns timestamp (unix s), prompt_tokens, output_tokens.
- `mooncake_conversation.parquet`: Mooncake conversation trace (Apache-2.0), same columns with
  timestamp in seconds from the trace start (the trace publishes no absolute time).
- `outage_durations.json`: a quantile table of API incident durations derived from the
  llm-service-incidents status-page data. That source carries no licence, so only these derived
  figures are committed, never the raw rows.
The project never reads the source folder at run time.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["import_traces", "fit_outage_durations", "DATA_DIR", "OUTAGE_QUANTILES"]

DATA_DIR = Path(__file__).with_name("data")
OUTAGE_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
_TRACE_SCHEMA = {"timestamp": pl.Float64, "prompt_tokens": pl.Int32, "output_tokens": pl.Int32}


def _write(frame: pl.DataFrame, name: str) -> Path:
    path = DATA_DIR / name
    frame.select(pl.col(c).cast(t) for c, t in _TRACE_SCHEMA.items()).write_parquet(
        path, compression="zstd", compression_level=19, statistics=False
    )
    return path


def import_traces(source: Path) -> list[Path]:
    written = []
    for kind in ("code", "conv"):
        raw = pl.read_csv(source / "azure-llm-inference-2023" / f"AzureLLMInferenceTrace_{kind}.csv")
        frame = raw.select(
            # 7 fractional digits: parse to microseconds (the 100 ns digit is below any latency we model).
            timestamp=pl.col("TIMESTAMP").str.slice(0, 26).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_zone="UTC")
            .dt.epoch("us") / 1e6,
            prompt_tokens=pl.col("ContextTokens"),
            output_tokens=pl.col("GeneratedTokens"),
        ).sort("timestamp")
        written.append(_write(frame, f"azure_{kind}_2023.parquet"))
    raw = pl.read_ndjson(source / "mooncake-traces" / "conversation_trace.jsonl")
    frame = raw.select(
        timestamp=pl.col("timestamp") / 1000.0,
        prompt_tokens=pl.col("input_length"),
        output_tokens=pl.col("output_length"),
    ).sort("timestamp", maintain_order=True)
    written.append(_write(frame, "mooncake_conversation.parquet"))
    return written


def fit_outage_durations(source: Path) -> dict:
    """Quantiles of incident durations (start -> close), in minutes, for API-affecting incidents."""
    stages = pl.read_csv(
        source / "llm-service-incidents" / "clean" / "incident" / "2024-08-31" / "incident_stages.csv",
        infer_schema_length=0,
    )
    api = stages.filter(
        (pl.col("API") == "1") | (pl.col("api.anthropic.com") == "1") | (pl.col("Character.AI") == "1")
    )
    minutes = api.select(
        (
            pl.col("close_timestamp").str.to_datetime(time_zone="UTC")
            - pl.col("start_timestamp").str.to_datetime(time_zone="UTC")
        ).dt.total_seconds() / 60.0
    ).to_series()
    # Zero-length incidents are post-hoc notices (posted resolved); they carry no duration.
    minutes = minutes.filter(minutes > 0).to_numpy()
    return {
        "source": "atlarge-research/llm-service-analysis@36c4598 clean/incident/2024-08-31/incident_stages.csv "
        "(no licence: derived figures only)",
        "selection": "incidents flagged API / api.anthropic.com / Character.AI, duration > 0",
        "n_incidents": int(minutes.size),
        "mean_minutes": round(float(minutes.mean()), 2),
        "quantiles": {str(q): round(float(np.quantile(minutes, q)), 2) for q in OUTAGE_QUANTILES},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder holding azure-llm-inference-2023/, mooncake-traces/, ...")
    args = parser.parse_args(argv)
    for path in import_traces(args.source):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    outages = fit_outage_durations(args.source)
    (DATA_DIR / "outage_durations.json").write_text(json.dumps(outages, indent=1) + "\n")
    print(f"wrote outage duration quantiles from {outages['n_incidents']} incidents")


if __name__ == "__main__":
    main()
