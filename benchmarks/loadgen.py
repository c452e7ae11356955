"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive, loopback only): closed loop
(`run_load`: N clients, each sending its next request when it has an answer) or open loop
(`run_open_loop`: Poisson arrivals at a fixed rate, whatever the answers do).

Written on sockets rather than httpx so that the load generator's own CPU cost (which shares the
machine's two cores with the gateway and the upstream) stays far below the gateway's.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import orjson

__all__ = ["LoadResult", "run_load", "run_open_loop"]


@dataclass
class LoadResult:
    latencies_s: list[float]
    ttfb_s: list[float]
    errors: int
    wall_s: float

    @property
    def rps(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s else 0.0


async def _read_response(reader: asyncio.StreamReader, started: float) -> tuple[int, float]:
    status_line = await reader.readline()
    ttfb = time.perf_counter() - started
    status = int(status_line.split()[1])
    length, chunked = None, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
    if length is not None:
        await reader.readexactly(length)
        return status, ttfb
    if chunked:
        first_data = None
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            data = await reader.readexactly(size + 2)
            if first_data is None and b"data:" in data:
                first_data = time.perf_counter() - started  # first SSE event = time to first token
        return status, first_data if first_data is not None else ttfb
    return status, ttfb


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes,
                    result: LoadResult) -> bool:
    """One request on a keep-alive connection, recorded in `result`; False if the connection broke."""
    started = time.perf_counter()
    writer.write(request)
    try:
        status, ttfb = await asyncio.wait_for(_read_response(reader, started), timeout=30)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
        result.errors += 1
        writer.close()
        return False
    if status != 200:
        result.errors += 1
    else:
        result.latencies_s.append(time.perf_counter() - started)
        result.ttfb_s.append(ttfb)
    return True


async def _worker(host: str, port: int, request: bytes, deadline_n: list[int], result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while deadline_n[0] > 0:
            deadline_n[0] -= 1
            if not await _exchange(reader, writer, request, result):
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def build_request(host: str, port: int, path: str, body: dict, api_key: str = "bench") -> bytes:
    payload = orjson.dumps(body)
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload


async def run_load(host: str, port: int, path: str, body: dict, concurrency: int, n_requests: int,
                   api_key: str = "bench") -> LoadResult:
    request = build_request(host, port, path, body, api_key)
    result = LoadResult([], [], 0, 0.0)
    remaining = [n_requests]
    started = time.perf_counter()
    await asyncio.gather(*[_worker(host, port, request, remaining, result) for _ in range(concurrency)])
    result.wall_s = time.perf_counter() - started
    return result


async def run_open_loop(host: str, port: int, path: str, body: dict, rate_per_s: float, n_requests: int,
                        api_key: str = "bench", connections: int = 64, seed: int = 0) -> LoadResult:
    """Requests arrive as a Poisson process at `rate_per_s`, each on an idle keep-alive connection
    (a new one if all are busy), so a slow answer never delays the next arrival."""
    request = build_request(host, port, path, body, api_key)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = [
        await asyncio.open_connection(host, port) for _ in range(connections)]
    result = LoadResult([], [], 0, 0.0)

    async def one() -> None:
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
        if await _exchange(reader, writer, request, result):
            idle.append((reader, writer))

    arrivals = random.Random(seed)
    tasks = []
    started = due = time.perf_counter()
    for _ in range(n_requests):
        due += arrivals.expovariate(rate_per_s)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    result.wall_s = time.perf_counter() - started
    for _reader, writer in idle:
        writer.close()
    return result
