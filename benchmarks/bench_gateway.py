"""Gateway overhead: added latency and CPU per request versus calling the upstream directly.

Three processes on loopback: a demo upstream with a fixed 50 ms latency, the gateway (uvicorn, as
`switchyard serve` runs it), and a socket-level load generator. For each concurrency it measures
direct-to-upstream and through-gateway latency (non-streaming end-to-end, streaming time to first
token), requests/s, and the gateway process's CPU seconds per request (from /proc).

The main mock answers with 5 tokens at once, so a stream's chunks reach the gateway in one or two
reads and leave in as many writes. Real providers space their tokens out; the "paced" rows (20
tokens, 5 ms apart, one read and one write each) show what a streamed token costs then.

    .venv/bin/python benchmarks/bench_gateway.py [--quick] [--requests N]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.loadgen import run_load  # noqa: E402

UPSTREAM_LATENCY_S = 0.050
PACED_TOKENS, PACED_TOKENS_PER_S = 20, 200.0
MASTER_KEY = "sk-sy-benchmark-master-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_upstream(port: int) -> None:
    import uvicorn

    from router.demo import Behaviour, build_demo_app

    app = build_demo_app({
        "mock": Behaviour(ttft_s=UPSTREAM_LATENCY_S, tokens_per_s=1e9, output_tokens=5, error_rate=0.0, rate_429=0.0),
        "paced": Behaviour(ttft_s=UPSTREAM_LATENCY_S, tokens_per_s=PACED_TOKENS_PER_S, output_tokens=PACED_TOKENS,
                           error_rate=0.0, rate_429=0.0)})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, lifespan="off")


def _run_gateway(port: int, upstream_port: int, data_dir: str) -> None:
    import uvicorn

    from router.app import create_app
    from router.catalog import parse_catalog
    from router.settings import Settings

    catalog = parse_catalog({
        "providers": {"mock": {"base_url": f"http://127.0.0.1:{upstream_port}/mock/v1"},
                      "mock2": {"base_url": f"http://127.0.0.1:{upstream_port}/mock/v1"},
                      "paced": {"base_url": f"http://127.0.0.1:{upstream_port}/paced/v1"}},
        "models": [{"id": "bench/model", "endpoints": [
            {"provider": "mock", "prompt_price": 1e-7, "completion_price": 2e-7},
            {"provider": "mock2", "prompt_price": 2e-7, "completion_price": 3e-7}]},
                   {"id": "bench/paced", "endpoints": [
            {"provider": "paced", "prompt_price": 1e-7, "completion_price": 2e-7}]}]})
    settings = Settings(demo="off", data_dir=data_dir, seed=1, master_key=MASTER_KEY)
    uvicorn.run(create_app(settings, catalog=catalog), host="127.0.0.1", port=port, log_level="error",
                access_log=False)


def _cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _cpu_seconds(pid: int) -> float:
    return sum(_cpu_times(pid))


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests, for CI smoke runs")
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args()
    n = args.requests or (300 if args.quick else 4000)
    concurrencies = (8, 32) if args.quick else (8, 32, 128)

    import tempfile
    ctx = mp.get_context("spawn")
    upstream_port, gateway_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        upstream = ctx.Process(target=_run_upstream, args=(upstream_port,), daemon=True)
        gateway = ctx.Process(target=_run_gateway, args=(gateway_port, upstream_port, data_dir), daemon=True)
        upstream.start()
        gateway.start()
        try:
            _wait(upstream_port)
            _wait(gateway_port)
            rows = _measure(upstream_port, gateway_port, gateway.pid, n, concurrencies)
        finally:
            gateway.terminate()
            upstream.terminate()
            gateway.join(10)
            upstream.join(10)
    _print(rows)
    return 0


def _measure(upstream_port: int, gateway_port: int, gateway_pid: int, n: int, concurrencies) -> list[dict]:
    messages = [{"role": "user", "content": "Benchmark me, please."}]
    direct_body = {"model": "m", "messages": messages, "max_tokens": 5}
    routed_body = {"model": "bench/model", "messages": messages, "max_tokens": 5}
    rows = []
    # warm-up: connection pools, imports, JIT-ish caches
    asyncio.run(run_load("127.0.0.1", gateway_port, "/v1/chat/completions", routed_body, 8, 200, MASTER_KEY))
    paced = {"max_tokens": PACED_TOKENS, "stream": True}
    runs = [("non-stream", "mock", "bench/model", {"stream": False}, c, n) for c in concurrencies]
    runs += [("stream TTFT", "mock", "bench/model", {"stream": True}, c, n) for c in concurrencies]
    runs += [("paced stream TTFT", "paced", "bench/paced", paced, c, n // 2) for c in concurrencies[1:2]]
    for mode, upstream, model, extra, concurrency, count in runs:
        stream = extra["stream"]
        direct = asyncio.run(run_load("127.0.0.1", upstream_port, f"/{upstream}/v1/chat/completions",
                                      {**direct_body, **extra}, concurrency, count))
        user_before, sys_before = _cpu_times(gateway_pid)
        routed = asyncio.run(run_load("127.0.0.1", gateway_port, "/v1/chat/completions",
                                      {**routed_body, "model": model, **extra}, concurrency, count, MASTER_KEY))
        user_after, sys_after = _cpu_times(gateway_pid)
        cpu = (user_after - user_before) + (sys_after - sys_before)
        kernel = sys_after - sys_before
        d = np.array(direct.ttfb_s if stream else direct.latencies_s)
        r = np.array(routed.ttfb_s if stream else routed.latencies_s)
        rows.append({
            "mode": mode, "concurrency": concurrency,
            "direct_p50_ms": 1e3 * np.median(d), "gateway_p50_ms": 1e3 * np.median(r),
            "added_p50_ms": 1e3 * (np.median(r) - np.median(d)),
            "added_p99_ms": 1e3 * (np.percentile(r, 99) - np.percentile(d, 99)),
            "gateway_rps": routed.rps, "cpu_ms_per_req": 1e3 * cpu / max(len(routed.latencies_s), 1),
            "kernel_ms_per_req": 1e3 * kernel / max(len(routed.latencies_s), 1),
            "errors": routed.errors + direct.errors})
    return rows


def _print(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Gateway overhead vs direct upstream ({UPSTREAM_LATENCY_S * 1e3:.0f} ms mock, loopback, "
                        f"{os.cpu_count()} cores)")
    for column in ("mode", "conc.", "direct p50 ms", "gateway p50 ms", "added p50 ms", "added p99 ms",
                   "gateway req/s", "gateway CPU ms/req", "of which kernel", "errors"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["mode"], str(row["concurrency"]), f"{row['direct_p50_ms']:.1f}",
                      f"{row['gateway_p50_ms']:.1f}", f"{row['added_p50_ms']:.2f}", f"{row['added_p99_ms']:.1f}",
                      f"{row['gateway_rps']:.0f}", f"{row['cpu_ms_per_req']:.2f}", f"{row['kernel_ms_per_req']:.2f}",
                      str(row["errors"]))
    console = Console(width=160)
    console.print(table)
    for row in rows:
        if row["mode"].startswith("paced"):
            console.print(f"paced stream, c={row['concurrency']}: {row['cpu_ms_per_req']:.2f} ms CPU per request of "
                          f"{PACED_TOKENS} tokens, at most {1e3 * row['cpu_ms_per_req'] / PACED_TOKENS:.0f} us per "
                          f"token (request overhead included)")
    by_key = {(row["mode"], row["concurrency"]): row for row in rows}
    checks = [("gateway CPU <= 1 ms per request (non-stream, highest concurrency)", "non-stream", max, "cpu_ms_per_req",
               lambda v: v <= 1.0, "{:.2f} ms"),
              ("throughput >= 1,000 req/s at concurrency 128 (non-stream)", "non-stream", max, "gateway_rps",
               lambda v: v >= 1000, "{:.0f} req/s"),
              ("added p50 <= 2 ms (non-stream, lowest concurrency)", "non-stream", min, "added_p50_ms",
               lambda v: v <= 2.0, "{:.2f} ms")]
    for label, mode, pick, field, met, shape in checks:
        concurrency = pick(c for m, c in by_key if m == mode)
        value = by_key[(mode, concurrency)][field]
        note = "" if concurrency == 128 or "128" not in label else f" (measured at {concurrency})"
        console.print(f"target {label}: {shape.format(value)}{note} -> {'met' if met(value) else 'NOT met'}")


if __name__ == "__main__":
    raise SystemExit(main())
