"""The same gateway with `http_transport="httpx"` (httpx's own connection pool instead of the lean one).

Dispatch talks to whichever transport is configured through `handle_async_request`; these check the
httpx pool end to end: completions, streams, and fallback when the first endpoint fails.
"""
from __future__ import annotations

import openai
import pytest

from router.settings import Settings
from tests.router.conftest import MASTER, control, upstream_requests

HELLO = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(http_transport="httpx")


def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=20)


def test_completion_and_stream_through_httpx_pool(gateway):
    assert type(gateway.app.state.services.transport).__name__ == "AsyncHTTPTransport"
    answer = client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=6, extra_body={"provider": {"order": ["alpha"]}})
    assert answer.provider == "alpha" and answer.usage.completion_tokens == 6
    chunks = list(client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=7, stream=True, extra_body={"provider": {"order": ["beta"]}}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[beta]") and len(text.split()) == 7
    assert chunks[-1].usage.completion_tokens == 7


@pytest.mark.parametrize("fault", ["fail-500", "hang", "drop"])
def test_httpx_pool_falls_back(gateway, demo, fault):
    control(demo, "alpha", mode=fault)
    answer = client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=5, extra_body={"provider": {"order": ["alpha", "beta"]}})
    assert answer.provider == "beta"
    assert upstream_requests(demo)["alpha"] == 1
