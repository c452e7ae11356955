"""Keys: 401 for revoked/expired/unknown keys, 402 over a spend limit until its UTC reset, admin CRUD."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from router.billing import AuthenticationError, Billing, LimitExceeded
from router.billing.keys import hash_key
from router.billing.periods import period_start

from .billing_testapp import ADMIN, MASTER_KEY, bearer

DAY = 86_400.0
REQUEST = {"prompt_tokens": 1000, "max_tokens": 1000, "completion_tokens": 1000}  # list price 0.0076


def create(client, **fields) -> tuple[str, dict]:
    answer = client.post("/v1/keys", json={"name": "k", "account": "acme", **fields}, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return answer.json()["key"], answer.json()["data"]


def test_created_keys_authenticate_and_carry_their_account(client, billing):
    secret, info = create(client)
    assert secret.startswith("sk-sy-") and len(secret) > 40
    principal = billing.authenticate(f"Bearer {secret}")
    assert (principal.key_id, principal.account_id, principal.is_management) == (info["key_id"], "acme", False)
    assert principal.key_id not in hash_key(secret)  # the telemetry id is not a piece of the stored hash


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer sk-sy-not-a-real-key"])
def test_missing_malformed_or_unknown_keys_get_401(client, header):
    answer = client.get("/v1/key", headers={} if header is None else {"Authorization": header})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == 401
    assert answer.json()["error"]["type"] == "authentication_error"


def test_revoked_key_gets_401_on_every_route(client):
    secret, info = create(client)
    client.post("/v1/credits", json={"account": "acme", "amount": 1}, headers=ADMIN)
    assert client.post("/v1/chat/completions", json=REQUEST, headers=bearer(secret)).status_code == 200
    assert client.delete(f"/v1/keys/{info['key_id']}", headers=ADMIN).json()["deleted"] is True
    for answer in (client.post("/v1/chat/completions", json=REQUEST, headers=bearer(secret)),
                   client.get("/api/v1/key", headers=bearer(secret)),
                   client.get("/v1/credits", headers=bearer(secret))):
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "API key has been revoked"


def test_expired_key_gets_401(client, clock):
    expires = datetime.fromtimestamp(clock() + 3600, tz=timezone.utc).isoformat()
    secret, info = create(client, expires_at=expires)
    assert info["expires_at"].startswith(expires[:19])
    assert client.get("/v1/key", headers=bearer(secret)).status_code == 200
    clock.advance(3600)
    answer = client.get("/v1/key", headers=bearer(secret))
    assert answer.status_code == 401 and answer.json()["error"]["message"] == "API key has expired"


def test_disabled_key_gets_401_until_enabled(client):
    secret, info = create(client)
    client.patch(f"/v1/keys/{info['key_id']}", json={"disabled": True}, headers=ADMIN)
    assert client.get("/v1/key", headers=bearer(secret)).status_code == 401
    client.patch(f"/v1/keys/{info['key_id']}", json={"disabled": False}, headers=ADMIN)
    assert client.get("/v1/key", headers=bearer(secret)).status_code == 200


def test_key_over_its_daily_limit_gets_402_and_works_again_after_midnight_utc(client, clock):
    secret, _ = create(client, limit=0.02, limit_reset="daily")
    client.post("/v1/credits", json={"account": "acme", "amount": 10}, headers=ADMIN)
    served = [client.post("/v1/chat/completions", json=REQUEST, headers=bearer(secret)) for _ in range(3)]
    assert [answer.status_code for answer in served] == [200, 200, 402]
    assert served[2].json()["error"]["type"] == "insufficient_quota"
    assert "limit" in served[2].json()["error"]["message"]
    key = client.get("/v1/key", headers=bearer(secret)).json()["data"]
    assert key["limit_remaining"] == pytest.approx(0.02 - 2 * 0.00798)
    clock.advance(period_start("daily", clock()) + DAY - clock() - 1)  # 23:59:59
    assert client.post("/v1/chat/completions", json=REQUEST, headers=bearer(secret)).status_code == 402
    clock.advance(1)
    assert client.post("/v1/chat/completions", json=REQUEST, headers=bearer(secret)).status_code == 200
    key = client.get("/v1/key", headers=bearer(secret)).json()["data"]
    assert key["usage_daily"] == pytest.approx(0.00798)
    assert key["usage_monthly"] == pytest.approx(3 * 0.00798)


def test_weekly_and_monthly_windows_start_monday_and_the_first_in_utc():
    tuesday = datetime(2026, 3, 10, 12, tzinfo=timezone.utc).timestamp()
    assert period_start("weekly", tuesday) == datetime(2026, 3, 9, tzinfo=timezone.utc).timestamp()
    assert period_start("monthly", tuesday) == datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
    assert period_start(None, tuesday) == 0.0
    with pytest.raises(ValueError, match="daily, weekly, monthly"):
        period_start("hourly", tuesday)


def test_changing_the_reset_recounts_usage_from_the_ledger(billing, clock):
    secret, info = billing.create_key(name="k", account_id="acme", limit=Decimal("1"), limit_reset="daily")
    billing.add_credits("acme", Decimal("10"))
    principal = billing.authenticate(f"Bearer {secret}")
    billing.settle(billing.reserve(principal, Decimal("0.4")), Decimal("0.4"))
    clock.advance(DAY)
    billing.settle(billing.reserve(principal, Decimal("0.4")), Decimal("0.4"))
    assert billing.key_usage(principal)["limit_remaining"] == Decimal("0.58")
    billing.update_key(info["key_id"], limit_reset="monthly")
    assert billing.key_usage(principal)["limit_remaining"] == Decimal("0.16")
    with pytest.raises(LimitExceeded):
        billing.reserve(principal, Decimal("0.4"))


def test_master_key_is_accepted_on_inference_routes_and_charges_the_unlimited_default_account(client, billing):
    answer = client.post("/v1/chat/completions", json=REQUEST, headers=ADMIN)
    assert answer.status_code == 200
    credits = billing.credits("default")
    assert credits["unlimited"] is True and credits["total_usage"] == Decimal("0.00798")


def test_admin_routes_need_a_management_key(client):
    secret, info = create(client)
    user = bearer(secret)
    for method, path in (("get", "/v1/keys"), ("post", "/v1/keys"), (("patch", f"/v1/keys/{info['key_id']}")),
                         ("delete", f"/v1/keys/{info['key_id']}"), ("post", "/v1/credits")):
        answer = client.request(method, path, json={"name": "x", "account": "acme", "amount": 5}, headers=user)
        assert answer.status_code == 403, path
        assert answer.json()["error"]["type"] == "permission_error"


def test_key_crud_over_http(client):
    secret, info = create(client, limit="5", limit_reset="monthly", include_byok_in_limit=True)
    listed = client.get("/api/v1/keys", headers=ADMIN)
    assert secret not in listed.text and hash_key(secret) not in listed.text
    mine = [key for key in listed.json()["data"] if key["key_id"] == info["key_id"]]
    assert mine[0]["limit"] == 5 and mine[0]["limit_reset"] == "monthly" and mine[0]["include_byok_in_limit"]
    updated = client.patch(f"/v1/keys/{info['key_id']}", json={"name": "renamed", "limit": None}, headers=ADMIN)
    assert updated.json()["data"]["name"] == "renamed" and updated.json()["data"]["limit"] is None
    assert client.get(f"/v1/keys/{info['key_id']}", headers=ADMIN).json()["data"]["name"] == "renamed"
    assert client.patch("/v1/keys/nope", json={"name": "x"}, headers=ADMIN).status_code == 404
    bad = client.post("/v1/keys", json={"name": "k", "limit_reset": "hourly"}, headers=ADMIN)
    assert bad.status_code == 400 and "limit_reset" in bad.json()["error"]["message"]
    assert client.post("/v1/keys", json={"name": "k", "surprise": 1}, headers=ADMIN).status_code == 400


def test_a_generated_master_key_is_announced_once_even_with_several_workers(tmp_path: Path):
    announced: list[str] = []
    first = Billing.open(tmp_path / "b.sqlite", environ={}, announce=announced.append, checkpoint_interval_s=None)
    second = Billing.open(tmp_path / "b.sqlite", environ={}, announce=announced.append, checkpoint_interval_s=None)
    try:
        assert len(announced) == 1
        generated = announced[0].rsplit(" ", 1)[1]
        assert second.authenticate(f"Bearer {generated}").is_management
    finally:
        first.close()
        second.close()


def test_setting_the_master_key_env_var_replaces_the_previous_master(tmp_path: Path):
    announced: list[str] = []
    Billing.open(tmp_path / "b.sqlite", environ={}, announce=announced.append, checkpoint_interval_s=None).close()
    generated = announced[0].rsplit(" ", 1)[1]
    billing = Billing.open(tmp_path / "b.sqlite", environ={"SWITCHYARD_MASTER_KEY": MASTER_KEY},
                           announce=announced.append, checkpoint_interval_s=None)
    try:
        assert len(announced) == 1
        assert billing.authenticate(f"Bearer {MASTER_KEY}").is_management
        with pytest.raises(AuthenticationError, match="revoked"):
            billing.authenticate(f"Bearer {generated}")
    finally:
        billing.close()
