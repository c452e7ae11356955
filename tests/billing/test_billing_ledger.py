"""The ledger never loses or double-counts money: exact Decimal sums, fees, idempotent settles, crashes."""
from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from router.billing import Billing, request_cost
from router.billing.money import from_nanos, to_nanos

from .billing_testapp import ADMIN, COMPLETION_PRICE, MASTER_KEY, PROMPT_PRICE, bearer

NANO = Decimal("0.000000001")


def expected_charge(cost: Decimal, fee_rate: Decimal, is_byok: bool) -> Decimal:
    """The fee rule, written out independently of the service."""
    fee = (cost * fee_rate).quantize(NANO, ROUND_HALF_EVEN)
    return fee if is_byok else cost.quantize(NANO, ROUND_HALF_EVEN) + fee


def test_balance_after_a_mixed_run_equals_top_ups_minus_settled_costs_and_fees(client, billing):
    created = client.post("/v1/keys", json={"name": "alice", "account": "acme"}, headers=ADMIN).json()
    alice = bearer(created["key"])
    client.post("/v1/credits", json={"account": "acme", "amount": "7.31"}, headers=ADMIN)
    client.post("/v1/credits", json={"account": "acme", "amount": 2.69}, headers=ADMIN)
    rng = random.Random(7)
    charged_total, byok_list_total = Decimal(0), Decimal(0)
    for index in range(120):
        if index == 60:  # the second half mixes in BYOK requests for one provider
            assert client.post("/v1/byok", json={"provider": "together", "key": "tg-own-key"}, headers=alice).status_code == 201
        prompt, completion = rng.randint(1, 4000), rng.choice([0, rng.randint(1, 900)])
        provider = rng.choice(["openai", "together"])
        fail = rng.random() < 0.15
        answer = client.post("/v1/chat/completions", headers=alice, json={
            "prompt_tokens": prompt, "max_tokens": 1000, "completion_tokens": completion, "provider": provider,
            "fail": fail})
        if fail:
            assert answer.status_code == 502
            continue
        usage = answer.json()["usage"]
        cost = Decimal(0) if completion == 0 else request_cost(
            prompt, completion, prompt_price=PROMPT_PRICE, completion_price=COMPLETION_PRICE)
        charged = Decimal(usage["cost_exact"])
        assert charged == (expected_charge(cost, billing.byok_fee if usage["is_byok"] else billing.platform_fee,
                                           usage["is_byok"]) if cost else 0)
        charged_total += charged
        byok_list_total += cost if usage["is_byok"] else 0
    credits = billing.credits("acme")
    assert credits["total_credits"] == Decimal("10")
    assert credits["total_usage"] == charged_total
    assert credits["balance"] == Decimal("10") - charged_total
    assert credits["reserved"] == 0  # every hold was settled or released
    assert byok_list_total > 0
    key = client.get("/v1/key", headers=alice).json()["data"]
    assert key["usage"] == float(charged_total)
    assert key["byok_usage"] == float(byok_list_total)


def test_platform_fee_is_a_percentage_of_usage(billing):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", Decimal("1"))
    principal = billing.authenticate(f"Bearer {secret}")
    assert billing.settle(billing.reserve(principal, Decimal("0.02")), Decimal("0.01")) == Decimal("0.0105")
    assert billing.settle(billing.reserve(principal, Decimal("0.02")), Decimal("0.01"), is_byok=True) == Decimal("0.0005")
    assert billing.credits("acme")["balance"] == Decimal("0.989")


def test_failed_or_empty_completions_are_not_billed(billing):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", Decimal("1"))
    principal = billing.authenticate(f"Bearer {secret}")
    billing.release(billing.reserve(principal, Decimal("0.5")))
    assert billing.settle(billing.reserve(principal, Decimal("0.5")), Decimal(0)) == 0
    assert billing.credits("acme") == {"total_credits": Decimal(1), "total_usage": Decimal(0), "balance": Decimal(1),
                                       "reserved": Decimal(0), "unlimited": False}


def test_settling_twice_or_after_release_charges_once(billing):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", Decimal("1"))
    principal = billing.authenticate(f"Bearer {secret}")
    hold = billing.reserve(principal, Decimal("0.1"))
    assert billing.settle(hold, Decimal("0.1")) == Decimal("0.105")
    assert billing.settle(hold, Decimal("0.1")) == 0
    billing.release(hold)
    released = billing.reserve(principal, Decimal("0.1"))
    billing.release(released)
    assert billing.settle(released, Decimal("0.1")) == 0
    assert billing.credits("acme")["balance"] == Decimal("0.895")


def test_expired_holds_are_freed_and_a_late_settle_still_bills_once(billing, clock):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", Decimal("1"))
    principal = billing.authenticate(f"Bearer {secret}")
    orphan = billing.reserve(principal, Decimal("0.9"))  # a worker crashed after reserving
    assert billing.credits("acme")["reserved"] == Decimal("0.945")
    clock.advance(billing.reservation_ttl_s + 1)
    assert billing.store.purge_expired(clock()) == 1
    assert billing.credits("acme")["reserved"] == 0
    assert billing.settle(orphan, Decimal("0.2")) == Decimal("0.21")  # the slow request did finish
    assert billing.settle(orphan, Decimal("0.2")) == 0
    assert billing.credits("acme") == {"total_credits": Decimal(1), "total_usage": Decimal("0.21"),
                                       "balance": Decimal("0.79"), "reserved": Decimal(0), "unlimited": False}


def test_reserve_purges_expired_holds_on_its_own(billing, clock):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", Decimal("1"))
    principal = billing.authenticate(f"Bearer {secret}")
    billing.reserve(principal, Decimal("0.9"))
    clock.advance(billing.reservation_ttl_s + 60)
    billing.release(billing.reserve(principal, Decimal("0.9")))  # would be refused if the orphan still held


def test_a_settled_debit_survives_a_worker_crash(db_path: Path):
    script = textwrap.dedent(f"""
        import os
        from decimal import Decimal
        from router.billing import Billing
        billing = Billing.open({str(db_path)!r}, master_key={MASTER_KEY!r}, environ={{}})
        secret, _ = billing.create_key(name="k", account_id="acme")
        billing.add_credits("acme", Decimal("5"))
        principal = billing.authenticate("Bearer " + secret)
        billing.settle(billing.reserve(principal, Decimal("1")), Decimal("0.4"))
        billing.reserve(principal, Decimal("2"))  # in flight when the worker dies
        os._exit(9)  # no close, no cleanup: like a SIGKILL mid-request
    """)
    crashed = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True)
    assert crashed.returncode == 9, crashed.stderr.decode()
    billing = Billing.open(db_path, master_key=MASTER_KEY, environ={}, checkpoint_interval_s=None)
    try:
        assert billing.credits("acme")["total_usage"] == Decimal("0.42")
        assert billing.credits("acme")["reserved"] == Decimal("2.1")  # until the orphaned hold expires
        billing.store.purge_expired(time.time() + billing.reservation_ttl_s + 1)
        assert billing.credits("acme")["balance"] - billing.credits("acme")["reserved"] == Decimal("4.58")
    finally:
        billing.close()


def test_money_conversions_are_exact():
    assert to_nanos(Decimal("0.0000000015")) == 2  # half-even
    assert to_nanos(Decimal("0.0000000025")) == 2
    assert to_nanos(Decimal("0.0000000021"), round_up=True) == 3  # holds never under-reserve
    assert from_nanos(to_nanos(Decimal("123456.789012345"))) == Decimal("123456.789012345")
    assert request_cost(3, 5, prompt_price=1.5e-7, completion_price=6e-7) == Decimal("0.00000345")
