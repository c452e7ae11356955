"""Load soak: many concurrent requests through a gateway child process while upstreams misbehave.

Three demo providers serve one model: two fail at random (500s, 429s with Retry-After) and a third
("chaos") cycles through the fault modes — hangs, dropped connections, invalid JSON, error bodies,
cut and malformed streams — while the load runs. Afterwards the books are checked from three sides:
what clients were told, what the gateway's DuckDB holds, and what the upstreams counted.
`tests/reliability/test_soak.py` runs a quick version; `benchmarks/bench_soak.py` the full one.
"""
from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from router.demo import Behaviour, DemoProviders

from .harness import FAST, GatewayProcess, catalog_for, control, telemetry_events, upstream_stats

__all__ = ["SoakReport", "run_soak", "CHAOS_MODES"]

MASTER = "sk-sy-soak-master-5d1c0a77e2b94f0c"
NANO = Decimal("1e-9")
CHAOS_MODES = ("normal", "hang", "drop", "invalid-json", "error-body", "broken-stream", "malformed-sse",
               "fail-429", "hang-mid-body", "fail-500")
BEHAVIOURS = {
    "steady": Behaviour(**{**FAST, "error_rate": 0.14, "rate_429": 0.06, "retry_after_s": 1.0}),
    "flaky": Behaviour(**{**FAST, "error_rate": 0.2, "rate_429": 0.05}),
    "chaos": Behaviour(**FAST),
}
MODELS = [
    {"id": "soak/chat", "context_length": 8192, "endpoints": [
        {"provider": "steady", "upstream_model": "m-steady", "prompt_price": 1e-7, "completion_price": 2e-7},
        {"provider": "flaky", "upstream_model": "m-flaky", "prompt_price": 1.5e-7, "completion_price": 3e-7},
        {"provider": "chaos", "upstream_model": "m-chaos", "prompt_price": 1.2e-7, "completion_price": 2.4e-7}]},
    {"id": "soak/backup", "context_length": 8192, "endpoints": [
        {"provider": "chaos", "upstream_model": "m-backup", "prompt_price": 1e-6, "completion_price": 1e-6}]},
]
SETTINGS = dict(attempt_timeout_s=0.5, stream_idle_timeout_s=0.5, request_deadline_s=2.0, keepalive_s=0.2,
                breaker_failures=5, breaker_cooldown_s=1.0, seed=11, telemetry_queue=1_000_000)


@dataclass
class SoakReport:
    n_requests: int
    concurrency: int
    wall_s: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    unanswered: int = 0  # no status at all within deadline + margin (or a broken connection)
    unanswered_reasons: Counter = field(default_factory=Counter)
    gateway_log_errors: list[str] = field(default_factory=list)  # ERROR lines and exceptions the gateway logged
    streams: int = 0
    streams_without_done: int = 0
    streams_cut: int = 0  # 200 streams that ended with an error chunk (upstream failed after the first token)
    attempts_seen_by_clients: int = 0  # from switchyard_metadata / error metadata, circuit-open skipped
    failed_attempts_seen: int = 0
    mismatched_generations: int = 0  # generations whose DuckDB event count differs from the client's
    missing_generations: int = 0  # generation ids clients got that DuckDB does not hold
    events_in_duckdb: int = 0
    # The chaos provider's counter restarts at each mode change, so only the other two are compared.
    counted_upstream_requests: int = 0
    counted_upstream_events: int = 0
    # Of those events, attempts that may never have reached the upstream: connect errors, and timeouts
    # (on a starved machine a request can time out in the gateway before the upstream reads it).
    counted_maybe_unreached: int = 0
    settled_cost: Decimal = Decimal(0)  # sum of usage.cost the clients were told
    ledger_usage: Decimal = Decimal(0)  # GET /v1/credits total_usage for the soak account
    rss_before: int = 0
    rss_after: int = 0
    rss_quarters: list[int] = field(default_factory=list)  # RSS after each quarter of the main phase
    exit_code: int | None = None

    @property
    def gateway_500s(self) -> int:
        return self.statuses.get(500, 0)

    @property
    def fault_rate(self) -> float:
        return self.failed_attempts_seen / self.attempts_seen_by_clients if self.attempts_seen_by_clients else 0.0

    @property
    def events_match_upstreams(self) -> bool:
        """Every request an upstream saw is an event; an event an upstream did not see failed to reach it."""
        unseen = self.counted_upstream_events - self.counted_upstream_requests
        return 0 <= unseen <= self.counted_maybe_unreached

    @property
    def rss_growth_mb(self) -> float:
        return (self.rss_after - self.rss_before) / 2**20

    def rows(self) -> list[tuple[str, str]]:
        served = self.statuses.get(200, 0)
        upstream_exhausted = sum(v for k, v in self.statuses.items() if k in (502, 503, 504, 429))
        return [
            ("requests / concurrency", f"{self.n_requests} / {self.concurrency}"),
            ("wall time", f"{self.wall_s:.1f} s ({self.n_requests / self.wall_s:.0f} req/s)"),
            ("answered 200 (streams included)", str(served)),
            ("upstream-exhausted 429/502/503/504", str(upstream_exhausted)),
            ("gateway 500s", str(self.gateway_500s)),
            ("unanswered", f"{self.unanswered} {dict(self.unanswered_reasons) or ''}"),
            ("streams without [DONE]", f"{self.streams_without_done} of {self.streams}"),
            ("streams ended by an error chunk after tokens", str(self.streams_cut)),
            ("failed upstream attempts", f"{self.failed_attempts_seen} of {self.attempts_seen_by_clients} "
                                         f"({100 * self.fault_rate:.1f} %)"),
            ("telemetry events (all)", str(self.events_in_duckdb)),
            ("events / requests seen by steady+flaky upstreams",
             f"{self.counted_upstream_events} / {self.counted_upstream_requests} "
             f"({self.counted_maybe_unreached} connect/timeout)"),
            ("generations missing or miscounted in DuckDB", f"{self.missing_generations} / {self.mismatched_generations}"),
            ("settled cost vs ledger (USD)", f"{self.settled_cost} vs {self.ledger_usage}"),
            ("gateway RSS before -> after", f"{self.rss_before / 2**20:.0f} -> {self.rss_after / 2**20:.0f} MB "
                                            f"({self.rss_growth_mb:+.1f} MB)"),
            ("gateway RSS at 25/50/75/100 % (MB)", " / ".join(f"{r / 2**20:.0f}" for r in self.rss_quarters)),
            ("exit code after SIGTERM", str(self.exit_code)),
            ("gateway log: errors / exceptions", str(len(self.gateway_log_errors))),
        ]


