"""A real gateway (in a thread, on loopback) over fast demo upstreams, shared by a module's tests."""
from __future__ import annotations

import httpx
import pytest

from router.app import create_app
from router.catalog import parse_catalog
from router.demo import Behaviour, DemoProviders
from router.settings import Settings
from tests.conftest import ServerThread
from tests.reliability.harness import FAST, catalog_for

MASTER = "sk-sy-security-master-9b0e4c7d2a61f385"
AUTH = {"authorization": f"Bearer {MASTER}"}
BEHAVIOURS = {"alpha": Behaviour(**FAST), "beta": Behaviour(**FAST)}
MODELS = [
    {"id": "sec/chat", "context_length": 8192, "endpoints": [
        {"provider": "alpha", "upstream_model": "chat-a", "prompt_price": 1e-7, "completion_price": 2e-7},
        {"provider": "beta", "upstream_model": "chat-b", "prompt_price": 2e-7, "completion_price": 4e-7}]},
    {"id": "sec/embed", "kind": "embedding", "output_modalities": ["embeddings"], "endpoints": [
        {"provider": "alpha", "upstream_model": "embed-a", "prompt_price": 2e-8, "completion_price": 0}]},
]


@pytest.fixture(scope="module")
def demo():
    with DemoProviders(BEHAVIOURS) as providers:
        yield providers


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    settings = Settings(demo="off", data_dir=str(tmp_path_factory.mktemp("gateway")), attempt_timeout_s=2.0,
                        stream_idle_timeout_s=2.0, request_deadline_s=5.0, keepalive_s=0.2, seed=5,
                        max_body_bytes=256 * 1024, master_key=MASTER)
    app = create_app(settings, catalog=parse_catalog(catalog_for(demo, BEHAVIOURS, MODELS)))
    with ServerThread(app) as server:
        server.app = app
        server.settings = settings
        yield server


def new_key(gateway, account: str, credits: str = "1", **extra) -> str:
    """A fresh key of `account`, which gets `credits` USD."""
    response = httpx.post(gateway.url + "/v1/keys", headers=AUTH,
                          json={"name": f"k-{account}", "account": account, **extra})
    assert response.status_code == 201, response.text
    httpx.post(gateway.url + "/v1/credits", headers=AUTH, json={"account": account, "amount": credits}).raise_for_status()
    return response.json()["key"]
