"""A memo of the reads every request makes, exact however many writers share the SQLite file.

Every request reads its key (with its account's unlimited flag) and its account's BYOK keys: two
queries, ~20 µs with warm caches and ~100 µs at low load when they are cold. Those rows change only
when someone changes keys, accounts or BYOK keys. The memo forgets everything it holds

- after this store's own writes to those tables (`forget`, called once the write has committed), and
- whenever SQLite's `PRAGMA data_version` moves, which it does after any commit by another
  connection: another thread, another worker process, the `switchyard keys` CLI, `sqlite3` by hand.

So a key revoked anywhere fails on the very next request, as it would without the memo. It costs one
`PRAGMA data_version` (~4 µs) per look-up. Each thread keeps its own memo, because `data_version`
belongs to a connection and connections belong to threads. Only rows that exist are kept, so a flood
of wrong keys cannot grow it, and at most `max_entries` of them.
"""
from __future__ import annotations

import threading
from typing import Callable, Hashable, TypeVar

from .sqlite_db import SQLiteDatabase

__all__ = ["ReadMemo"]

T = TypeVar("T")


class ReadMemo:
    def __init__(self, db: SQLiteDatabase, max_entries: int = 10_000):
        self._db = db
        self._max_entries = max_entries
        self._generation = 0  # bumped by `forget`: this store's own commits do not move data_version
        self._local = threading.local()

    def forget(self) -> None:
        self._generation += 1

    def get(self, key: Hashable, load: Callable[[], T | None]) -> T | None:
        """The memoised value for `key`, or `load()`'s (remembered unless it is None)."""
        entries = self._entries()
        try:
            return entries[key]
        except KeyError:
            pass
        value = load()
        if value is not None:
            if len(entries) >= self._max_entries:
                entries.clear()
            entries[key] = value
        return value

    def _entries(self) -> dict:
        db = self._db.connection()
        # id(db): a thread's connection is replaced after close() or fork, and its counter with it.
        version = (self._generation, id(db), db.execute("PRAGMA data_version").fetchone()[0])
        local = self._local
        if getattr(local, "version", None) != version:
            local.version = version
            local.entries = {}
        return local.entries
