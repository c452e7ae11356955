"""Fixtures for the fault suites: fast demo upstreams and a gateway factory with tight timeouts."""
from __future__ import annotations

import time

import httpx
import orjson
import pytest

from router.app import create_app
from router.catalog import parse_catalog
from router.demo import Behaviour, DemoProviders
from router.settings import Settings
from tests.conftest import ServerThread

from .harness import FAST, catalog_for, control

MASTER = "sk-sy-reliability-master-4f2a9c0d1e"
AUTH = {"authorization": f"Bearer {MASTER}"}
BEHAVIOURS = {name: Behaviour(**FAST) for name in ("alpha", "beta", "gamma", "delta")}
MODELS = [
    {"id": "rel/chat", "context_length": 8192, "endpoints": [
        {"provider": name, "upstream_model": f"chat-{name}", "prompt_price": 1e-7 * (i + 1),
         "completion_price": 2e-7 * (i + 1)} for i, name in enumerate(BEHAVIOURS)]},
]


@pytest.fixture(autouse=True)
def _soak_only_when_asked(request):
    """The full soak runs only under `-m soak`; the default run keeps to the quick version."""
    if request.node.get_closest_marker("soak") and "soak" not in (request.config.getoption("-m") or ""):
        pytest.skip("full soak: run with `pytest -m soak tests/reliability`")


@pytest.fixture(scope="module")
def demo():
    with DemoProviders(BEHAVIOURS) as providers:
        yield providers


@pytest.fixture
def reset(demo):
    for name in BEHAVIOURS:
        control(demo, name, mode="normal", fail_first=0, retry_after_s=1.0, **FAST)
    return demo


@pytest.fixture
def make_gateway(reset, tmp_path):
    """`make_gateway(**settings)` starts a gateway (in a thread) with those settings over the demo."""
    servers = []

    def start(**overrides) -> ServerThread:
        values = dict(demo="off", data_dir=str(tmp_path / f"g{len(servers)}"), attempt_timeout_s=0.4,
                      stream_idle_timeout_s=0.4, request_deadline_s=1.0, keepalive_s=0.1, seed=3,
                      master_key=MASTER, telemetry=False, breaker_failures=3, breaker_cooldown_s=0.5)
        values.update(overrides)
        app = create_app(Settings(**values), catalog=parse_catalog(catalog_for(reset, BEHAVIOURS, MODELS)))
        server = ServerThread(app).__enter__()
        server.app = app
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def call(gateway, stream: bool = False, **body) -> tuple[int, dict | list[dict], float, httpx.Headers]:
    """One request; returns (status, JSON body or SSE data chunks, wall seconds, headers)."""
    payload = {"model": "rel/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
               "explain": True, **body}
    started = time.perf_counter()
    if not stream:
        response = httpx.post(gateway.url + "/v1/chat/completions", json=payload, headers=AUTH, timeout=30)
        return response.status_code, response.json(), time.perf_counter() - started, response.headers
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={**payload, "stream": True},
                      headers=AUTH, timeout=30) as response:
        if response.status_code != 200:
            return (response.status_code, orjson.loads(response.read()), time.perf_counter() - started,
                    response.headers)
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    wall = time.perf_counter() - started
    assert lines[-1] == "data: [DONE]"  # every stream ends properly, even a failed one
    return response.status_code, [orjson.loads(line[6:]) for line in lines[:-1]], wall, response.headers


def assert_openai_error(body: dict, status: int) -> dict:
    error = body["error"]
    assert error["code"] == status and isinstance(error["message"], str) and error["type"]
    return error
