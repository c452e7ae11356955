"""End-to-end fixtures: demo upstreams with fast, controllable behaviour and a real gateway."""
from __future__ import annotations

import httpx
import pytest

from router.app import create_app
from router.catalog import parse_catalog
from router.demo import Behaviour, DemoProviders
from router.settings import Settings
from tests.conftest import ServerThread

MASTER = "sk-sy-test-master-0123456789abcdef"
AUTH = {"authorization": f"Bearer {MASTER}"}
FAST = dict(ttft_s=0.005, tokens_per_s=5000.0, error_rate=0.0, rate_429=0.0)
BEHAVIOURS = {
    "alpha": Behaviour(**FAST),
    "beta": Behaviour(**FAST),
    "gamma": Behaviour(**FAST),
    "claude": Behaviour(api_style="anthropic", **FAST),
}


def catalog_dict(demo: DemoProviders) -> dict:
    providers = {name: {"base_url": demo.base_url(name), "api_style": b.api_style}
                 for name, b in BEHAVIOURS.items()}
    return {
        "providers": providers,
        "models": [
            {"id": "test/llama", "context_length": 8192, "endpoints": [
                {"provider": "alpha", "upstream_model": "llama-a", "prompt_price": 3e-7, "completion_price": 6e-7,
                 "quantization": "fp16"},
                {"provider": "beta", "upstream_model": "llama-b", "prompt_price": 1e-7, "completion_price": 2e-7,
                 "quantization": "fp8"},
                {"provider": "gamma", "upstream_model": "llama-g", "prompt_price": 2e-7, "completion_price": 4e-7,
                 "context_length": 2048, "supported_parameters": ["max_tokens", "temperature"]},
            ]},
            {"id": "test/backup", "context_length": 8192, "endpoints": [
                {"provider": "gamma", "upstream_model": "backup-g", "prompt_price": 1e-6, "completion_price": 1e-6}]},
            {"id": "test/gratis:free", "context_length": 8192, "endpoints": [
                {"provider": "beta", "upstream_model": "gratis", "prompt_price": 0, "completion_price": 0}]},
            {"id": "test/claude", "context_length": 200000, "endpoints": [
                {"provider": "claude", "upstream_model": "claude-test", "prompt_price": 1e-6, "completion_price": 5e-6}]},
            {"id": "test/embed", "kind": "embedding", "context_length": 8191, "output_modalities": ["embeddings"],
             "endpoints": [{"provider": "alpha", "upstream_model": "embed-a", "prompt_price": 2e-8,
                            "completion_price": 0}]},
        ],
    }


@pytest.fixture(scope="session")
def demo():
    with DemoProviders(BEHAVIOURS) as providers:
        yield providers


@pytest.fixture(autouse=True)
def reset_demo(request):
    if "demo" not in request.fixturenames:
        yield
        return
    providers = request.getfixturevalue("demo")
    for name, behaviour in BEHAVIOURS.items():
        httpx.post(f"http://127.0.0.1:{providers.port}/_control/{name}",
                   json={"mode": "normal", "fail_first": 0, **FAST}).raise_for_status()
    yield


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(demo="off", data_dir=str(tmp_path), attempt_timeout_s=1.0, stream_idle_timeout_s=1.0,
                    request_deadline_s=10.0, keepalive_s=0.05, seed=7, max_body_bytes=64 * 1024,
                    master_key=MASTER, stats_refresh_s=0.0)


@pytest.fixture
def gateway(demo, settings):
    app = create_app(settings, catalog=parse_catalog(catalog_dict(demo)))
    with ServerThread(app) as server:
        server.app = app
        yield server


def control(demo: DemoProviders, provider: str, **changes) -> None:
    httpx.post(f"http://127.0.0.1:{demo.port}/_control/{provider}", json=changes).raise_for_status()


def upstream_requests(demo: DemoProviders) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{demo.port}/_stats").json()["requests"]
