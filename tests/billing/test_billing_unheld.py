"""Unlimited accounts: a key without a spend limit holds nothing, and is still charged exactly once."""
from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from router.billing import DEFAULT_ACCOUNT, LimitExceeded

from .billing_testapp import MASTER_KEY


def _rows(db_path, table: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_an_unlimited_key_holds_nothing_and_is_charged_once(billing, db_path):
    master = billing.authenticate(f"Bearer {MASTER_KEY}")
    assert not master.needs_hold
    hold = billing.reserve(master, Decimal("5"))
    assert not hold.held and _rows(db_path, "reservations") == 0
    assert billing.credits(DEFAULT_ACCOUNT)["reserved"] == 0
    assert billing.settle(hold, Decimal("0.1")) == Decimal("0.105")
    assert billing.settle(hold, Decimal("0.1")) == 0  # a second settle finds the ledger entry
    billing.release(hold)
    dropped = billing.reserve(master, Decimal("5"))
    billing.release(dropped)
    assert billing.settle(billing.reserve(master, Decimal("1")), Decimal(0)) == 0
    assert billing.credits(DEFAULT_ACCOUNT)["total_usage"] == Decimal("0.105")
    assert _rows(db_path, "ledger") == 1


def test_a_spend_limit_on_an_unlimited_account_still_holds(billing, db_path):
    secret, _ = billing.create_key(name="capped", account_id=DEFAULT_ACCOUNT, limit=Decimal("1"))
    capped = billing.authenticate(f"Bearer {secret}")
    assert capped.needs_hold
    first = billing.reserve(capped, Decimal("0.9"))
    assert first.held and _rows(db_path, "reservations") == 1
    with pytest.raises(LimitExceeded):  # the open hold counts against the limit
        billing.reserve(capped, Decimal("0.2"))
    billing.release(first)
    billing.reserve(capped, Decimal("0.2"))


def test_a_prepaid_account_holds(billing):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", Decimal("1"))
    principal = billing.authenticate(f"Bearer {secret}")
    assert principal.needs_hold
    billing.reserve(principal, Decimal("0.5"))
    assert billing.credits("acme")["reserved"] == Decimal("0.525")
