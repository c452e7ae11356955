"""The embedded billing store: one SQLite file in WAL mode, shared safely by several worker processes.

Every write is a `BEGIN IMMEDIATE` transaction (`SQLiteDatabase.write`): it takes SQLite's single
writer lock up front, so the read-check-write of a reservation cannot interleave with another
process's — no lost updates, no balance below zero.

Open holds are kept as running totals (`accounts.reserved_nanos`, `keys.reserved_nanos`) and the
key's spend in its current limit window as `keys.window_usage_nanos`, so the request path does a
constant number of indexed statements however long the ledger grows; the ledger stays the source
of truth for reports.
"""
from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any, ContextManager, Mapping

from .errors import InsufficientCredits, InvalidRequest, LimitExceeded, NotFound
from .periods import period_start
from .read_memo import ReadMemo
from .sqlite_db import SQLiteDatabase
from .store import AccountTotals, Charge, KeyRecord, KeyUsageNanos, Reservation

__all__ = ["SQLiteBillingStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    unlimited INTEGER NOT NULL DEFAULT 0,
    balance_nanos INTEGER NOT NULL DEFAULT 0,   -- credits - usage
    reserved_nanos INTEGER NOT NULL DEFAULT 0,  -- open holds
    credits_nanos INTEGER NOT NULL DEFAULT 0,   -- all top-ups
    usage_nanos INTEGER NOT NULL DEFAULT 0,     -- all settled charges
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    is_management INTEGER NOT NULL DEFAULT 0,
    limit_nanos INTEGER,
    limit_reset TEXT,
    include_byok_in_limit INTEGER NOT NULL DEFAULT 0,
    expires_at REAL,
    disabled INTEGER NOT NULL DEFAULT 0,
    revoked_at REAL,
    created_at REAL NOT NULL,
    window_start REAL NOT NULL DEFAULT 0,
    window_usage_nanos INTEGER NOT NULL DEFAULT 0,
    reserved_nanos INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    amount_nanos INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    expired INTEGER NOT NULL DEFAULT 0  -- purged: no longer counted in the holds, still billable
);
CREATE TABLE IF NOT EXISTS ledger (
    entry_id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    account_id TEXT NOT NULL,
    key_id TEXT,
    kind TEXT NOT NULL,               -- 'topup' or 'usage'
    amount_nanos INTEGER NOT NULL,    -- signed effect on the balance
    cost_nanos INTEGER NOT NULL DEFAULT 0,
    fee_nanos INTEGER NOT NULL DEFAULT 0,
    byok_cost_nanos INTEGER NOT NULL DEFAULT 0,
    is_byok INTEGER NOT NULL DEFAULT 0,
    reservation_id INTEGER,
    generation_id TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS ledger_by_key ON ledger (key_id, ts);
-- A reservation is charged at most once, also one that held nothing (Reservation.held).
CREATE UNIQUE INDEX IF NOT EXISTS ledger_by_reservation ON ledger (reservation_id) WHERE reservation_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS byok_keys (
    account_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (account_id, provider)
);
"""
_SCHEMA_VERSION = "1"
_KEY_COLUMNS = ("key_id, key_hash, name, account_id, is_management, limit_nanos, limit_reset, "
                "include_byok_in_limit, expires_at, disabled, revoked_at, created_at")
_KEY_COLUMNS_OF_K = ", ".join("k." + column.strip() for column in _KEY_COLUMNS.split(","))
_UPDATABLE = {"name", "limit_nanos", "limit_reset", "include_byok_in_limit", "expires_at", "disabled",
              "revoked_at"}
_PURGE_EVERY_S = 30.0
_FORGET_EXPIRED_S = 86_400.0


class SQLiteBillingStore:
    """`BillingStore` on one SQLite file (see `SQLiteDatabase` for connections and durability)."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL",
                 busy_timeout_ms: int = 30_000, checkpoint_interval_s: float | None = 0.1):
        self._db = SQLiteDatabase(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms,
                                  checkpoint_interval_s=checkpoint_interval_s)
        self._next_purge = 0.0
        self._memo = ReadMemo(self._db)  # a request's key and BYOK reads; see read_memo for why it is exact
        with self._db.write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (_SCHEMA_VERSION,))

    @property
    def path(self) -> Path:
        return self._db.path

    def _connection(self) -> sqlite3.Connection:
        return self._db.connection()

    def _write(self) -> ContextManager[sqlite3.Connection]:
        return self._db.write()

    def close(self) -> None:
        self._db.close()

    # -- accounts and credits --------------------------------------------------------------------
    def ensure_account(self, account_id: str, *, unlimited: bool = False, now: float) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO accounts (account_id, unlimited, created_at) VALUES (?, ?, ?)",
                       (account_id, int(unlimited), now))
            if unlimited:
                db.execute("UPDATE accounts SET unlimited = 1 WHERE account_id = ?", (account_id,))
        self._memo.forget()

    def add_credits(self, account_id: str, amount_nanos: int, *, now: float, note: str = "") -> int:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO accounts (account_id, created_at) VALUES (?, ?)", (account_id, now))
            db.execute("INSERT INTO ledger (ts, account_id, kind, amount_nanos, note) VALUES (?, ?, 'topup', ?, ?)",
                       (now, account_id, amount_nanos, note))
            (balance,) = db.execute(
                "UPDATE accounts SET balance_nanos = balance_nanos + ?1, credits_nanos = credits_nanos + ?1"
                " WHERE account_id = ?2 RETURNING balance_nanos", (amount_nanos, account_id)).fetchone()
        return balance

    def account_totals(self, account_id: str) -> AccountTotals:
        db = self._connection()
        row = db.execute("SELECT unlimited, credits_nanos, usage_nanos, balance_nanos, reserved_nanos FROM accounts"
                         " WHERE account_id = ?", (account_id,)).fetchone()
        if row is None:
            raise NotFound(f"no account named {account_id!r}")
        return AccountTotals(account_id, bool(row[0]), *row[1:])

    # -- keys --------------------------------------------------------------------------------------
    def insert_key(self, record: KeyRecord) -> bool:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO accounts (account_id, created_at) VALUES (?, ?)",
                       (record.account_id, record.created_at))
            inserted = db.execute(
                f"INSERT OR IGNORE INTO keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.key_id, record.key_hash, record.name, record.account_id,
                 int(record.is_management), record.limit_nanos, record.limit_reset,
                 int(record.include_byok_in_limit), record.expires_at, int(record.disabled),
                 record.revoked_at, record.created_at)).rowcount == 1
        self._memo.forget()
        return inserted

    def find_key_with_account(self, key_hash: str) -> tuple[KeyRecord, bool] | None:
        return self._memo.get(("key", key_hash), lambda: self._read_key_with_account(key_hash))

    def _read_key_with_account(self, key_hash: str) -> tuple[KeyRecord, bool] | None:
        row = self._connection().execute(f"SELECT {_KEY_COLUMNS_OF_K}, a.unlimited FROM keys k LEFT JOIN accounts a"
                                         " ON a.account_id = k.account_id WHERE k.key_hash = ?", (key_hash,)).fetchone()
        return (_key_record(row[:-1]), bool(row[-1])) if row else None

    def get_key(self, key_id: str) -> KeyRecord | None:
        row = self._connection().execute(f"SELECT {_KEY_COLUMNS} FROM keys WHERE key_id = ?",
                                         (key_id,)).fetchone()
        return _key_record(row) if row else None

    def list_keys(self, account_id: str | None = None) -> list[KeyRecord]:
        db = self._connection()
        if account_id is None:
            rows = db.execute(f"SELECT {_KEY_COLUMNS} FROM keys ORDER BY created_at, key_id").fetchall()
        else:
            rows = db.execute(f"SELECT {_KEY_COLUMNS} FROM keys WHERE account_id = ? ORDER BY created_at, key_id",
                              (account_id,)).fetchall()
        return [_key_record(row) for row in rows]

    def update_key(self, key_id: str, changes: Mapping[str, Any], *, now: float) -> KeyRecord:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise InvalidRequest(f"cannot update {sorted(unknown)}; updatable: {sorted(_UPDATABLE)}")
        with self._write() as db:
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                values = [int(v) if isinstance(v, bool) else v for v in changes.values()]
                if db.execute(f"UPDATE keys SET {assignments} WHERE key_id = ?", (*values, key_id)).rowcount == 0:
                    raise NotFound(f"no key with id {key_id!r}")
            if {"limit_reset", "include_byok_in_limit"} & set(changes):
                self._recount_window(db, key_id, now)
            row = db.execute(f"SELECT {_KEY_COLUMNS} FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        self._memo.forget()
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        return _key_record(row)

    def _recount_window(self, db: sqlite3.Connection, key_id: str, now: float) -> None:
        """After the window definition changed, rebuild the running total from the ledger."""
        limit_reset, include_byok = db.execute(
            "SELECT limit_reset, include_byok_in_limit FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        start = period_start(limit_reset, now)
        (spent,) = db.execute(
            "SELECT COALESCE(SUM(-amount_nanos + CASE WHEN ? THEN byok_cost_nanos ELSE 0 END), 0)"
            " FROM ledger WHERE key_id = ? AND kind = 'usage' AND ts >= ?",
            (include_byok, key_id, start)).fetchone()
        db.execute("UPDATE keys SET window_start = ?, window_usage_nanos = ? WHERE key_id = ?",
                   (start, spent, key_id))

    def key_usage(self, key_id: str, *, day_start: float, week_start: float, month_start: float,
                  now: float) -> KeyUsageNanos:
        db = self._connection()
        row = db.execute(
            "SELECT COALESCE(SUM(-amount_nanos), 0),"
            " COALESCE(SUM(CASE WHEN ts >= ? THEN -amount_nanos END), 0),"
            " COALESCE(SUM(CASE WHEN ts >= ? THEN -amount_nanos END), 0),"
            " COALESCE(SUM(CASE WHEN ts >= ? THEN -amount_nanos END), 0),"
            " COALESCE(SUM(byok_cost_nanos), 0),"
            " COALESCE(SUM(CASE WHEN ts >= ? THEN byok_cost_nanos END), 0),"
            " COALESCE(SUM(CASE WHEN ts >= ? THEN byok_cost_nanos END), 0),"
            " COALESCE(SUM(CASE WHEN ts >= ? THEN byok_cost_nanos END), 0)"
            " FROM ledger WHERE key_id = ? AND kind = 'usage'",
            (day_start, week_start, month_start, day_start, week_start, month_start, key_id)).fetchone()
        window = db.execute("SELECT limit_reset, window_start, window_usage_nanos, reserved_nanos FROM keys"
                            " WHERE key_id = ?", (key_id,)).fetchone()
        if window is None:
            raise NotFound(f"no key with id {key_id!r}")
        limit_reset, window_start, window_usage, reserved = window
        current = window_usage if window_start == period_start(limit_reset, now) else 0
        return KeyUsageNanos(*row, limit_window_usage=current, reserved=reserved)

    # -- the request path --------------------------------------------------------------------------
    def reserve(self, key_id: str, account_id: str, amount_nanos: int, *, now: float,
                ttl_s: float) -> Reservation:
        if now >= self._next_purge:
            self.purge_expired(now)
        with self._write() as db:
            account = db.execute("SELECT unlimited, balance_nanos - reserved_nanos FROM accounts WHERE account_id = ?",
                                 (account_id,)).fetchone()
            if account is None or (not account[0] and account[1] < amount_nanos):
                raise InsufficientCredits("Insufficient credits: the balance cannot cover this request's maximum"
                                          " cost; add credits or lower max_tokens")
            key = db.execute("SELECT limit_nanos, limit_reset, window_start, window_usage_nanos, reserved_nanos,"
                             " include_byok_in_limit FROM keys WHERE key_id = ?", (key_id,)).fetchone()
            if key is None:
                raise NotFound(f"no key with id {key_id!r}")
            limit_nanos, limit_reset, window_start, window_usage, key_reserved, include_byok = key
            if limit_nanos is not None:
                spent = window_usage if window_start == period_start(limit_reset, now) else 0
                if spent + key_reserved + amount_nanos > limit_nanos:
                    raise LimitExceeded("Key spend limit exceeded: this request's maximum cost does not fit in"
                                        " the key's remaining limit" + (f" until its {limit_reset} reset"
                                                                        if limit_reset else ""))
            reservation = Reservation(secrets.randbits(62), key_id, account_id, amount_nanos, now + ttl_s,
                                      bool(include_byok))
            db.execute("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, 0)",
                       (reservation.reservation_id, key_id, account_id, amount_nanos, reservation.expires_at))
            self._adjust_holds(db, account_id, key_id, amount_nanos)
        return reservation

    def settle(self, reservation: Reservation, charge: Charge, *, now: float) -> int:
        with self._write() as db:
            held = 0
            if reservation.held:
                hold = db.execute("DELETE FROM reservations WHERE reservation_id = ? RETURNING amount_nanos, expired",
                                  (reservation.reservation_id,)).fetchone()
                if hold is None:  # already settled or released: charging again would bill twice
                    return 0
                # A purged hold (expired = 1) is no longer in the running totals, but the completion was
                # served, so it is still billed.
                held = 0 if hold[1] else hold[0]
            booked = db.execute("INSERT OR IGNORE INTO ledger (ts, account_id, key_id, kind, amount_nanos, cost_nanos,"
                                " fee_nanos, byok_cost_nanos, is_byok, reservation_id, generation_id)"
                                " VALUES (?, ?, ?, 'usage', ?, ?, ?, ?, ?, ?, ?)",
                                (now, reservation.account_id, reservation.key_id, -charge.total_nanos,
                                 charge.cost_nanos, charge.fee_nanos, charge.byok_cost_nanos, int(charge.is_byok),
                                 reservation.reservation_id, charge.generation_id)).rowcount
            if not booked:  # a reservation that held nothing, settled before
                return 0
            db.execute("UPDATE accounts SET balance_nanos = balance_nanos - ?1, usage_nanos = usage_nanos + ?1,"
                       " reserved_nanos = reserved_nanos - ?2 WHERE account_id = ?3",
                       (charge.total_nanos, held, reservation.account_id))
            (limit_reset,) = db.execute("SELECT limit_reset FROM keys WHERE key_id = ?",
                                        (reservation.key_id,)).fetchone()
            # Spend lands in the window current at settle time; a new window starts from zero.
            db.execute("UPDATE keys SET reserved_nanos = reserved_nanos - ?1, window_usage_nanos ="
                       " CASE WHEN window_start = ?2 THEN window_usage_nanos + ?3 ELSE ?3 END, window_start = ?2"
                       " WHERE key_id = ?4", (held, period_start(limit_reset, now), charge.limit_nanos,
                                              reservation.key_id))
        return charge.total_nanos

    def release(self, reservation: Reservation) -> None:
        if not reservation.held:
            return
        with self._write() as db:
            hold = db.execute("DELETE FROM reservations WHERE reservation_id = ? RETURNING amount_nanos, expired",
                              (reservation.reservation_id,)).fetchone()
            if hold is not None and not hold[1]:
                self._adjust_holds(db, reservation.account_id, reservation.key_id, -hold[0])

    @staticmethod
    def _adjust_holds(db: sqlite3.Connection, account_id: str, key_id: str, delta_nanos: int) -> None:
        db.execute("UPDATE accounts SET reserved_nanos = reserved_nanos + ? WHERE account_id = ?",
                   (delta_nanos, account_id))
        db.execute("UPDATE keys SET reserved_nanos = reserved_nanos + ? WHERE key_id = ?", (delta_nanos, key_id))

    def purge_expired(self, now: float) -> int:
        """Free holds left by requests that never settled (a crashed worker); returns how many.

        An expired hold stops counting against balance and limit but its row stays for a day, so a
        request that outlived its hold is still billed once (and only once) when it settles.
        """
        self._next_purge = now + _PURGE_EVERY_S
        with self._write() as db:
            expired = db.execute("UPDATE reservations SET expired = 1 WHERE expired = 0 AND expires_at <= ?"
                                 " RETURNING account_id, key_id, amount_nanos", (now,)).fetchall()
            for account_id, key_id, amount_nanos in expired:
                self._adjust_holds(db, account_id, key_id, -amount_nanos)
            db.execute("DELETE FROM reservations WHERE expired = 1 AND expires_at <= ?", (now - _FORGET_EXPIRED_S,))
        return len(expired)

    # -- bring-your-own provider keys --------------------------------------------------------------
    def put_byok(self, account_id: str, provider: str, ciphertext: bytes, *, now: float) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO accounts (account_id, created_at) VALUES (?, ?)", (account_id, now))
            db.execute("INSERT OR REPLACE INTO byok_keys VALUES (?, ?, ?, ?)", (account_id, provider, ciphertext, now))
        self._memo.forget()

    def get_byok(self, account_id: str, provider: str) -> bytes | None:
        row = self._connection().execute("SELECT ciphertext FROM byok_keys WHERE account_id = ? AND provider = ?",
                                         (account_id, provider)).fetchone()
        return row[0] if row else None

    def delete_byok(self, account_id: str, provider: str) -> bool:
        with self._write() as db:
            deleted = db.execute("DELETE FROM byok_keys WHERE account_id = ? AND provider = ?",
                                 (account_id, provider)).rowcount > 0
        self._memo.forget()
        return deleted

    def list_byok(self, account_id: str) -> list[str]:
        rows = self._connection().execute("SELECT provider FROM byok_keys WHERE account_id = ? ORDER BY provider",
                                          (account_id,)).fetchall()
        return [row[0] for row in rows]

    def all_byok(self, account_id: str) -> dict[str, bytes]:
        return dict(self._memo.get(("byok", account_id), lambda: dict(self._connection().execute(
            "SELECT provider, ciphertext FROM byok_keys WHERE account_id = ?", (account_id,)).fetchall())))

    # -- settings ----------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        row = self._connection().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def claim_meta(self, name: str, value: str) -> bool:
        with self._write() as db:
            return db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (name, value)).rowcount == 1


def _key_record(row: tuple[Any, ...]) -> KeyRecord:
    (key_id, key_hash, name, account_id, is_management, limit_nanos, limit_reset, include_byok, expires_at,
     disabled, revoked_at, created_at) = row
    return KeyRecord(key_id, key_hash, name, account_id, bool(is_management), limit_nanos, limit_reset,
                     bool(include_byok), expires_at, bool(disabled), revoked_at, created_at)
