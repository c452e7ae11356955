"""`switchyard keys create|list|revoke` and `credits add|show` on the store file."""
from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path

from router.billing import Billing
from router.billing.cli import add_subcommands
from router.billing.keys import hash_key

from .billing_testapp import MASTER_KEY


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="switchyard")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_creates_lists_revokes_keys_and_adds_credits(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", MASTER_KEY)
    db = str(tmp_path / "billing.sqlite")
    assert run("keys", "create", "--name", "alice", "--account", "acme", "--limit", "20", "--limit-reset", "monthly",
               "--db", db) == 0
    created = capsys.readouterr().out
    secret = next(word for word in created.split() if word.startswith("sk-sy-"))
    key_id = created.split()[1]
    assert run("credits", "add", "acme", "12.50", "--db", db) == 0
    assert "balance 12.5 USD" in capsys.readouterr().out
    assert run("keys", "list", "--json", "--db", db) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and secret not in listing and hash_key(secret) not in listing
    assert run("keys", "revoke", key_id, "--db", db) == 0
    assert run("keys", "revoke", "no-such-key", "--db", db) == 1
    assert "no key with id" in capsys.readouterr().err

    billing = Billing.open(db, master_key=MASTER_KEY, environ={}, checkpoint_interval_s=None)
    try:
        assert billing.credits("acme")["balance"] == Decimal("12.5")
        assert billing.get_key(key_id)["revoked"] is True
        assert billing.get_key(key_id)["limit"] == Decimal("20")
    finally:
        billing.close()


def test_cli_can_mint_a_management_key_when_the_master_key_is_lost(tmp_path: Path, capsys):
    db = str(tmp_path / "billing.sqlite")
    assert run("keys", "create", "--name", "ops", "--management", "--db", db) == 0
    secret = next(word for word in capsys.readouterr().out.split() if word.startswith("sk-sy-"))
    billing = Billing.open(db, master_key=MASTER_KEY, environ={}, checkpoint_interval_s=None)
    try:
        assert billing.authenticate(f"Bearer {secret}").is_management
    finally:
        billing.close()