@dataclass
class _Outcome:
    status: int
    generation_id: str | None = None
    attempts: list[dict[str, Any]] | None = None  # None: the client cannot know (stream cut mid-way)
    cost: Decimal = Decimal(0)
    stream: bool = False
    saw_done: bool = True
    failure: str | None = None  # the client-side exception when no answer came
    cut_mid_stream: bool = False


def _body(i: int, rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "soak/chat", "messages": [{"role": "user", "content": f"request {i} " * 4}],
                            "max_tokens": rng.choice((4, 8, 16)), "explain": True}
    if rng.random() < 0.3:
        body["models"] = ["soak/backup"]
    if rng.random() < 0.25:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _counted(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in attempts if a["error_class"] != "circuit-open"]  # skipped endpoints make no event


async def _one(client: httpx.AsyncClient, body: dict[str, Any]) -> _Outcome:
    if not body.get("stream"):
        response = await client.post("/v1/chat/completions", content=orjson.dumps(body))
        data = orjson.loads(response.content)
        if response.status_code == 200:
            return _Outcome(200, data["id"], _counted(data["switchyard_metadata"]["attempts"]),
                            Decimal(repr(data["usage"]["cost"])).quantize(NANO))
        attempts = ((data.get("error") or {}).get("metadata") or {}).get("attempts", [])
        return _Outcome(response.status_code, response.headers.get("x-generation-id"), _counted(attempts))
    async with client.stream("POST", "/v1/chat/completions", content=orjson.dumps(body)) as response:
        generation_id = response.headers.get("x-generation-id")
        if response.status_code != 200:
            data = orjson.loads(await response.aread())
            attempts = ((data.get("error") or {}).get("metadata") or {}).get("attempts", [])
            return _Outcome(response.status_code, generation_id, _counted(attempts), stream=True)
        outcome = _Outcome(200, generation_id, None, stream=True, saw_done=False)
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                outcome.saw_done = True
            elif line.startswith("data: "):
                chunk = orjson.loads(line[6:])
                if "switchyard_metadata" in chunk:
                    outcome.attempts = _counted(chunk["switchyard_metadata"]["attempts"])
                    outcome.cost = Decimal(repr(chunk["usage"]["cost"])).quantize(NANO)
                elif "error" in chunk and "choices" in chunk:
                    outcome.cut_mid_stream = True  # the upstream failed after the first token
                elif "error" in chunk and "choices" not in chunk:
                    outcome.status = chunk["error"]["code"]  # every endpoint failed before the first token
                    outcome.attempts = _counted(chunk["error"].get("metadata", {}).get("attempts", []))
        return outcome


