"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams (keep-alive, loopback only).

Written on sockets rather than httpx so that the load generator's own CPU cost (which shares the
machine's two cores with the gateway and the upstream) stays far below the gateway's.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

__all__ = ["LoadResult", "run_load"]


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


async def _worker(host: str, port: int, request: bytes, deadline_n: list[int], result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while deadline_n[0] > 0:
            deadline_n[0] -= 1
            started = time.perf_counter()
            writer.write(request)
            try:
                status, ttfb = await asyncio.wait_for(_read_response(reader, started), timeout=30)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if status != 200:
                result.errors += 1
                continue
            result.latencies_s.append(time.perf_counter() - started)
            result.ttfb_s.append(ttfb)
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
