"""`switchyard keys create|list|revoke` and `switchyard credits add|show`, working on the store file.

They open the same SQLite file as the running gateway (safe: every write is a transaction), so they
work whether or not the gateway runs — including to mint a new management key if the printed master
key was lost:

    switchyard keys create --name ops --management
    switchyard keys create --name alice --account acme --limit 20 --limit-reset monthly
    switchyard credits add acme 50
"""
from __future__ import annotations

import argparse
from contextlib import closing
import functools
import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from .errors import BillingError
from .money import parse_usd
from .periods import LIMIT_RESETS
from .service import DEFAULT_ACCOUNT, Billing

__all__ = ["add_subcommands", "default_db_path"]


def default_db_path(environ: dict[str, str] | None = None) -> Path:
    """`$SWITCHYARD_DATA_DIR/billing.sqlite` (default `var/billing.sqlite`), as `Settings.billing_path`."""
    environ = dict(os.environ if environ is None else environ)
    return Path(environ.get("SWITCHYARD_DATA_DIR", "var")) / "billing.sqlite"


def add_subcommands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)

    create = keys_sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--account", default=DEFAULT_ACCOUNT,
                        help=f"account whose credits it spends (default {DEFAULT_ACCOUNT!r}: unlimited)")
    create.add_argument("--limit", default=None, help="spend limit in USD")
    create.add_argument("--limit-reset", choices=LIMIT_RESETS, default=None)
    create.add_argument("--expires-at", default=None, help="ISO 8601 time, UTC unless it carries an offset")
    create.add_argument("--include-byok-in-limit", action="store_true")
    create.add_argument("--management", action="store_true", help="may call the admin routes")
    create.set_defaults(func=_keys_create)

    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--account", default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_keys_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a key by its key_id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_keys_revoke)

    credits = subparsers.add_parser("credits", help="prepaid credits")
    credits_sub = credits.add_subparsers(dest="credits_command", required=True)
    add = credits_sub.add_parser("add", help="record a top-up for an account")
    add.add_argument("account")
    add.add_argument("amount", help="USD, e.g. 25 or 12.50")
    add.add_argument("--note", default="")
    add.set_defaults(func=_credits_add)
    show = credits_sub.add_parser("show", help="total credits, usage and balance of an account")
    show.add_argument("account")
    show.set_defaults(func=_credits_show)

    for parser in (create, listing, revoke, add, show):
        parser.add_argument("--db", type=Path, default=None,
                            help="billing store file (default $SWITCHYARD_DATA_DIR/billing.sqlite, ./var)")


def _reporting_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print a billing error's message (never a key) and exit 1, instead of a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (BillingError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return run


def _open(args: argparse.Namespace) -> Billing:
    return Billing.open(args.db or default_db_path(), checkpoint_interval_s=None)


@_reporting_errors
def _keys_create(args: argparse.Namespace) -> int:
    expires_at = None
    if args.expires_at:
        moment = datetime.fromisoformat(args.expires_at)
        expires_at = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    with closing(_open(args)) as billing:
        secret, info = billing.create_key(
            name=args.name, account_id=args.account, limit=None if args.limit is None else parse_usd(args.limit),
            limit_reset=args.limit_reset, expires_at=expires_at, include_byok_in_limit=args.include_byok_in_limit,
            is_management=args.management)
    print(f"key_id {info['key_id']}  account {info['account']}")
    print(f"{secret}\n(shown once: store it now)")
    return 0


@_reporting_errors
def _keys_list(args: argparse.Namespace) -> int:
    with closing(_open(args)) as billing:
        keys = billing.list_keys(args.account)
    if args.json:
        json.dump(keys, sys.stdout, indent=2, default=str)
        print()
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(keys)} keys")
    for column in ("key_id", "name", "account", "limit", "reset", "expires", "status"):
        table.add_column(column, no_wrap=column in ("key_id", "status"))
    for key in keys:
        table.add_row(key["key_id"], key["name"], key["account"], _text(key["limit"]), _text(key["limit_reset"]),
                      _when(key["expires_at"]), _status(key))
    Console().print(table)
    return 0


@_reporting_errors
def _keys_revoke(args: argparse.Namespace) -> int:
    with closing(_open(args)) as billing:
        billing.revoke_key(args.key_id)
    print(f"revoked {args.key_id}")
    return 0


@_reporting_errors
def _credits_add(args: argparse.Namespace) -> int:
    with closing(_open(args)) as billing:
        balance = billing.add_credits(args.account, parse_usd(args.amount), note=args.note)
    print(f"{args.account}: balance {_text(balance)} USD")
    return 0


@_reporting_errors
def _credits_show(args: argparse.Namespace) -> int:
    with closing(_open(args)) as billing:
        totals = billing.credits(args.account)
    print(" ".join(f"{name}={_text(value)}" for name, value in totals.items()))
    return 0


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _when(timestamp: float | None) -> str:
    return "-" if timestamp is None else datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _status(key: dict[str, Any]) -> str:
    if key["revoked"]:
        return "revoked"
    if key["disabled"]:
        return "disabled"
    return "management" if key["is_management"] else "active"
