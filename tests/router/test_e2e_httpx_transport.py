"""The same gateway with `http_transport="httpx"` (httpx's own connection pool instead of the lean one).

Dispatch reaches whichever transport is configured through `router.transport.send_upstream`. The
core end-to-end tests of `test_e2e_chat` run again here against the httpx pool: pytest collects the
imported test functions, and they use this module's `settings` fixture.
"""
from __future__ import annotations

import pytest

from router.settings import Settings
from tests.router.test_e2e_chat import (  # noqa: F401  (collected by pytest)
    test_chat_completion_has_generation_id_provider_and_cost, test_falls_back_when_first_endpoint_fails,
    test_stream_falls_back_before_first_token, test_stream_relays_chunks_and_ends_with_usage)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(http_transport="httpx")


def test_this_module_uses_the_httpx_pool(gateway):
    assert type(gateway.app.state.services.transport).__name__ == "AsyncHTTPTransport"
