"""One SQLite file shared by threads and worker processes: connections, transactions, checkpoints.

Each thread of each process gets its own connection (sqlite3 connections must not cross a fork).
`write()` is a `BEGIN IMMEDIATE` transaction, which takes the single writer lock before reading, so
a read-check-write never interleaves with another writer; other writers wait up to
`busy_timeout_ms`. A committed transaction survives a crash of the process. With the default
`synchronous=NORMAL` a power loss may roll back the last few commits (WAL keeps the file
consistent); `synchronous="FULL"` closes that gap at the price of an fsync per commit.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["SQLiteDatabase"]

# os.getpid() is a system call (glibc stopped caching it); connection() runs several times per
# request, so the pid is read once and refreshed in a forked child.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class SQLiteDatabase:
    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL",
                 busy_timeout_ms: int = 30_000, checkpoint_interval_s: float | None = 0.1):
        if synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._checkpoint_interval_s = checkpoint_interval_s
        self._local = threading.local()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._connections_lock = threading.Lock()
        self._checkpointer: tuple[int, threading.Thread] | None = None
        self._stopping = threading.Event()

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != _pid:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=self._busy_timeout_ms / 1000)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            if self._checkpoint_interval_s is not None:
                # A checkpoint fsyncs the database file (milliseconds); left to SQLite it would land on
                # whichever request commits the 1000th WAL page, and a long WAL slows every read. A
                # background thread checkpoints often instead; the large threshold is only a guard
                # against that thread not running.
                db.execute("PRAGMA wal_autocheckpoint=10000")
                self._ensure_checkpointer()
            self._local.db, self._local.pid = db, _pid
            with self._connections_lock:
                self._connections.append((_pid, db))
        return db

    def _ensure_checkpointer(self) -> None:
        with self._connections_lock:
            if self._checkpointer is not None and self._checkpointer[0] == os.getpid():
                return
            thread = threading.Thread(target=self._checkpoint_loop, name="billing-wal-checkpoint", daemon=True)
            self._checkpointer = (os.getpid(), thread)
        thread.start()

    def _checkpoint_loop(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            while not self._stopping.wait(self._checkpoint_interval_s):
                # PASSIVE never blocks writers; they keep appending to the WAL while it copies pages.
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._stopping.set()
        if self._checkpointer is not None and self._checkpointer[0] == os.getpid():
            self._checkpointer[1].join(timeout=5)
        with self._connections_lock:
            for pid, db in self._connections:
                if pid == os.getpid():  # a connection inherited across fork belongs to the parent
                    db.close()
            self._connections.clear()
        self._local = threading.local()
