"""SQLite: an embedded database file, nothing to run (``sqlite:PATH``).

One worker thread holds the one connection; writes take SQLite's write
lock at once (``BEGIN IMMEDIATE``); WAL mode lets another process (the
``mailframe`` command, a second server) read meanwhile, and a busy
timeout plus retries cover a second writer process.
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
        super().__init__(1)

    def connect(self) -> Any:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an acknowledged APPEND survives a power cut
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def unavailable(self, exc: BaseException) -> bool:
        # the file gone, unreadable, or the disk failing
        text = str(exc)
        return isinstance(exc, sqlite3.OperationalError) and (
            "unable to open" in text or "disk I/O error" in text or "readonly" in text
        )
