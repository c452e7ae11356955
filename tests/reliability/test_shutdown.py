"""Graceful shutdown: SIGTERM to `switchyard serve` while requests are in flight loses nothing.

In-flight requests (slow non-streamed answers, slow streams, and one whose upstream hangs) finish,
or fail cleanly within the request deadline; every attempt is in DuckDB after exit and the ledger
holds exactly what clients were charged.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import orjson
import pytest

from router.billing import Billing
from router.demo import Behaviour, DemoProviders

from .harness import GatewayProcess, catalog_for, telemetry_events, upstream_stats

MASTER = "sk-sy-shutdown-master-77aa01"
SLOW = dict(ttft_s=0.8, tokens_per_s=10.0, error_rate=0.0, rate_429=0.0)
BEHAVIOURS = {"slow": Behaviour(**SLOW), "stuck": Behaviour(mode="hang", **SLOW)}
MODELS = [
    {"id": "sd/slow", "endpoints": [{"provider": "slow", "prompt_price": 1e-6, "completion_price": 2e-6}]},
    {"id": "sd/stuck", "endpoints": [{"provider": "stuck", "prompt_price": 1e-6, "completion_price": 2e-6}]},
]
DEADLINE_S = 3.0


def _request(url: str, key: str, model: str, stream: bool) -> tuple[int, str, Decimal, float]:
    """(status, text received, cost charged, seconds) for one request."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6, "stream": stream}
    started = time.perf_counter()
    headers = {"authorization": f"Bearer {key}"}
    if not stream:
        response = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
        data = response.json()
        if response.status_code != 200:
            return response.status_code, data["error"]["message"], Decimal(0), time.perf_counter() - started
        return (200, data["choices"][0]["message"]["content"], Decimal(repr(data["usage"]["cost"])),
                time.perf_counter() - started)
    text, cost, done = "", Decimal(0), False
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as response:
        for line in response.iter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                chunk = orjson.loads(line[6:])
                for choice in chunk.get("choices") or ():
                    text += choice["delta"].get("content") or ""
                if chunk.get("usage"):
                    cost = Decimal(repr(chunk["usage"]["cost"]))
    return (response.status_code if done else -1), text, cost, time.perf_counter() - started


@pytest.fixture(scope="module")
def demo():
    with DemoProviders(BEHAVIOURS) as providers:
        yield providers


def test_sigterm_lets_in_flight_requests_finish_and_flushes_telemetry(demo, tmp_path):
    catalog = catalog_for(demo, BEHAVIOURS, MODELS)
    gateway = GatewayProcess(catalog, tmp_path, MASTER, attempt_timeout_s=DEADLINE_S,
                             stream_idle_timeout_s=DEADLINE_S, request_deadline_s=DEADLINE_S, keepalive_s=0.2)
    with gateway:
        admin = {"authorization": f"Bearer {MASTER}"}
        key = httpx.post(gateway.url + "/v1/keys", headers=admin, json={"name": "sd", "account": "sd"}).json()["key"]
        httpx.post(gateway.url + "/v1/credits", headers=admin, json={"account": "sd", "amount": "5"}).raise_for_status()
        jobs = [("sd/slow", False)] * 6 + [("sd/slow", True)] * 6 + [("sd/stuck", False)]
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [pool.submit(_request, gateway.url, key, model, stream) for model, stream in jobs]
            deadline = time.monotonic() + 10
            while sum(upstream_stats(demo).values()) < len(jobs) and time.monotonic() < deadline:
                time.sleep(0.02)  # every request has reached its upstream: all are in flight
            assert sum(upstream_stats(demo).values()) == len(jobs)
            signalled = time.perf_counter()
            exit_code = gateway.terminate(timeout_s=DEADLINE_S + 10)
            exited_after = time.perf_counter() - signalled
            results = [f.result() for f in futures]
        log = gateway.log_text()

    assert exit_code in (0, -15), log  # uvicorn re-raises SIGTERM once it has shut down cleanly
    assert "Application shutdown complete" in log and "Traceback" not in log, log
    assert exited_after < DEADLINE_S + 3
    slow, stuck = results[:-1], results[-1]
    for status, text, cost, _ in slow:  # finished, whole, and charged
        assert status == 200 and len(text.split()) == 6 and cost > 0
    status, message, cost, seconds = stuck  # cut at the deadline with a clean error, not dropped
    assert status == 504 and "did not answer" in message and cost == 0 and seconds < DEADLINE_S + 1

    events = telemetry_events(tmp_path)
    assert len(events) == len(jobs)  # the writer's queue was flushed before exit
    assert sorted(str(e["error_class"]) for e in events) == ["None"] * 12 + ["timeout"]
    billing = Billing.open(tmp_path / "billing.sqlite", master_key=MASTER, environ={})
    try:
        usage = Decimal(str(billing.credits("sd")["total_usage"]))
    finally:
        billing.close()
    assert usage == sum((r[2] for r in slow), Decimal(0))
