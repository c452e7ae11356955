"""Load soak: N requests at concurrency C through `switchyard serve` while upstreams misbehave.

About a fifth of upstream attempts fail on purpose (random 500s and 429s with Retry-After on two
providers; a third cycles through hangs, resets, invalid JSON, error bodies, cut and malformed
streams). Prints what clients got, what DuckDB recorded, what the ledger charged and how the
gateway's RSS moved. The logic lives in tests/reliability/soak.py, shared with the test suite.

    .venv/bin/python benchmarks/bench_soak.py [--quick] [--requests N] [--concurrency C]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reliability.soak import run_soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 requests at concurrency 100 (CI smoke run)")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_requests = args.requests or (1000 if args.quick else 10_000)
    concurrency = args.concurrency or (100 if args.quick else 200)
    # The demo upstreams run in this process; their deliberate resets would fill the screen with tracebacks.
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="switchyard-soak-") as data_dir:
        report = run_soak(Path(data_dir), n_requests=n_requests, concurrency=concurrency, seed=args.seed)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Soak: {n_requests} requests at concurrency {concurrency}, injected upstream faults")
    table.add_column("measure")
    table.add_column("result", justify="right")
    for name, value in report.rows():
        table.add_row(name, value)
    Console().print(table)
    for line in report.gateway_log_errors[:20]:
        print("gateway log:", line)
    lost = (report.unanswered + report.gateway_500s + report.missing_generations + report.mismatched_generations
            + (not report.events_match_upstreams)
            + (report.ledger_usage != report.settled_cost))
    print("nothing lost" if lost == 0 else f"LOST OR MISCOUNTED: {lost}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
