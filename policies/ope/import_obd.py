"""Maintainer script: copy the needed part of the Open Bandit Dataset sample into the project.

    python -m policies.ope.import_obd /path/to/open-bandit-dataset-small

Source: st-tech/zr-obp@8cbd5fa `obd/{random,bts}/{men,women}/*.csv` (Apache-2.0; dataset by ZOZO,
Saito et al. 2020, arXiv 2008.07146). Keeps item_id, position, click and propensity_score of every
row (10,000 per file) as `data/obd_{policy}_{campaign}.parquet`; user features are dropped.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

__all__ = ["import_obd", "DATA_DIR"]

DATA_DIR = Path(__file__).with_name("data")
_COLUMNS = {"item_id": pl.Int16, "position": pl.Int8, "click": pl.Int8, "propensity_score": pl.Float64}


def import_obd(source: Path) -> list[Path]:
    written = []
    for policy in ("random", "bts"):
        for campaign in ("men", "women"):
            frame = pl.read_csv(source / policy / campaign / f"{campaign}.csv", columns=list(_COLUMNS))
            path = DATA_DIR / f"obd_{policy}_{campaign}.parquet"
            frame.select(pl.col(c).cast(t) for c, t in _COLUMNS.items()).write_parquet(
                path, compression="zstd", compression_level=19)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    for path in import_obd(parser.parse_args(argv).source):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
