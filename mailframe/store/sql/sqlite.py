"""SQLite: an embedded database file, nothing to run (``sqlite:PATH``).

One worker thread holds the writing connection; writes take SQLite's
write lock at once (``BEGIN IMMEDIATE``); a second thread with its own
connection runs the read transactions, which WAL mode lets read the last
commit while a write is under way (as it lets another process, the
``mailframe`` command or a second server); a busy timeout plus retries
cover a second writer process.

Durability: a transaction that saves mail (APPEND, COPY, MOVE, EXPUNGE,
mailbox changes) commits with ``synchronous = FULL``: the WAL is synced
before the client hears OK, so an acknowledged message survives a power
cut.  A flag change (STORE) or a ``\\Recent`` claim commits with
``NORMAL`` (WAL mode: written, synced at the next FULL commit or
checkpoint): an application crash loses nothing, a power cut may undo
the last such changes but never mail, and the database stays consistent
(the WAL is replayed in order) -- what Dovecot's default ``mail_fsync =
optimized`` keeps.  That saves the one connection's thread an fsync
(~3 ms here) per STORE, time every other session's reads waited behind.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from mailframe.store.sql.db import Database
from mailframe.store.sql.dialect import SQLITE

__all__ = ["SqliteDatabase"]


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        # one writer thread (SQLite has one writer), one reader thread: in
        # WAL mode a read sees the last commit without waiting for the
        # write under way, so a session's NOOP (its catch-up read) does
        # not queue behind another's 50 MB APPEND
        super().__init__(1, readers=1)

    def connect(self) -> Any:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an acknowledged APPEND survives a power cut
        conn.execute("PRAGMA foreign_keys=ON")
        self._local.durable = True
        return conn

    def durability(self, conn: Any, durable: bool) -> None:
        """``synchronous`` FULL or NORMAL for the next transaction (a
        pragma outside a transaction: no I/O)."""
        if getattr(self._local, "durable", True) != durable:
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._local.durable = durable

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def unavailable(self, exc: BaseException) -> bool:
        # the file gone, unreadable, or the disk failing
        text = str(exc)
        return isinstance(exc, sqlite3.OperationalError) and (
            "unable to open" in text or "disk I/O error" in text or "readonly" in text
        )
