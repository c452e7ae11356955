"""`Billing`: the one object the gateway calls for keys, credits, reservations and BYOK keys.

Fee rule (documented choice): the platform fee is a percentage of *usage*, charged with each
settled completion (`charged = cost + cost × platform_fee`), not a cut of each top-up. Top-ups here
are recorded by an operator, not payments, so every credited dollar stays spendable and refundable;
the BYOK fee is a percentage of list price charged at the same moment, so one rule covers both; and
a key's spend limit sees exactly what the key cost. Reservations hold
`max_cost × (1 + max(platform_fee, byok_fee))`, so no settle can exceed its hold.

The master (management) key charges the `default` account, which has unlimited credit: a fresh
gateway answers at once, and admins meter real users by giving their keys a prepaid `account`.

>>> import tempfile, pathlib
>>> billing = Billing.open(pathlib.Path(tempfile.mkdtemp()) / "billing.sqlite3", master_key="sk-admin", environ={})
>>> secret, info = billing.create_key(name="alice", account_id="acme")
>>> billing.add_credits("acme", Decimal("10"))
Decimal('10')
>>> principal = billing.authenticate(f"Bearer {secret}")
>>> hold = billing.reserve(principal, Decimal("0.02"))
>>> billing.settle(hold, Decimal("0.01"), is_byok=False)
Decimal('0.0105')
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

from .crypto import SecretBox, load_or_create_secret
from .errors import AuthenticationError, InsufficientCredits, InvalidRequest, NotFound
from .keys import bearer_token, generate_key, hash_key, hashes_match, key_id_for
from .money import from_nanos, to_nanos
from .periods import check_limit_reset, period_start
from .sqlite_store import SQLiteBillingStore
from .store import BillingStore, Charge, KeyRecord, Reservation

__all__ = ["Billing", "Principal", "DEFAULT_ACCOUNT", "describe_key"]

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "default"
_MASTER_META = "master_key_id"
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's telemetry id (never the key), its account and its rights."""

    key_id: str
    account_id: str
    name: str
    is_management: bool = False
    # A hold protects a balance or a key's spend limit; with neither (an unlimited account, a key
    # without a limit: the master key's default) `reserve` holds nothing and touches no table.
    needs_hold: bool = True
    include_byok_in_limit: bool = False


