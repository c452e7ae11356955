"""Bring-your-own keys: used for their provider, charged only the fee, encrypted at rest, never returned."""
from __future__ import annotations

import stat
from decimal import Decimal
from pathlib import Path

import pytest

from router.billing import Billing

from .billing_testapp import ADMIN, MASTER_KEY, PLATFORM_PROVIDER_KEY, bearer

OWN_KEY = "sk-own-openai-key-7f3a9c1e5b2d"
REQUEST = {"prompt_tokens": 1000, "max_tokens": 1000, "completion_tokens": 1000}  # list price 0.0076


@pytest.fixture
def alice(client) -> dict[str, str]:
    created = client.post("/v1/keys", json={"name": "alice", "account": "acme"}, headers=ADMIN).json()
    client.post("/v1/credits", json={"account": "acme", "amount": 1}, headers=ADMIN)
    return bearer(created["key"])


def test_byok_requests_use_the_users_key_and_charge_only_the_fee(client, billing, upstream, alice):
    registered = client.post("/v1/byok", json={"provider": "openai", "key": OWN_KEY}, headers=alice)
    assert registered.status_code == 201 and OWN_KEY not in registered.text
    own = client.post("/v1/chat/completions", json={**REQUEST, "provider": "openai"}, headers=alice).json()
    platform = client.post("/v1/chat/completions", json={**REQUEST, "provider": "together"}, headers=alice).json()
    assert upstream.seen_keys == [OWN_KEY, PLATFORM_PROVIDER_KEY]
    assert own["usage"]["is_byok"] is True and own["usage"]["cost_exact"] == "0.00038"  # 5% of 0.0076
    assert platform["usage"]["is_byok"] is False and platform["usage"]["cost_exact"] == "0.00798"
    assert billing.credits("acme")["balance"] == Decimal("1") - Decimal("0.00038") - Decimal("0.00798")
    key = client.get("/v1/key", headers=alice).json()["data"]
    assert key["byok_usage"] == pytest.approx(0.0076) and key["byok_usage_daily"] == pytest.approx(0.0076)
    assert key["usage"] == pytest.approx(0.00836)


def test_byok_list_cost_counts_toward_a_limit_only_when_asked(billing):
    for include in (False, True):
        secret, _ = billing.create_key(name=f"k{include}", account_id="acme", limit=Decimal("1"),
                                       include_byok_in_limit=include)
        principal = billing.authenticate(f"Bearer {secret}")
        billing.add_credits("acme", Decimal("10"))
        billing.settle(billing.reserve(principal, Decimal("0.5")), Decimal("0.5"), is_byok=True)
        expected = Decimal("0.475") if include else Decimal("0.975")  # 1 - (fee + list cost) or 1 - fee
        assert billing.key_usage(principal)["limit_remaining"] == expected


def test_byok_keys_are_encrypted_at_rest_and_never_returned(client, billing, alice, db_path: Path):
    client.post("/v1/byok", json={"provider": "openai", "key": OWN_KEY}, headers=alice)
    listed = client.get("/v1/byok", headers=alice)
    assert listed.json() == {"data": [{"provider": "openai", "account": "acme"}]}
    raw = b"".join(path.read_bytes() for path in db_path.parent.iterdir() if path.name.startswith(db_path.name)
                   and path.is_file())
    assert OWN_KEY.encode() not in raw
    assert billing.byok_key("acme", "openai") == OWN_KEY
    assert billing.byok_keys("acme") == {"openai": OWN_KEY} and billing.byok_keys("nobody") == {}
    secret_file = db_path.with_name(db_path.name + ".secret")
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    deleted = client.delete("/v1/byok/openai", headers=alice)
    assert deleted.status_code == 200 and OWN_KEY not in deleted.text
    assert billing.byok_key("acme", "openai") is None
    assert client.delete("/v1/byok/openai", headers=alice).status_code == 404


def test_only_management_keys_manage_another_accounts_byok_keys(client, alice, billing):
    other = client.post("/v1/byok", json={"provider": "openai", "key": OWN_KEY, "account": "globex"}, headers=alice)
    assert other.status_code == 403
    assert client.post("/v1/byok", json={"provider": "openai", "key": OWN_KEY, "account": "globex"},
                       headers=ADMIN).status_code == 201
    assert billing.byok_providers("globex") == ["openai"]


def test_invalid_byok_bodies_are_rejected_without_echoing_the_key(client, alice):
    for body in ({"key": OWN_KEY}, {"provider": "Not A Slug!", "key": OWN_KEY}, {"provider": "openai", "key": ""},
                 {"provider": "openai", "key": OWN_KEY, "extra": OWN_KEY}):
        answer = client.post("/v1/byok", json=body, headers=alice)
        assert answer.status_code == 400 and OWN_KEY not in answer.text


def test_stored_keys_cannot_be_read_with_another_secret(db_path: Path, clock, billing):
    billing.set_byok_key("acme", "openai", OWN_KEY)
    other = Billing.open(db_path, master_key=MASTER_KEY, environ={"SWITCHYARD_SECRET_KEY": "a different secret"},
                         checkpoint_interval_s=None)
    try:
        with pytest.raises(ValueError, match="cannot be decrypted") as failure:
            other.byok_key("acme", "openai")
        assert OWN_KEY not in str(failure.value)
    finally:
        other.close()
