"""Request-path cost of billing: reserve + settle per request (target ≤ 200 µs), on the embedded store.

Each row times whole calls of the public `Billing` API on a fresh SQLite file in a temporary
directory. "2 processes" runs two workers on the same file at once, as `uvicorn --workers 2` would,
and reports each request's latency including the wait for the other worker's write lock.

    python benchmarks/bench_billing.py            # 5,000 requests per row
    python benchmarks/bench_billing.py --quick    # 500 requests per row (CI smoke run)
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.table import Table

from router.billing import Billing, request_cost

TARGET_US = 200.0
MASTER_KEY = "sk-sy-bench-master"
PRICES = {"prompt_price": 0.0000015, "completion_price": 0.0000061}  # floats, as the catalog holds them


def open_billing(path: Path, synchronous: str = "NORMAL") -> Billing:
    return Billing.open(path, master_key=MASTER_KEY, environ={}, synchronous=synchronous)


def prepare(path: Path) -> str:
    billing = open_billing(path)
    secret, _ = billing.create_key(name="bench", account_id="bench", limit=Decimal("1000000"), limit_reset="daily")
    billing.add_credits("bench", Decimal("1000000"))
    billing.close()
    return secret


def time_requests(billing: Billing, secret: str, n_requests: int, step: str) -> list[float]:
    """Microseconds per request for one request-path step."""
    principal = billing.authenticate(f"Bearer {secret}")
    header = f"Bearer {secret}"
    max_cost = request_cost(1200, 1024, **PRICES)
    actual_cost = request_cost(1200, 310, **PRICES)
    steps: dict[str, Callable[[], object]] = {
        "reserve+settle": lambda: billing.settle(billing.reserve(principal, max_cost), actual_cost),
        "reserve+settle (BYOK)": lambda: billing.settle(billing.reserve(principal, max_cost), actual_cost, True),
        "reserve+release": lambda: billing.release(billing.reserve(principal, max_cost)),
        "authenticate": lambda: billing.authenticate(header),
    }
    call = steps[step]
    for _ in range(min(200, n_requests)):  # warm the statement cache and the page cache
        call()
    samples = []
    for _ in range(n_requests):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def _worker(path: str, secret: str, n_requests: int, start: "multiprocessing.synchronize.Event",
            results: "multiprocessing.Queue[list[float]]") -> None:
    billing = open_billing(Path(path))
    start.wait()
    results.put(time_requests(billing, secret, n_requests, "reserve+settle"))
    billing.close()


def time_processes(path: Path, secret: str, n_requests: int, n_processes: int) -> list[float]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_worker, args=(str(path), secret, n_requests, start, results))
               for _ in range(n_processes)]
    for worker in workers:
        worker.start()
    start.set()
    samples = [sample for _ in workers for sample in results.get(timeout=600)]
    for worker in workers:
        worker.join()
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 requests per row")
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args()
    n_requests = args.requests or (500 if args.quick else 5000)

    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as directory:
        for synchronous in ("NORMAL", "FULL"):
            path = Path(directory) / f"billing-{synchronous}.sqlite"
            secret = prepare(path)
            billing = open_billing(path, synchronous)
            steps = ("reserve+settle",) if synchronous == "FULL" else (
                "reserve+settle", "reserve+settle (BYOK)", "reserve+release", "authenticate")
            for step in steps:
                rows.append((f"{step}  (synchronous={synchronous})", time_requests(billing, secret, n_requests, step)))
            billing.close()
        path = Path(directory) / "billing-shared.sqlite"
        secret = prepare(path)
        rows.append(("reserve+settle  (2 processes, one file)", time_processes(path, secret, n_requests // 2, 2)))

    table = Table(title=f"Billing request path, µs per request ({n_requests} requests per row; target "
                        f"reserve+settle ≤ {TARGET_US:.0f} µs at p50)")
    for column in ("step", "p50 µs", "p90 µs", "p99 µs", "mean µs", "≤ target (p50)"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, samples in rows:
        p50 = percentile(samples, 0.5)
        meets = "" if not name.startswith("reserve+settle") else ("yes" if p50 <= TARGET_US else "NO")
        table.add_row(name, f"{p50:.0f}", f"{percentile(samples, 0.9):.0f}", f"{percentile(samples, 0.99):.0f}",
                      f"{statistics.fmean(samples):.0f}", meets)
    Console(width=110).print(table)


if __name__ == "__main__":
    main()
