"""No key — clear or hashed — appears in log output or in error messages."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from router.billing import AuthenticationError, InsufficientCredits
from router.billing.keys import hash_key

from .billing_testapp import ADMIN, MASTER_KEY, bearer

OWN_KEY = "sk-own-anthropic-key-91b2c3d4"
WRONG_KEY = "sk-sy-this-key-was-never-issued-0000"


def test_keys_never_reach_logs_or_error_bodies(client, billing, clock, caplog):
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    def call(method: str, path: str, **kwargs):
        answer = client.request(method, path, **kwargs)
        bodies.append(answer.text)
        return answer

    created = client.post("/v1/keys", json={"name": "alice", "account": "acme", "limit": 0.01}, headers=ADMIN).json()
    alice = created["key"]
    revoked = client.post("/v1/keys", json={"name": "old", "account": "acme"}, headers=ADMIN).json()
    call("delete", f"/v1/keys/{revoked['data']['key_id']}", headers=ADMIN)
    call("post", "/v1/credits", json={"account": "acme", "amount": 1}, headers=ADMIN)
    call("post", "/v1/byok", json={"provider": "anthropic", "key": OWN_KEY}, headers=bearer(alice))
    request = {"prompt_tokens": 1000, "max_tokens": 1000, "completion_tokens": 1000, "provider": "anthropic"}
    assert call("post", "/v1/chat/completions", json=request, headers=bearer(alice)).status_code == 200
    assert call("post", "/v1/chat/completions", json={**request, "max_tokens": 100_000},
                headers=bearer(alice)).status_code == 402
    assert call("get", "/v1/key", headers=bearer(WRONG_KEY)).status_code == 401
    assert call("get", "/v1/key", headers=bearer(revoked["key"])).status_code == 401
    assert call("get", "/v1/keys", headers=bearer(alice)).status_code == 403
    assert call("post", "/v1/byok", json={"provider": "x", "key": OWN_KEY, "bogus": 1},
                headers=bearer(alice)).status_code == 400
    assert call("get", "/v1/keys", headers=ADMIN).status_code == 200

    assert "created key" in caplog.text and "reservation refused" in caplog.text  # logging did happen
    secrets = [MASTER_KEY, alice, revoked["key"], WRONG_KEY, OWN_KEY]
    for secret in secrets:
        for form in (secret, hash_key(secret)):
            assert form not in caplog.text
            assert all(form not in body for body in bodies)


def test_exceptions_do_not_carry_the_presented_key(billing):
    with pytest.raises(AuthenticationError) as unknown:
        billing.authenticate(f"Bearer {WRONG_KEY}")
    secret, _ = billing.create_key(name="k", account_id="broke")
    with pytest.raises(InsufficientCredits) as broke:
        billing.reserve(billing.authenticate(f"Bearer {secret}"), Decimal("1"))
    for error in (unknown.value, broke.value):
        text = f"{error!r} {error} {error.body()}"
        for form in (WRONG_KEY, hash_key(WRONG_KEY), secret, hash_key(secret)):
            assert form not in text