class Billing:
    def __init__(self, store: BillingStore, secret_box: SecretBox, *, platform_fee: Decimal = Decimal("0.05"),
                 byok_fee: Decimal = Decimal("0.05"), reservation_ttl_s: float = 900.0,
                 now: Callable[[], float] = time.time):
        if platform_fee < 0 or byok_fee < 0:
            raise ValueError("platform_fee and byok_fee must be non-negative fractions, e.g. Decimal('0.05')")
        self.store = store
        self.platform_fee = platform_fee
        self.byok_fee = byok_fee
        self.reservation_ttl_s = reservation_ttl_s
        self.now = now
        self._secret_box = secret_box
        self._hold_factor = 1 + max(platform_fee, byok_fee)
        # (list price → charged, own-key price → charged, hold factor) as floats, for estimates.
        self.fee_factors = (float(1 + platform_fee), float(byok_fee), float(self._hold_factor))

    @classmethod
    def open(cls, db_path: str | os.PathLike[str], *, master_key: str | None = None,
             secret_key: str | None = None, environ: Mapping[str, str] = os.environ,
             synchronous: str = "NORMAL", checkpoint_interval_s: float | None = 0.1,
             announce: Callable[[str], None] | None = None, **options: Any) -> "Billing":
        """Open (or create) the embedded store and make sure a master key exists.

        `master_key`/`secret_key` default to SWITCHYARD_MASTER_KEY/SWITCHYARD_SECRET_KEY in
        `environ`. A generated master key is passed once to `announce` (default: stderr, not the
        logging system, so it never lands in log files). `options` go to `Billing(...)`; see
        `SQLiteBillingStore` for `synchronous` and `checkpoint_interval_s`.
        """
        path = Path(db_path)
        store = SQLiteBillingStore(path, synchronous=synchronous, checkpoint_interval_s=checkpoint_interval_s)
        secret = secret_key or environ.get("SWITCHYARD_SECRET_KEY") or load_or_create_secret(
            path.with_name(path.name + ".secret"))
        billing = cls(store, SecretBox(secret), **options)
        generated = billing.bootstrap_master_key(master_key or environ.get("SWITCHYARD_MASTER_KEY"))
        if generated is not None:
            (announce or _print_to_stderr)(
                f"Switchyard master key (shown once; set SWITCHYARD_MASTER_KEY to choose your own): {generated}")
        return billing

    # -- authentication ----------------------------------------------------------------------------
    def authenticate(self, authorization_header: str | None) -> Principal:
        """`Authorization: Bearer <key>` → Principal, or AuthenticationError (401) saying why."""
        presented_hash = hash_key(bearer_token(authorization_header))
        found = self.store.find_key_with_account(presented_hash)
        if found is None or not hashes_match(found[0].key_hash, presented_hash):
            raise AuthenticationError("Invalid API key")
        record, unlimited = found
        if record.revoked_at is not None:
            raise AuthenticationError("API key has been revoked")
        if record.disabled:
            raise AuthenticationError("API key is disabled")
        if record.expires_at is not None and record.expires_at <= self.now():
            raise AuthenticationError("API key has expired")
        return Principal(record.key_id, record.account_id, record.name, record.is_management,
                         needs_hold=not unlimited or record.limit_nanos is not None,
                         include_byok_in_limit=record.include_byok_in_limit)

    def bootstrap_master_key(self, configured: str | None) -> str | None:
        """Install the configured master key, or generate one; returns a newly generated key."""
        now = self.now()
        self.store.ensure_account(DEFAULT_ACCOUNT, unlimited=True, now=now)
        if configured:
            key_id = key_id_for(configured)
            self.store.insert_key(KeyRecord(key_id, hash_key(configured), "master (SWITCHYARD_MASTER_KEY)",
                                            DEFAULT_ACCOUNT, is_management=True, created_at=now))
            previous = self.store.get_meta(_MASTER_META)
            if previous and previous != key_id and self.store.get_key(previous) is not None:
                self.store.update_key(previous, {"revoked_at": now}, now=now)  # the env var now rules
            self.store.set_meta(_MASTER_META, key_id)
            return None
        current = self.store.get_meta(_MASTER_META)
        if current is not None and self._key_appears(current):
            return None
        secret = generate_key()
        key_id = key_id_for(secret)
        # Several workers may start at once: only the one that claims the slot creates and announces.
        if current is None and not self.store.claim_meta(_MASTER_META, key_id):
            return None
        if current is not None:
            self.store.set_meta(_MASTER_META, key_id)
        self.store.insert_key(KeyRecord(key_id, hash_key(secret), "master (generated)", DEFAULT_ACCOUNT,
                                        is_management=True, created_at=now))
        log.info("generated a master key (key_id=%s)", key_id)
        return secret

    def _key_appears(self, key_id: str, wait_s: float = 1.0) -> bool:
        """True once the key exists; another worker may have claimed the master slot a moment ago
        and not stored its key yet. False after `wait_s`: that worker died, so make a new key."""
        deadline = time.monotonic() + wait_s
        while self.store.get_key(key_id) is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # -- the request path ----------------------------------------------------------------------------
    def reserve(self, principal: Principal, max_cost: Decimal) -> Reservation:
        """Hold the request's maximum list cost (plus fees); InsufficientCredits/LimitExceeded → 402."""
        if max_cost < 0:
            raise InvalidRequest("max_cost must not be negative")
        amount = to_nanos(max_cost * self._hold_factor, round_up=True)
        if not principal.needs_hold:
            now = self.now()
            return Reservation(secrets.randbits(62), principal.key_id, principal.account_id, amount,
                               now + self.reservation_ttl_s, principal.include_byok_in_limit, held=False)
        try:
            return self.store.reserve(principal.key_id, principal.account_id, amount, now=self.now(),
                                      ttl_s=self.reservation_ttl_s)
        except InsufficientCredits as refused:
            log.info("reservation refused for key_id=%s: %s", principal.key_id, type(refused).__name__)
            raise

    def settle(self, reservation: Reservation, actual_cost: Decimal, is_byok: bool = False, *,
               generation_id: str | None = None) -> Decimal:
        """Charge the served request at `actual_cost` (list price of the serving endpoint) plus fee.

        Returns what left the balance: cost + platform fee, or only the BYOK fee for a BYOK request.
        A zero cost (failed or empty completion) just releases the hold and charges nothing.
        """
        charge = self.charge_for(reservation, actual_cost, is_byok, generation_id=generation_id)
        if charge is None:
            self.release(reservation)
            return from_nanos(0)
        return self.commit(reservation, charge)

    def charge_for(self, reservation: Reservation, actual_cost: Decimal, is_byok: bool = False, *,
                   generation_id: str | None = None) -> Charge | None:
        """What `settle` would charge, without touching the store (None: a zero cost, nothing to charge).

        The gateway quotes this in the response and `commit`s it once the response is on its way."""
        if actual_cost <= 0:
            return None
        cost = to_nanos(actual_cost)
        if is_byok:
            fee = to_nanos(actual_cost * self.byok_fee)
            return Charge(0, fee, True, byok_cost_nanos=cost, generation_id=generation_id,
                          limit_nanos=fee + (cost if reservation.include_byok_in_limit else 0))
        fee = to_nanos(actual_cost * self.platform_fee)
        return Charge(cost, fee, False, limit_nanos=cost + fee, generation_id=generation_id)

    def commit(self, reservation: Reservation, charge: Charge) -> Decimal:
        """Book `charge` against the hold; returns what left the balance (0 if the hold was already settled)."""
        if charge.total_nanos > reservation.amount_nanos:
            log.warning("settled cost exceeds the hold for key_id=%s; the caller under-estimated max_cost",
                        reservation.key_id)
        return from_nanos(self.store.settle(reservation, charge, now=self.now()))

    def release(self, reservation: Reservation) -> None:
        """Drop the hold without charging (every attempt failed, or the request was refused)."""
        self.store.release(reservation)

    # -- keys ------------------------------------------------------------------------------------------
    def create_key(self, *, name: str, account_id: str = DEFAULT_ACCOUNT, limit: Decimal | None = None,
                   limit_reset: str | None = None, expires_at: float | None = None,
                   include_byok_in_limit: bool = False, is_management: bool = False) -> tuple[str, dict[str, Any]]:
        """Create a key; returns (the key in clear — shown once, never stored —, its description)."""
        _check_name(name, "name")
        _check_name(account_id, "account")
        secret = generate_key()
        record = KeyRecord(key_id_for(secret), hash_key(secret), name, account_id, is_management,
                           None if limit is None else to_nanos(_non_negative(limit, "limit")),
                           check_limit_reset_or_400(limit_reset), include_byok_in_limit, expires_at,
                           created_at=self.now())
        self.store.insert_key(record)
        log.info("created key key_id=%s name=%r account=%r", record.key_id, name, account_id)
        return secret, describe_key(record)

    def list_keys(self, account_id: str | None = None) -> list[dict[str, Any]]:
        return [describe_key(record) for record in self.store.list_keys(account_id)]

    def get_key(self, key_id: str) -> dict[str, Any]:
        record = self.store.get_key(key_id)
        if record is None:
            raise NotFound(f"no key with id {key_id!r}")
        return describe_key(record)

    def update_key(self, key_id: str, **changes: Any) -> dict[str, Any]:
        """Change name, limit (Decimal or None), limit_reset, expires_at, include_byok_in_limit, disabled."""
        stored: dict[str, Any] = {}
        for field, value in changes.items():
            if field == "limit":
                stored["limit_nanos"] = None if value is None else to_nanos(_non_negative(value, "limit"))
            elif field == "limit_reset":
                stored["limit_reset"] = check_limit_reset_or_400(value)
            elif field == "name":
                stored["name"] = _check_name(value, "name")
            else:
                stored[field] = value
        record = self.store.update_key(key_id, stored, now=self.now())
        log.info("updated key key_id=%s fields=%s", key_id, sorted(changes))
        return describe_key(record)

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        record = self.store.update_key(key_id, {"revoked_at": self.now()}, now=self.now())
        log.info("revoked key key_id=%s", key_id)
        return describe_key(record)

    def key_usage(self, principal: Principal) -> dict[str, Any]:
        """`GET /key` data: limit, remaining, usage today/this week/this month, BYOK usage (Decimals)."""
        record = self.store.get_key(principal.key_id)
        if record is None:
            raise NotFound("key not found")
        now = self.now()
        usage = self.store.key_usage(record.key_id, day_start=period_start("daily", now),
                                     week_start=period_start("weekly", now),
                                     month_start=period_start("monthly", now), now=now)
        limit = None if record.limit_nanos is None else from_nanos(record.limit_nanos)
        remaining = None if record.limit_nanos is None else from_nanos(
            max(0, record.limit_nanos - usage.limit_window_usage))
        return {
            **describe_key(record), "limit": limit, "limit_remaining": remaining,
            "usage": from_nanos(usage.usage), "usage_daily": from_nanos(usage.daily),
            "usage_weekly": from_nanos(usage.weekly), "usage_monthly": from_nanos(usage.monthly),
            "byok_usage": from_nanos(usage.byok), "byok_usage_daily": from_nanos(usage.byok_daily),
            "byok_usage_weekly": from_nanos(usage.byok_weekly), "byok_usage_monthly": from_nanos(usage.byok_monthly),
            "is_free_tier": False,
        }

    # -- credits ---------------------------------------------------------------------------------------
    def add_credits(self, account_id: str, amount: Decimal, *, note: str = "") -> Decimal:
        """Record a top-up (positive) or a correction (negative); returns the new balance."""
        _check_name(account_id, "account")
        balance = self.store.add_credits(account_id, to_nanos(amount), now=self.now(), note=note)
        log.info("credits added account=%r amount=%s", account_id, amount)
        return from_nanos(balance)

    def credits(self, account_id: str) -> dict[str, Any]:
        """`GET /credits` data (Decimals): total_credits, total_usage, balance, reserved, unlimited."""
        totals = self.store.account_totals(account_id)
        return {"total_credits": from_nanos(totals.credits_nanos), "total_usage": from_nanos(totals.usage_nanos),
                "balance": from_nanos(totals.balance_nanos), "reserved": from_nanos(totals.reserved_nanos),
                "unlimited": totals.unlimited}

    # -- bring-your-own provider keys ----------------------------------------------------------------
    def set_byok_key(self, account_id: str, provider: str, key: str) -> None:
        if not key or not key.strip():
            raise InvalidRequest("key must be a non-empty string")
        self.store.put_byok(account_id, _check_provider(provider), self._secret_box.encrypt(key.strip()),
                            now=self.now())
        log.info("stored BYOK key account=%r provider=%s", account_id, provider)

    def delete_byok_key(self, account_id: str, provider: str) -> bool:
        return self.store.delete_byok(account_id, _check_provider(provider))

    def byok_key(self, account_id: str, provider: str) -> str | None:
        """The account's own key for `provider`, decrypted, or None; callers must never log it."""
        ciphertext = self.store.get_byok(account_id, provider)
        return None if ciphertext is None else self._secret_box.decrypt(ciphertext)

    def byok_keys(self, account_id: str) -> dict[str, str]:
        """All of the account's own keys, provider → key, in one look-up (for a request's Principal)."""
        return {provider: self._secret_box.decrypt(ciphertext)
                for provider, ciphertext in self.store.all_byok(account_id).items()}

    def byok_providers(self, account_id: str) -> list[str]:
        """Providers the account has its own key for; no key material."""
        return self.store.list_byok(account_id)

    def close(self) -> None:
        self.store.close()


def describe_key(record: KeyRecord) -> dict[str, Any]:
    """Public description of a key: everything but its secret and its hash."""
    return {
        "key_id": record.key_id, "name": record.name, "label": record.name, "account": record.account_id,
        "is_management": record.is_management,
        "limit": None if record.limit_nanos is None else from_nanos(record.limit_nanos),
        "limit_reset": record.limit_reset, "include_byok_in_limit": record.include_byok_in_limit,
        "expires_at": record.expires_at, "disabled": record.disabled, "revoked": record.revoked_at is not None,
        "revoked_at": record.revoked_at, "created_at": record.created_at,
    }


def check_limit_reset_or_400(value: str | None) -> str | None:
    try:
        return check_limit_reset(value)
    except ValueError as bad:
        raise InvalidRequest(str(bad)) from None


def _non_negative(amount: Decimal, what: str) -> Decimal:
    if amount < 0:
        raise InvalidRequest(f"{what} must not be negative")
    return amount


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidRequest(f"{what} must be a non-empty string of at most 200 characters")
    return value


def _check_provider(provider: str) -> str:
    if not _PROVIDER_NAME.match(provider or ""):
        raise InvalidRequest("provider must be a lowercase provider slug such as 'openai' or 'together'")
    return provider


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
