"""Authentication on every route the app has: enumerated from app.routes, so a new route must
either check the key or be added to PUBLIC here on purpose."""
from __future__ import annotations

import hmac
import re
import sys

import httpx
import pytest

from router.billing import Billing

from .conftest import AUTH, MASTER, new_key

# Reachable without a key, by design: health, metrics, the model catalog, API docs, the marketplace.
PUBLIC = {
    ("GET", "/health"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
    ("GET", "/v1/models"), ("GET", "/api/v1/models"),
    ("GET", "/v1/models/{author}/{slug}/endpoints"), ("GET", "/api/v1/models/{author}/{slug}/endpoints"),
    ("GET", "/"), ("GET", "/models"), ("GET", "/models/{model_id:path}"),
    ("GET", "/marketplace/api/models"), ("GET", "/marketplace/api/stats"),
    ("GET", "/marketplace/api/models/{model_id:path}"), ("GET", "/marketplace/api/models/{model_id:path}/history"),
}
# Only a management key may use these.
ADMIN = {("POST", "/credits"), ("GET", "/keys"), ("POST", "/keys"), ("GET", "/keys/{key_id}"),
         ("PATCH", "/keys/{key_id}"), ("DELETE", "/keys/{key_id}")}


def all_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route, including those of included routers."""
    found = []

    def walk(routes):
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # FastAPI's lazily included router
                for context in (contexts() if callable(contexts) else contexts):
                    found.extend((m, context.path) for m in context.methods or ())
            elif hasattr(route, "methods") and route.methods:
                found.extend((m, route.path) for m in route.methods if m != "HEAD")
            elif hasattr(route, "routes") and route.path:  # a mounted sub-application with routes
                walk(route.routes)
    walk(app.routes)
    return sorted(set(found))


def concrete(path: str) -> str:
    values = {"author": "sec", "slug": "chat", "model_id:path": "sec/chat", "key_id": "0123456789abcdef",
              "provider": "alpha"}
    return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "x"), path)


def test_route_table_is_what_this_suite_expects(gateway):
    routes = all_routes(gateway.app)
    assert len(routes) >= 40
    assert PUBLIC <= set(routes)  # a renamed public route shows up here


@pytest.mark.parametrize("credentials", [None, "Bearer sk-sy-not-a-key", "Basic Zm9vOmJhcg==", "Bearer"])
def test_every_non_public_route_refuses_without_a_valid_key(gateway, credentials):
    headers = {"authorization": credentials} if credentials else {}
    checked = 0
    for method, path in all_routes(gateway.app):
        if (method, path) in PUBLIC:
            continue
        response = httpx.request(method, gateway.url + concrete(path), headers=headers, content=b"{}")
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        error = response.json()["error"]
        assert error["code"] == 401 and error["message"]
        if credentials:
            assert credentials.split()[-1] not in response.text or credentials == "Bearer"
        checked += 1
    assert checked >= 30


def test_every_public_route_answers_without_a_key(gateway):
    for method, path in PUBLIC:
        response = httpx.request(method, gateway.url + concrete(path))
        assert response.status_code == 200, (path, response.status_code)


def test_admin_routes_need_the_management_key(gateway):
    user = {"authorization": f"Bearer {new_key(gateway, 'plain')}"}
    admin_routes = [(m, p) for m, p in all_routes(gateway.app) if (m, p.removeprefix("/api").removeprefix("/v1"))
                    in ADMIN]
    assert len(admin_routes) == 2 * len(ADMIN)
    for method, path in admin_routes:
        refused = httpx.request(method, gateway.url + concrete(path), headers=user, content=b"{}")
        assert refused.status_code == 403, (method, path, refused.text)
        allowed = httpx.request(method, gateway.url + concrete(path), headers=AUTH, content=b"{}")
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)


def test_a_user_key_cannot_act_on_another_account(gateway):
    user = {"authorization": f"Bearer {new_key(gateway, 'tenant-a')}"}
    for method, path, body in [("GET", "/v1/byok?account=tenant-b", None),
                               ("POST", "/v1/byok", {"provider": "alpha", "key": "x" * 20, "account": "tenant-b"}),
                               ("DELETE", "/v1/byok/alpha?account=tenant-b", None)]:
        response = httpx.request(method, gateway.url + path, headers=user, json=body)
        assert response.status_code == 403, (method, path, response.text)


def test_generation_detail_is_only_for_its_owner(gateway):
    owner = new_key(gateway, "owner")
    other = new_key(gateway, "other")
    answer = httpx.post(gateway.url + "/v1/chat/completions", headers={"authorization": f"Bearer {owner}"},
                        json={"model": "sec/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
    generation_id = answer.json()["id"]
    url = gateway.url + f"/v1/generation?id={generation_id}"
    assert httpx.get(url, headers={"authorization": f"Bearer {owner}"}).status_code == 200
    assert httpx.get(url, headers={"authorization": f"Bearer {other}"}).status_code == 404
    assert httpx.get(url, headers=AUTH).status_code == 200


def test_key_check_compares_in_constant_time(tmp_path):
    """Trace the C calls made while authenticating: the stored and presented hashes are compared
    with hmac.compare_digest, never with ==."""
    billing = Billing.open(tmp_path / "billing.sqlite", master_key=MASTER, environ={})
    calls: list[str] = []

    def profiler(frame, event, arg):
        if event == "c_call":
            calls.append(getattr(arg, "__qualname__", repr(arg)))

    try:
        sys.setprofile(profiler)
        try:
            billing.authenticate(f"Bearer {MASTER}")
        finally:
            sys.setprofile(None)
    finally:
        billing.close()
    assert hmac.compare_digest.__qualname__ in calls
