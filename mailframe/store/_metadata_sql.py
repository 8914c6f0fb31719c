"""METADATA (RFC 5464) entries in the SQL store's database: one small
table of its own, created when first needed, beside the SQL store's
schema (which it does not touch)::

    mailframe_metadata(account_id, mailbox, entry, value)

Every change runs in one transaction of the store's
:class:`mailframe.store.sql.db.Database` (its worker threads), so
SETMETADATA is all or none and the limits are checked against what is
committed, across frontends sharing one PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer

from mailframe.store._names import INBOX, is_inferior, rename_inferior

__all__ = ["SqlMetadata"]

Entries = dict[str, bytes]

_TABLE = """CREATE TABLE IF NOT EXISTS mailframe_metadata (
    account_id INTEGER NOT NULL,
    mailbox TEXT NOT NULL,
    entry TEXT NOT NULL,
    value {blob} NOT NULL,
    PRIMARY KEY (account_id, mailbox, entry)
)"""


class SqlMetadata:
    """One account's entries (its methods return Deferreds)."""

    asynchronous = True

    def __init__(self, db: Any, account_id: int) -> None:
        self.db = db
        self.account_id = account_id
        self._ready = False

    def _run(self, fn: Callable[[Any], Any], write: bool) -> defer.Deferred[Any]:
        def run(tx: Any) -> Any:
            if not self._ready:
                tx.execute(_TABLE)
            return fn(tx)

        def ready(result: Any) -> Any:
            self._ready = True
            return result

        d: defer.Deferred[Any] = self.db.run(run, write=write or not self._ready)
        return d.addCallback(ready)

    def _load(self, tx: Any, mailbox: str) -> Entries:
        rows = tx.all(
            "SELECT entry, value FROM mailframe_metadata WHERE account_id = ? AND mailbox = ?",
            (self.account_id, mailbox),
        )
        return {entry: bytes(value) for entry, value in rows}

    def load(self, mailbox: str) -> defer.Deferred[Entries]:
        return self._run(lambda tx: self._load(tx, mailbox), write=False)

    def _replace(self, tx: Any, mailbox: str, entries: Entries) -> None:
        tx.execute(
            "DELETE FROM mailframe_metadata WHERE account_id = ? AND mailbox = ?",
            (self.account_id, mailbox),
        )
        for entry, value in sorted(entries.items()):
            tx.execute(
                "INSERT INTO mailframe_metadata (account_id, mailbox, entry, value) "
                "VALUES (?, ?, ?, ?)",
                (self.account_id, mailbox, entry, value),
            )

    def update(self, mailbox: str, change: Callable[[Entries], Entries]) -> defer.Deferred[None]:
        def run(tx: Any) -> None:
            before = self._load(tx, mailbox)
            after = change(before)
            if after != before:
                self._replace(tx, mailbox, after)

        return self._run(run, write=True)

    def rename(self, old: str, new: str) -> defer.Deferred[None]:
        def run(tx: Any) -> None:
            if old == INBOX:
                self._replace(tx, new, self._load(tx, INBOX))
                return
            rows = tx.all(
                "SELECT DISTINCT mailbox FROM mailframe_metadata WHERE account_id = ?",
                (self.account_id,),
            )
            for (name,) in rows:
                if name == old or is_inferior(name, old):
                    tx.execute(
                        "UPDATE mailframe_metadata SET mailbox = ? "
                        "WHERE account_id = ? AND mailbox = ?",
                        (rename_inferior(name, old, new), self.account_id, name),
                    )

        return self._run(run, write=True)

    def drop(self, mailbox: str) -> defer.Deferred[None]:
        return self._run(lambda tx: self._replace(tx, mailbox, {}), write=True)
