"""Gateway overhead: added latency and CPU per request versus calling the upstream directly.

Three processes on loopback: a demo upstream with a fixed 50 ms latency, the gateway (uvicorn, as
`switchyard serve` runs it), and a socket-level load generator. For each concurrency it measures
direct-to-upstream and through-gateway latency (non-streaming end-to-end, streaming time to first
token), requests/s, and the gateway process's CPU seconds per request (from /proc).

Direct and through-gateway runs alternate in rounds, so that a change in the machine's load during
the run falls on both sides. For reference, the non-streaming rows below concurrency 128 also go
through a byte-forwarding proxy (asyncio streams on uvloop, no HTTP parsing): what two more
loopback hops and a Python process in the path cost on this machine, which no Python gateway
can go below.

The "open loop" row sends Poisson arrivals at the rate the lowest concurrency reached: a closed-loop
client sends its next request the moment it has an answer, so what the gateway does just after
answering (ledger, telemetry) also delays that client; independent clients do not wait for it.

Requests use the master key, whose unlimited account needs no credit hold; the "prepaid key" row
repeats the lowest concurrency with a prepaid account's key, which holds each request's maximum
cost in a SQLite transaction before the upstream call.

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
from benchmarks.loadgen import LoadResult, run_load, run_open_loop  # noqa: E402

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


def _run_null_proxy(port: int, upstream_port: int) -> None:
    """Forward bytes both ways, one upstream connection per client connection."""
    import uvloop

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer),
                             return_exceptions=True)

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


def _run_gateway(port: int, upstream_port: int, data_dir: str) -> None:
    from router.app import create_app
    from router.catalog import parse_catalog
    from router.server import serve
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
    serve(create_app(settings, catalog=catalog), host="127.0.0.1", port=port, log_level="error", access_log=False)


def _cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


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
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating direct/gateway rounds per row (default 4, quick 1)")
    args = parser.parse_args()
    n = args.requests or (300 if args.quick else 4000)
    concurrencies = (8, 32) if args.quick else (8, 32, 128)
    args.rounds = args.rounds or (1 if args.quick else 4)

    import tempfile
    ctx = mp.get_context("spawn")
    upstream_port, gateway_port, proxy_port = _free_port(), _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        upstream = ctx.Process(target=_run_upstream, args=(upstream_port,), daemon=True)
        gateway = ctx.Process(target=_run_gateway, args=(gateway_port, upstream_port, data_dir), daemon=True)
        proxy = ctx.Process(target=_run_null_proxy, args=(proxy_port, upstream_port), daemon=True)
        for process in (upstream, gateway, proxy):
            process.start()
        try:
            for port in (upstream_port, gateway_port, proxy_port):
                _wait(port)
            rows = _measure(upstream_port, gateway_port, gateway.pid, proxy_port, n, concurrencies, args.rounds)
        finally:
            for process in (gateway, proxy, upstream):
                process.terminate()
                process.join(10)
    _print(rows)
    return 0


def _open_loop_row(upstream_port: int, gateway_port: int, gateway_pid: int, direct_path: str, direct_body: dict,
                   routed_body: dict, rate: float, count: int, rounds: int) -> dict:
    """Poisson arrivals at the rate the lowest concurrency reached. A closed-loop client sends its
    next request the moment it has an answer, so work the gateway does just after answering (the
    ledger, telemetry) delays that client's next request; independent clients do not wait for it."""
    directs, routed = [], []
    cpu = kernel = 0.0
    per_round = max(count // rounds, 1)
    for _ in range(rounds):
        directs.append(asyncio.run(run_open_loop("127.0.0.1", upstream_port, direct_path, direct_body, rate,
                                                 per_round)))
        user_before, sys_before = _cpu_times(gateway_pid)
        routed.append(asyncio.run(run_open_loop("127.0.0.1", gateway_port, "/v1/chat/completions", routed_body,
                                                rate, per_round, MASTER_KEY)))
        user_after, sys_after = _cpu_times(gateway_pid)
        cpu += (user_after - user_before) + (sys_after - sys_before)
        kernel += sys_after - sys_before
    direct, result = _merged(directs), _merged(routed)
    d, r = np.array(direct.latencies_s), np.array(result.latencies_s)
    served = max(len(result.latencies_s), 1)
    return {"mode": f"non-stream, open loop {rate:.0f}/s", "concurrency": "-",
            "direct_p50_ms": 1e3 * np.median(d), "gateway_p50_ms": 1e3 * np.median(r),
            "added_p50_ms": 1e3 * (np.median(r) - np.median(d)),
            "added_p99_ms": 1e3 * (np.percentile(r, 99) - np.percentile(d, 99)),
            "gateway_rps": result.rps, "cpu_ms_per_req": 1e3 * cpu / served, "kernel_ms_per_req": 1e3 * kernel / served,
            "errors": result.errors + direct.errors}


def _prepaid_key(gateway_port: int) -> str:
    """A key on a prepaid account: its requests hold their maximum cost before the upstream call
    (a SQLite transaction), which the master key's unlimited account skips."""
    import httpx

    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    base = f"http://127.0.0.1:{gateway_port}/v1"
    key = httpx.post(f"{base}/keys", headers=admin, json={"name": "bench-prepaid", "account": "bench"}).json()["key"]
    httpx.post(f"{base}/credits", headers=admin, json={"account": "bench", "amount": "1000"}).raise_for_status()
    return key


def _merged(results: list[LoadResult]) -> LoadResult:
    merged = LoadResult([], [], 0, 0.0)
    for result in results:
        merged.latencies_s += result.latencies_s
        merged.ttfb_s += result.ttfb_s
        merged.errors += result.errors
        merged.wall_s += result.wall_s
    return merged


def _measure(upstream_port: int, gateway_port: int, gateway_pid: int, proxy_port: int, n: int, concurrencies,
             rounds: int) -> list[dict]:
    messages = [{"role": "user", "content": "Benchmark me, please."}]
    direct_body = {"model": "m", "messages": messages, "max_tokens": 5}
    routed_body = {"model": "bench/model", "messages": messages, "max_tokens": 5}
    rows = []
    # warm-up: connection pools, imports, JIT-ish caches
    asyncio.run(run_load("127.0.0.1", gateway_port, "/v1/chat/completions", routed_body, 8, 200, MASTER_KEY))
    paced = {"max_tokens": PACED_TOKENS, "stream": True}
    prepaid = _prepaid_key(gateway_port)
    runs = [("non-stream", "mock", "bench/model", {"stream": False}, c, n, MASTER_KEY) for c in concurrencies]
    runs += [("non-stream, prepaid key", "mock", "bench/model", {"stream": False}, concurrencies[0], n, prepaid)]
    runs += [("stream TTFT", "mock", "bench/model", {"stream": True}, c, n, MASTER_KEY) for c in concurrencies]
    runs += [("paced stream TTFT", "paced", "bench/paced", paced, c, n // 2, MASTER_KEY) for c in concurrencies[1:2]]
    for mode, upstream, model, extra, concurrency, count, api_key in runs:
        stream = extra["stream"]
        with_proxy = mode == "non-stream" and concurrency < 128
        direct_path = f"/{upstream}/v1/chat/completions"
        directs, proxied, routed = [], [], []
        cpu = kernel = 0.0
        per_round = max(count // rounds, 1)
        for _ in range(rounds):
            directs.append(asyncio.run(run_load("127.0.0.1", upstream_port, direct_path, {**direct_body, **extra},
                                                concurrency, per_round)))
            if with_proxy:
                proxied.append(asyncio.run(run_load("127.0.0.1", proxy_port, direct_path, {**direct_body, **extra},
                                                    concurrency, per_round)))
            user_before, sys_before = _cpu_times(gateway_pid)
            routed.append(asyncio.run(run_load("127.0.0.1", gateway_port, "/v1/chat/completions",
                                               {**routed_body, "model": model, **extra}, concurrency, per_round,
                                               api_key)))
            user_after, sys_after = _cpu_times(gateway_pid)
            cpu += (user_after - user_before) + (sys_after - sys_before)
            kernel += sys_after - sys_before
        direct = _merged(directs)
        sides = [("gateway", _merged(routed))] + ([("null proxy", _merged(proxied))] if with_proxy else [])
        open_loop = None
        if mode == "non-stream" and concurrency == concurrencies[0]:
            open_loop = _open_loop_row(upstream_port, gateway_port, gateway_pid, direct_path, direct_body,
                                       routed_body, sides[0][1].rps, count, rounds)
        for side, result in sides:
            d = np.array(direct.ttfb_s if stream else direct.latencies_s)
            r = np.array(result.ttfb_s if stream else result.latencies_s)
            served = max(len(result.latencies_s), 1)
            rows.append({
                "mode": mode if side == "gateway" else f"{mode}, null proxy", "concurrency": concurrency,
                "direct_p50_ms": 1e3 * np.median(d), "gateway_p50_ms": 1e3 * np.median(r),
                "added_p50_ms": 1e3 * (np.median(r) - np.median(d)),
                "added_p99_ms": 1e3 * (np.percentile(r, 99) - np.percentile(d, 99)),
                "gateway_rps": result.rps,
                "cpu_ms_per_req": 1e3 * cpu / served if side == "gateway" else None,
                "kernel_ms_per_req": 1e3 * kernel / served if side == "gateway" else None,
                "errors": result.errors + direct.errors})
        if open_loop is not None:
            rows.append(open_loop)
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
                      f"{row['gateway_rps']:.0f}", _ms(row["cpu_ms_per_req"]), _ms(row["kernel_ms_per_req"]),
                      str(row["errors"]))
    console = Console(width=190)
    console.print(table)
    for row in rows:
        if row["mode"].startswith("paced"):
            console.print(f"paced stream, c={row['concurrency']}: {row['cpu_ms_per_req']:.2f} ms CPU per request of "
                          f"{PACED_TOKENS} tokens, at most {1e3 * row['cpu_ms_per_req'] / PACED_TOKENS:.0f} us per "
                          f"token (request overhead included)")
    by_key = {(row["mode"], row["concurrency"]): row for row in rows}
    highest = max(c for m, c in by_key if m == "non-stream")
    top = by_key[("non-stream", highest)]
    checks = [(f"gateway CPU <= 1 ms per request (non-stream, concurrency {highest})", top["cpu_ms_per_req"] <= 1.0,
               f"{top['cpu_ms_per_req']:.2f} ms")]
    if highest == 128:
        checks.append(("throughput >= 1,000 req/s at concurrency 128 (non-stream)", top["gateway_rps"] >= 1000,
                       f"{top['gateway_rps']:.0f} req/s"))
    # Added latency is judged below saturation: at 128 closed-loop clients offer ~2,500 req/s, more
    # than two shared cores serve, and the added time there is queueing (the table shows it).
    for concurrency in sorted(c for m, c in by_key if m == "non-stream" and c < 128):
        row = by_key[("non-stream", concurrency)]
        floor = by_key.get(("non-stream, null proxy", concurrency))
        own = "" if floor is None else (f"; a null proxy adds {floor['added_p50_ms']:.2f} ms, the gateway "
                                        f"{row['added_p50_ms'] - floor['added_p50_ms']:.2f} ms more")
        checks.append((f"added p50 <= 2 ms (non-stream, concurrency {concurrency})", row["added_p50_ms"] <= 2.0,
                       f"{row['added_p50_ms']:.2f} ms{own}"))
    for label, met, value in checks:
        console.print(f"target {label}: {value} -> {'met' if met else 'NOT met'}")
    for row in rows:
        if "open loop" in row["mode"]:
            console.print(f"for comparison, {row['mode']} (Poisson arrivals, the lowest concurrency's rate): "
                          f"added p50 {row['added_p50_ms']:.2f} ms")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
