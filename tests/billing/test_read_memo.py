"""The memo of key and BYOK reads (`router.billing.read_memo`): a hit skips SQLite, and no change to a
key, an account or a BYOK key goes unseen, whoever makes it."""
from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal

import pytest

from router.billing import AuthenticationError, Billing

from .billing_testapp import MASTER_KEY


def _key_reads(billing: Billing) -> list[str]:
    """Start recording the SELECTs on `keys` this thread's connection runs."""
    seen: list[str] = []
    billing.store._connection().set_trace_callback(
        lambda sql: seen.append(sql) if sql.lstrip().upper().startswith("SELECT") and " keys " in sql else None)
    return seen


def test_a_second_authentication_reads_nothing_from_sqlite(billing):
    secret, _ = billing.create_key(name="app")
    billing.authenticate(f"Bearer {secret}")
    reads = _key_reads(billing)
    for _ in range(3):
        billing.authenticate(f"Bearer {secret}")
    assert reads == []


def test_wrong_keys_are_not_remembered(billing):
    reads = _key_reads(billing)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            billing.authenticate("Bearer sk-sy-not-a-key")
    assert len(reads) == 3


def test_changes_through_the_same_billing_are_seen_at_once(billing):
    secret, info = billing.create_key(name="app")
    assert billing.authenticate(f"Bearer {secret}").needs_hold is False  # unlimited default account, no limit
    billing.update_key(info["key_id"], limit=Decimal("1"))
    assert billing.authenticate(f"Bearer {secret}").needs_hold is True
    billing.set_byok_key("default", "openai", "sk-own")
    assert billing.byok_keys("default") == {"openai": "sk-own"}
    billing.delete_byok_key("default", "openai")
    assert billing.byok_keys("default") == {}
    billing.revoke_key(info["key_id"])
    with pytest.raises(AuthenticationError, match="revoked"):
        billing.authenticate(f"Bearer {secret}")


def test_changes_by_another_thread_are_seen_at_once(billing):
    secret, info = billing.create_key(name="app")
    billing.authenticate(f"Bearer {secret}")
    thread = threading.Thread(target=billing.update_key, args=(info["key_id"],), kwargs={"disabled": True})
    thread.start()
    thread.join()
    with pytest.raises(AuthenticationError, match="disabled"):
        billing.authenticate(f"Bearer {secret}")


def test_changes_by_another_process_are_seen_at_once(billing, db_path, clock):
    secret, info = billing.create_key(name="app")
    billing.authenticate(f"Bearer {secret}")
    assert billing.byok_keys("default") == {}
    # Another gateway worker (its own store and connections), then sqlite3 by hand.
    other = Billing.open(db_path, master_key=MASTER_KEY, environ={}, now=clock)
    try:
        other.set_byok_key("default", "groq", "gsk-own")
    finally:
        other.close()
    assert billing.byok_keys("default") == {"groq": "gsk-own"}
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE keys SET revoked_at = 1 WHERE key_id = ?", (info["key_id"],))
    with pytest.raises(AuthenticationError, match="revoked"):
        billing.authenticate(f"Bearer {secret}")


def test_expiry_is_checked_on_every_request(billing, clock):
    secret, _ = billing.create_key(name="app", expires_at=clock() + 10)
    billing.authenticate(f"Bearer {secret}")
    clock.advance(11)
    with pytest.raises(AuthenticationError, match="expired"):
        billing.authenticate(f"Bearer {secret}")
