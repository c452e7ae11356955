"""The billing store interface and the records it exchanges (amounts in integer nano-dollars).

`SQLiteBillingStore` is the embedded default; a PostgreSQL store for several machines implements
the same protocol (`SELECT ... FOR UPDATE` where SQLite takes `BEGIN IMMEDIATE`). Every method that
moves money is one transaction, so a crash leaves either all or none of its effects.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Protocol

from .money import from_nanos

__all__ = ["BillingStore", "KeyRecord", "Reservation", "Charge", "KeyUsageNanos", "AccountTotals"]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One API key as stored; `key_hash` stays inside the billing package."""

    key_id: str
    key_hash: str
    name: str
    account_id: str
    is_management: bool = False
    limit_nanos: int | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    expires_at: float | None = None
    disabled: bool = False
    revoked_at: float | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Reservation:
    """A hold of a request's maximum cost against an account balance and a key's limit."""

    reservation_id: int
    key_id: str
    account_id: str
    amount_nanos: int
    expires_at: float
    include_byok_in_limit: bool = False  # read with the key at reserve time, used at settle
    # False: nothing was held, because nothing needed protecting (an unlimited account, a key
    # without a spend limit); settling still books the charge, exactly once.
    held: bool = True

    @property
    def amount(self) -> Decimal:
        return from_nanos(self.amount_nanos)


@dataclass(frozen=True, slots=True)
class Charge:
    """What one settled request costs: `cost_nanos + fee_nanos` leave the balance.

    For a BYOK request `cost_nanos` is 0 (the provider bills the user's own key), `fee_nanos` is the
    BYOK fee and `byok_cost_nanos` the list price, kept for `byok_usage` and optional key limits.
    """

    cost_nanos: int
    fee_nanos: int
    is_byok: bool = False
    byok_cost_nanos: int = 0
    limit_nanos: int = 0  # amount counted against the key's spend limit
    generation_id: str | None = None

    @property
    def total_nanos(self) -> int:
        return self.cost_nanos + self.fee_nanos


@dataclass(frozen=True, slots=True)
class KeyUsageNanos:
    """Charged usage and BYOK list-price usage of one key: all time, today, this week, this month."""

    usage: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    byok: int = 0
    byok_daily: int = 0
    byok_weekly: int = 0
    byok_monthly: int = 0
    limit_window_usage: int = 0
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class AccountTotals:
    account_id: str
    unlimited: bool
    credits_nanos: int  # sum of top-ups
    usage_nanos: int  # sum of settled charges
    balance_nanos: int  # credits - usage
    reserved_nanos: int  # open holds


class BillingStore(Protocol):
    # accounts and credits
    def ensure_account(self, account_id: str, *, unlimited: bool = False, now: float) -> None: ...
    def add_credits(self, account_id: str, amount_nanos: int, *, now: float, note: str = "") -> int: ...
    def account_totals(self, account_id: str) -> AccountTotals: ...

    # keys
    def insert_key(self, record: KeyRecord) -> bool: ...  # False if that key already exists
    def find_key_with_account(self, key_hash: str) -> tuple[KeyRecord, bool] | None: ...  # (key, account unlimited)
    def get_key(self, key_id: str) -> KeyRecord | None: ...
    def list_keys(self, account_id: str | None = None) -> list[KeyRecord]: ...
    def update_key(self, key_id: str, changes: Mapping[str, Any], *, now: float) -> KeyRecord: ...
    def key_usage(self, key_id: str, *, day_start: float, week_start: float, month_start: float,
                  now: float) -> KeyUsageNanos: ...

    # the request path
    def reserve(self, key_id: str, account_id: str, amount_nanos: int, *, now: float,
                ttl_s: float) -> Reservation: ...
    def settle(self, reservation: Reservation, charge: Charge, *, now: float) -> int: ...
    def release(self, reservation: Reservation) -> None: ...
    def purge_expired(self, now: float) -> int: ...

    # bring-your-own provider keys (ciphertext only; encryption happens above the store)
    def put_byok(self, account_id: str, provider: str, ciphertext: bytes, *, now: float) -> None: ...
    def get_byok(self, account_id: str, provider: str) -> bytes | None: ...
    def delete_byok(self, account_id: str, provider: str) -> bool: ...
    def list_byok(self, account_id: str) -> list[str]: ...
    def all_byok(self, account_id: str) -> dict[str, bytes]: ...  # provider -> ciphertext

    # small settings such as the master key's id
    def get_meta(self, name: str) -> str | None: ...
    def set_meta(self, name: str, value: str) -> None: ...
    def claim_meta(self, name: str, value: str) -> bool: ...  # set only if absent; True if this call set it

    def close(self) -> None: ...
