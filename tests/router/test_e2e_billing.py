"""Billing through the real gateway: keys, 402 before any upstream call, exact ledger, BYOK."""
from __future__ import annotations

import hashlib
from decimal import Decimal

import httpx
import openai
import pytest

from tests.router.conftest import AUTH, upstream_requests

HELLO = [{"role": "user", "content": "Say hello"}]


def admin(gateway, method: str, path: str, **kw) -> dict:
    response = httpx.request(method, gateway.url + "/v1" + path, headers=AUTH, **kw)
    assert response.status_code < 300, response.text
    return response.json()


def new_key(gateway, account: str, **extra) -> str:
    return admin(gateway, "POST", "/keys", json={"name": f"k-{account}", "account": account, **extra})["key"]


def test_prepaid_balance_is_debited_exactly_what_usage_reports(gateway):
    key = new_key(gateway, "acme")
    admin(gateway, "POST", "/credits", json={"account": "acme", "amount": "1.00"})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    costs = []
    for stream in (False, True, False):
        if stream:
            chunks = list(client.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=9, stream=True))
            costs.append(Decimal(repr(chunks[-1].usage.cost)))
        else:
            costs.append(Decimal(repr(client.chat.completions.create(
                model="test/llama", messages=HELLO, max_tokens=9).usage.cost)))
    credits = httpx.get(gateway.url + "/v1/credits", headers={"authorization": f"Bearer {key}"}).json()["data"]
    assert Decimal(str(credits["total_credits"])) == Decimal("1.00")
    assert Decimal(str(credits["total_usage"])) == pytest.approx(sum(costs), abs=Decimal("1e-9"))


def test_insufficient_balance_is_402_before_any_upstream_call(gateway, demo):
    key = new_key(gateway, "poor")
    admin(gateway, "POST", "/credits", json={"account": "poor", "amount": "0.000001"})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=4000)
    assert info.value.status_code == 402
    assert sum(upstream_requests(demo).values()) == 0


def test_unknown_revoked_and_missing_keys_are_401(gateway):
    for key in ("sk-sy-not-a-real-key", ""):
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=gateway.url + "/v1", api_key=key or "x", max_retries=0).chat.completions.create(
                model="test/llama", messages=HELLO)
    key = new_key(gateway, "gone")
    listing = admin(gateway, "GET", "/keys", params={"account": "gone"})["data"]
    admin(gateway, "DELETE", f"/keys/{listing[0]['key_id']}")
    with pytest.raises(openai.AuthenticationError) as info:
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0).chat.completions.create(
            model="test/llama", messages=HELLO)
    assert key not in str(info.value.body)


def test_byok_uses_the_callers_key_and_charges_only_the_fee(gateway, demo):
    key = new_key(gateway, "byo")
    byok_secret = "prov-secret-alpha-1234567890"
    response = httpx.post(gateway.url + "/v1/byok", json={"provider": "alpha", "key": byok_secret},
                          headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 201 and byok_secret not in response.text
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    admin(gateway, "POST", "/credits", json={"account": "byo", "amount": "0.01"})
    answer = client.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=10,
                                            extra_body={"provider": {"order": ["alpha"]}})
    assert answer.usage.is_byok is True
    list_price = answer.usage.prompt_tokens * 3e-7 + answer.usage.completion_tokens * 6e-7
    assert answer.usage.cost == pytest.approx(0.05 * list_price, rel=1e-6)
    seen = httpx.get(f"http://127.0.0.1:{demo.port}/_stats").json()["key_fingerprints"]["alpha"]
    assert seen == hashlib.sha256(byok_secret.encode()).hexdigest()[:16]

def test_byok_requests_need_credits_only_for_the_fee(gateway):
    key = new_key(gateway, "byo2")
    headers = {"authorization": f"Bearer {key}"}
    httpx.post(gateway.url + "/v1/byok", json={"provider": "alpha", "key": "prov-secret-xyz-123456"}, headers=headers)
    # 8192 tokens at $6e-7 is ~$0.005 at list price; 5% of it fits in a $0.0003 balance, the list price does not
    admin(gateway, "POST", "/credits", json={"account": "byo2", "amount": "0.0003"})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    answer = client.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=8000,
                                            extra_body={"provider": {"only": ["alpha"]}})
    assert answer.usage.is_byok
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=8000,
                                       extra_body={"provider": {"only": ["beta"]}})
    assert info.value.status_code == 402