async def _drive(url: str, key: str, n_requests: int, concurrency: int, seed: int,
                 on_progress=None) -> list[_Outcome | None]:
    rng = random.Random(seed)
    bodies = [_body(i, rng) for i in range(n_requests)]
    results: list[_Outcome | None] = [None] * n_requests  # None: never sent
    queue = iter(range(n_requests))
    # Idle connections expire on the client before uvicorn's 5 s keep-alive closes them, or a request
    # sent on a connection the server is closing at that instant fails with a ReadError (a client race).
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=3.0)
    timeout = httpx.Timeout(SETTINGS["request_deadline_s"] + 10.0)
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}",
                                                         "content-type": "application/json"},
                                 limits=limits, timeout=timeout) as client:
        async def worker() -> None:
            for i in queue:
                try:
                    results[i] = await _one(client, bodies[i])
                except (httpx.TransportError, orjson.JSONDecodeError) as exc:
                    stream = bool(bodies[i].get("stream"))
                    results[i] = _Outcome(0, stream=stream, saw_done=False,
                                          failure=type(exc).__name__ + (" (stream)" if stream else ""))
                if on_progress is not None:
                    on_progress(i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def _chaos(demo: DemoProviders, stop: asyncio.Event, period_s: float, seed: int) -> None:
    """Switch the chaos provider's fault mode every `period_s` (a burst of one fault at a time)."""
    modes = itertools.cycle(random.Random(seed).sample(CHAOS_MODES, len(CHAOS_MODES)))
    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            await client.post(f"http://127.0.0.1:{demo.port}/_control/chaos", json={"mode": next(modes)})
            try:
                await asyncio.wait_for(stop.wait(), period_s)
            except TimeoutError:
                pass


def run_soak(data_dir: Path, n_requests: int = 1000, concurrency: int = 100, seed: int = 0,
             chaos_period_s: float = 0.25) -> SoakReport:
    """Run the whole soak (demo upstreams, gateway child process, load, shutdown, books)."""
    report = SoakReport(n_requests, concurrency)
    with DemoProviders(BEHAVIOURS, seed=seed) as demo:
        for name, behaviour in BEHAVIOURS.items():  # the DemoProviders may outlive a test's changes
            control(demo, name, mode="normal", error_rate=behaviour.error_rate, rate_429=behaviour.rate_429)
        catalog = catalog_for(demo, BEHAVIOURS, MODELS)
        with GatewayProcess(catalog, data_dir, MASTER, **SETTINGS) as gateway:
            admin = {"authorization": f"Bearer {MASTER}"}
            key = httpx.post(gateway.url + "/v1/keys", headers=admin,
                             json={"name": "soak", "account": "soak"}).json()["key"]
            httpx.post(gateway.url + "/v1/credits", headers=admin,
                       json={"account": "soak", "amount": "1000"}).raise_for_status()
            warmup = min(200, n_requests // 5)
            outcomes = asyncio.run(_drive(gateway.url, key, warmup, min(concurrency, warmup), seed + 1))
            report.rss_before = gateway.rss_bytes()

            async def main_phase() -> list[_Outcome | None]:
                stop = asyncio.Event()
                chaos = asyncio.create_task(_chaos(demo, stop, chaos_period_s, seed))
                done = itertools.count(1)
                quarter = max((n_requests - warmup) // 4, 1)

                def sample_rss(_: int) -> None:
                    if next(done) % quarter == 0:
                        report.rss_quarters.append(gateway.rss_bytes())

                try:
                    return await _drive(gateway.url, key, n_requests - warmup, concurrency, seed + 2, sample_rss)
                finally:
                    stop.set()
                    await chaos

            started = time.perf_counter()
            outcomes += asyncio.run(main_phase())
            report.wall_s = time.perf_counter() - started
            report.rss_after = gateway.rss_bytes()
            credits = httpx.get(gateway.url + "/v1/credits", headers={"authorization": f"Bearer {key}"}).json()
            report.ledger_usage = Decimal(repr(credits["data"]["total_usage"])).quantize(NANO)
            report.exit_code = gateway.terminate()
            report.gateway_log_errors = [line for line in gateway.log_text().splitlines()
                                         if "ERROR" in line or "Error:" in line or "Exception" in line]
        seen = upstream_stats(demo)
        report.counted_upstream_requests = seen["steady"] + seen["flaky"]
    _tally(report, outcomes, telemetry_events(data_dir))
    return report


def _tally(report: SoakReport, outcomes: list[_Outcome | None], events: list[dict[str, Any]]) -> None:
    report.events_in_duckdb = len(events)
    counted = [e for e in events if e["provider"] in ("steady", "flaky")]
    report.counted_upstream_events = len(counted)
    report.counted_maybe_unreached = sum(e["error_class"] in ("connect", "timeout") for e in counted)
    per_generation = Counter(e["generation_id"] for e in events)
    for outcome in outcomes:
        if outcome is None or outcome.failure is not None:
            report.unanswered += 1
            report.unanswered_reasons[outcome.failure if outcome else "never sent"] += 1
            continue
        report.statuses[outcome.status] += 1
        report.settled_cost += outcome.cost
        if outcome.stream:
            report.streams += 1
            report.streams_without_done += not outcome.saw_done
            report.streams_cut += outcome.cut_mid_stream
        if outcome.generation_id is None:
            continue
        held = per_generation.get(outcome.generation_id, 0)
        if outcome.attempts is None:
            report.missing_generations += held == 0
            continue
        report.attempts_seen_by_clients += len(outcome.attempts)
        report.failed_attempts_seen += sum(a["error_class"] is not None for a in outcome.attempts)
        if outcome.attempts and held == 0:
            report.missing_generations += 1
        elif held != len(outcome.attempts):
            report.mismatched_generations += 1
