"""CORS is closed by default, and no URL a user sends is ever fetched by the gateway (no SSRF).

Where users can put URLs: image/audio/file parts of messages and unknown top-level fields, which
are forwarded to the provider untouched (the provider may fetch them, the gateway never does); the
`provider` object and BYOK bodies are closed schemas, so a `base_url` there is a 400. Upstream
base URLs come only from the operator's catalog, and the upstream client does not follow
redirects, so a provider cannot bounce the gateway to an internal address either.
"""
from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Route

from router.app import create_app
from router.catalog import parse_catalog
from router.settings import Settings
from tests.conftest import ServerThread

from .conftest import AUTH, BEHAVIOURS, MASTER, MODELS, new_key
from tests.reliability.harness import Listener, catalog_for

EVIL = "https://evil.example"


@pytest.mark.parametrize("method, path", [("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                                          ("GET", "/v1/credits"), ("GET", "/health")])
def test_cors_closed_by_default(gateway, method, path):
    preflight = httpx.options(gateway.url + path, headers={
        "origin": EVIL, "access-control-request-method": method, "access-control-request-headers": "authorization"})
    assert "access-control-allow-origin" not in preflight.headers
    actual = httpx.request(method, gateway.url + path, headers={"origin": EVIL, **AUTH},
                           json={"model": "sec/chat", "messages": [{"role": "user", "content": "hi"}],
                                 "max_tokens": 2} if method == "POST" else None)
    assert actual.status_code < 500
    assert "access-control-allow-origin" not in actual.headers
    assert "access-control-allow-credentials" not in actual.headers


def test_cors_allows_only_the_configured_origin(demo, tmp_path):
    settings = Settings(demo="off", data_dir=str(tmp_path), master_key=MASTER, telemetry=False,
                        cors_origins=("https://app.example",))
    app = create_app(settings, catalog=parse_catalog(catalog_for(demo, BEHAVIOURS, MODELS)))
    with ServerThread(app) as server:
        def preflight(origin: str) -> httpx.Response:
            return httpx.options(server.url + "/v1/chat/completions", headers={
                "origin": origin, "access-control-request-method": "POST"})
        assert preflight("https://app.example").headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-origin" not in preflight(EVIL).headers
        assert "access-control-allow-origin" not in preflight("null").headers
        # The completion routes' direct lane steps aside when CORS is on, so real requests get the headers too.
        actual = httpx.post(server.url + "/v1/chat/completions", headers={"origin": "https://app.example", **AUTH},
                            json={"model": "sec/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert actual.status_code == 200
        assert actual.headers["access-control-allow-origin"] == "https://app.example"


@pytest.fixture
def internal():
    listener = Listener()
    yield listener
    listener.close()


def test_urls_in_requests_are_never_fetched_by_the_gateway(gateway, internal):
    key = new_key(gateway, "ssrf")
    headers = {"authorization": f"Bearer {key}"}
    target = internal.url + "/latest/meta-data/iam"
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": target}},
             {"type": "input_audio", "input_audio": {"data": target, "format": "wav"}},
             {"type": "file", "file": {"file_data": target, "filename": "x.pdf"}}]
    forwarded = httpx.post(gateway.url + "/v1/chat/completions", headers=headers, json={
        "model": "sec/chat", "max_tokens": 2, "messages": [{"role": "user", "content": parts}],
        "api_base": internal.url, "base_url": internal.url, "callback_url": target,
        "tools": [{"type": "function", "function": {"name": "f", "description": target}}]})
    assert forwarded.status_code == 200  # legitimately valid: the parts go to the provider as they are
    refused = [
        httpx.post(gateway.url + "/v1/chat/completions", headers=headers, json={
            "model": "sec/chat", "messages": [{"role": "user", "content": "hi"}], "provider": {"base_url": target}}),
        httpx.post(gateway.url + "/v1/byok", headers=headers,
                   json={"provider": "alpha", "key": "k" * 20, "base_url": internal.url}),
        httpx.post(gateway.url + "/v1/keys", headers=AUTH, json={"name": "x", "webhook": target}),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400]
    httpx.post(gateway.url + "/v1/embeddings", headers=headers, json={"model": "sec/embed", "input": target})
    assert internal.connections == 0


def test_upstream_redirects_are_not_followed(demo, tmp_path, internal):
    """A compromised or misconfigured provider answering 307 to an internal address gets nothing."""
    async def bounce(request):
        return RedirectResponse(internal.url + "/admin", status_code=307)

    redirector = Starlette(routes=[Route("/v1/chat/completions", bounce, methods=["POST"])])
    with ServerThread(redirector) as upstream:
        catalog = {"providers": {"bouncer": {"base_url": upstream.url + "/v1"}},
                   "models": [{"id": "sec/bounce", "endpoints": [
                       {"provider": "bouncer", "prompt_price": 1e-7, "completion_price": 1e-7}]}]}
        settings = Settings(demo="off", data_dir=str(tmp_path), master_key=MASTER, telemetry=False)
        with ServerThread(create_app(settings, catalog=parse_catalog(catalog))) as server:
            for stream in (False, True):
                response = httpx.post(server.url + "/v1/chat/completions", headers=AUTH, json={
                    "model": "sec/bounce", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
                if stream and response.status_code == 200:  # headers went out before the empty body showed
                    assert '"code":502' in response.text and response.text.rstrip().endswith("data: [DONE]")
                else:
                    assert response.status_code == 502 and response.json()["error"]["code"] == 502
    assert internal.connections == 0
