"""A changed catalog file is served at once and its prices recorded; real keys route to real providers."""
from __future__ import annotations

import hashlib
import os
import time

import httpx
import openai
import pytest
import yaml

from router.app import create_app
from telemetry import analyst
from tests.conftest import ServerThread
from tests.router.conftest import MASTER, catalog_dict

HELLO = [{"role": "user", "content": "Say hello"}]


def _write(path, catalog: dict) -> None:
    path.write_text(yaml.safe_dump(catalog))
    os.utime(path, ns=(time.time_ns(), time.time_ns()))  # a new mtime even within the same tick


def test_changed_catalog_file_is_served_and_its_prices_recorded(demo, settings, tmp_path):
    path = tmp_path / "catalog.yaml"
    catalog = catalog_dict(demo)
    _write(path, catalog)
    app = create_app(settings.with_(catalog_path=str(path)))
    with ServerThread(app) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
        body = dict(model="test/llama", messages=HELLO, max_tokens=10, extra_body={"provider": {"only": ["alpha"]}})
        before = client.chat.completions.create(**body).usage
        catalog["models"][0]["endpoints"][0]["completion_price"] = 6e-6  # alpha's output price x10
        _write(path, catalog)
        assert app.state.services.jobs.refresh_prices() == 1  # the scheduled job, run now
        after = client.chat.completions.create(**body).usage
        listed = httpx.get(server.url + "/v1/models/test/llama/endpoints").json()["data"]["endpoints"]
        _write(path, {"providers": {}, "models": "not a list"})  # a broken file is ignored
        assert app.state.services.jobs.refresh_prices() == 0
        still = client.chat.completions.create(**body).usage
    assert after.cost - before.cost == pytest.approx(10 * (6e-6 - 6e-7) * 1.05, rel=1e-6)
    assert still.cost == pytest.approx(after.cost)
    assert {e["provider_name"]: e["pricing"]["completion"] for e in listed}["alpha"] == "0.000006"
    history = analyst.price_history(settings.telemetry_path, endpoint_id="alpha/test/llama").sort("valid_from")
    assert history["completion_price"].to_list() == pytest.approx([6e-7, 6e-6])
    assert history["valid_to"][0] is not None and history["valid_to"][1] is None


def test_provider_key_from_the_environment_is_used(demo, settings, monkeypatch):
    catalog = catalog_dict(demo)
    catalog["providers"]["alpha"]["key_env"] = "ALPHA_TEST_API_KEY"
    catalog["providers"]["beta"]["key_env"] = "BETA_TEST_API_KEY"  # not set: beta has no key
    monkeypatch.setenv("ALPHA_TEST_API_KEY", "alpha-platform-key-0123456789")
    from router.catalog import parse_catalog

    app = create_app(settings.with_(demo="auto"), catalog=parse_catalog(catalog))
    with ServerThread(app) as server:
        assert app.state.demo is None  # a key is configured: real providers, no demo upstreams
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
        answer = client.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=3,
                                                extra_body={"provider": {"order": ["alpha"]}})
        with pytest.raises(openai.NotFoundError, match="no API key for provider beta"):
            client.chat.completions.create(model="test/llama", messages=HELLO,
                                           extra_body={"provider": {"only": ["beta"]}})
    assert answer.provider == "alpha" and answer.usage.is_byok is False
    seen = httpx.get(f"http://127.0.0.1:{demo.port}/_stats").json()["key_fingerprints"]["alpha"]
    assert seen == hashlib.sha256(b"alpha-platform-key-0123456789").hexdigest()[:16]
