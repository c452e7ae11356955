"""The completion routes' direct lane (`GatewayApp.lanes`) and the 500 shape on both paths."""
from __future__ import annotations

import httpx

from tests.router.conftest import AUTH

CHAT = {"model": "test/llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


def test_completions_take_the_lane_and_other_routes_the_middleware(gateway):
    app = gateway.app
    assert set(app.lanes) == {p + r for p in ("/v1", "/api/v1") for r in ("/chat/completions", "/completions",
                                                                          "/embeddings")}

    async def broken_stack(scope, receive, send):
        raise RuntimeError("the middleware stack was used")

    saved, app.middleware_stack = app.middleware_stack, broken_stack
    try:
        assert httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        assert httpx.post(gateway.url + "/api/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        # GET on a lane path is not the lane's: it goes to FastAPI (here broken on purpose).
        assert httpx.get(gateway.url + "/v1/chat/completions", headers=AUTH).status_code == 500
    finally:
        app.middleware_stack = saved
    assert httpx.get(gateway.url + "/v1/chat/completions", headers=AUTH).status_code == 405


def test_unexpected_errors_are_500_in_the_openai_shape_without_internals(gateway, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(gateway.app.state.dispatcher, "plan", explode)
    lane = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=AUTH)
    monkeypatch.setattr("router.app.model_view", explode)
    routed = httpx.get(gateway.url + "/v1/models", headers=AUTH)
    for response in (lane, routed):
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == 500 and error["type"] == "api_error"
        assert "secret internal detail" not in response.text
