"""Appending with chosen UIDs, for ``mailframe import`` (keeps the
source's UIDVALIDITY and UIDs, as
:class:`mailframe.store.maildir_admin.MaildirRestorer` does for Maildir).  Synchronous, like that one: it runs
in the command-line tool, each call one transaction in the caller's thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailframe.store.sql import mailbox as _mailbox
from mailframe.store.sql.db import Tx
from mailframe.store.sql.mailbox import SqlMailbox
from mailframe.store.sql.rows import Prepared, append_rows

__all__ = ["SqlRestorer"]


class SqlRestorer:
    """UID-keeping appends into one :class:`SqlMailbox`."""

    def __init__(self, mailbox: SqlMailbox) -> None:
        self.mailbox = mailbox
        self.db = mailbox.sqlstore.db

    def _sync(self, fn: Any, write: bool = True) -> Any:
        result, changed = self.db.run_sync(fn, write)
        if changed:
            self.mailbox.sqlstore.changed(changed)
        return result

    def adopt_uidvalidity(self, uidvalidity: int) -> bool:
        """Give the mailbox ``uidvalidity`` if it never held a message;
        True when it has that UIDVALIDITY afterwards."""

        def run(tx: Tx) -> bool:
            row = tx.one(
                "SELECT uidvalidity, uidnext FROM mailboxes WHERE id = ?", (self.mailbox.id,)
            )
            if int(row[0]) == uidvalidity:
                return True
            if int(row[1]) != 1:
                return False
            tx.execute(
                "UPDATE mailboxes SET uidvalidity = ? WHERE id = ?", (uidvalidity, self.mailbox.id)
            )
            return True

        return bool(self._sync(run))

    def next_uid(self) -> int:
        def run(tx: Tx) -> int:
            return int(tx.one("SELECT uidnext FROM mailboxes WHERE id = ?", (self.mailbox.id,))[0])

        return int(self._sync(run, write=False))

    def append(self, items: list[tuple[int, bytes, frozenset[str], datetime | None]]) -> list[int]:
        """Append ``(uid, content, flags, internaldate)`` items, UIDs
        ascending; an item whose UID is below the next UID gets the next
        free one.  All in one transaction.  Returns the UIDs given."""
        prepared = [(uid, Prepared(c, f, w)) for uid, c, f, w in items]

        def run(tx: Tx) -> list[int]:
            out: list[int] = []
            for uid, p in prepared:
                tx.execute(
                    f"UPDATE mailboxes SET uidnext = {tx.dialect.greatest}(uidnext, ?) "
                    "WHERE id = ?",
                    (uid, self.mailbox.id),
                )
                result = append_rows(tx, self.mailbox.id, [p])
                if result is None:
                    raise RuntimeError(f"mailbox {self.mailbox.name!r} was deleted")
                out += result.uids
            return out

        return list(self._sync(run))


_mailbox.RESTORER = SqlRestorer
