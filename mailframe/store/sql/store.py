"""The database store: mailboxes as rows, the log in SQL.

Every method is one transaction run by :class:`mailframe.store.sql.db.Database` off the
reactor.  The first statement of a write is ``UPDATE mailboxes SET uidnext
= uidnext + n, highestmodseq = highestmodseq + 1 ... RETURNING`` on the
mailbox row: it takes the row lock, so commit order is modseq order and
CHANGEDSINCE (RFC 7162 §3.1.4) never misses a change that commits late.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task, threads
from twisted.logger import Logger
from zope.interface import implementer

from mailframe.errors import StoreUnavailable
from mailframe.interfaces import IAccount, IMailStore
from mailframe.store._names import INBOX
from mailframe.store._watchers import Watchers
from mailframe.store.sql.account import SqlAccount
from mailframe.store.sql.db import Database, DatabaseUnavailable, Tx
from mailframe.store.sql.mailbox import SqlMailbox
from mailframe.store.sql.migrate import migrate
from mailframe.store.sql.prune import prune
from mailframe.store.sql.rows import create_row

__all__ = ["SqlStore", "SqlAccount", "SqlMailbox"]

_log = Logger()


@implementer(IMailStore)
class SqlStore:
    """Every account in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect
        self._watchers: dict[int, Watchers] = {}
        self._boxes: weakref.WeakValueDictionary[int, SqlMailbox] = weakref.WeakValueDictionary()
        db.on_change = self.changed
        #: claims of \\Recent run in the order sessions ask (a pool of
        #: PostgreSQL threads would otherwise let a later claim win).
        self.recent_lock = defer.DeferredLock()
        #: a :class:`mailframe.store.sql.notify.Listener` hearing other frontends (PostgreSQL).
        self.listener: Any = None
        self._pruner: task.LoopingCall | None = None
        try:
            db.run_sync(self._init, write=True)
        except DatabaseUnavailable as exc:
            db.stop_now()
            raise StoreUnavailable(exc.text) from exc
        except BaseException:
            db.stop_now()  # no worker thread left behind to keep the process alive
            raise

    def _init(self, tx: Tx) -> None:
        migrate(tx)

    # -------------------------------------------------------------- pruning

    #: how often the expunge log is pruned when limits are set.
    PRUNE_EVERY = 3600.0

    def prune_expunged(
        self, max_age: float | None, max_count: int | None
    ) -> defer.Deferred[int]:
        """Prune tombstones (:mod:`mailframe.store.sql.prune`) in one write
        transaction; how many went."""
        return self.db.run(lambda tx: prune(tx, max_age, max_count), write=True)

    def keep_expunged(self, max_age: float | None, max_count: int | None) -> None:
        """Prune tombstones older than ``max_age`` seconds or beyond
        ``max_count`` per mailbox every :data:`PRUNE_EVERY` seconds (and
        once now); ``None`` for both: keep them all."""
        if self._pruner is not None and self._pruner.running:
            self._pruner.stop()
        self._pruner = None
        if max_age is None and max_count is None:
            return
        self._pruner = task.LoopingCall(self.prune_expunged, max_age, max_count)
        self._pruner.start(self.PRUNE_EVERY, now=True).addErrback(
            lambda f: _log.failure("pruning the expunge log failed", f)
        )

    # ------------------------------------------------------------- watchers

    def changed(self, changed: dict[int, int] | None) -> None:
        """Mailboxes changed (here, or in another frontend; ``None``: maybe
        any, after the listener reconnected): wake their watchers."""
        for mailbox_id in list(self._watchers) if changed is None else changed:
            watchers = self._watchers.get(mailbox_id)
            if watchers is not None:
                watchers.notify()

    def watch(self, mailbox_id: int, callback: Callable[[], object]) -> Callable[[], None]:
        return self._watchers.setdefault(mailbox_id, Watchers()).add(callback)

    def mailbox_object(self, mailbox_id: int, name: str) -> SqlMailbox:
        box = self._boxes.get(mailbox_id)
        if box is None:
            box = SqlMailbox(self, mailbox_id, name)
            self._boxes[mailbox_id] = box
        return box

    def renamed(self, names: dict[int, str]) -> None:
        for mailbox_id, name in names.items():
            box = self._boxes.get(mailbox_id)
            if box is not None:
                box.name = name

    # ------------------------------------------------------------ IMailStore

    def account(self, username: str) -> defer.Deferred[IAccount]:
        def run(tx: Tx) -> int:
            row = tx.one("SELECT id FROM accounts WHERE username = ?", (username,))
            if row is None:
                row = tx.one("INSERT INTO accounts (username) VALUES (?) RETURNING id", (username,))
            account_id = int(row[0])
            if (
                tx.one(
                    "SELECT id FROM mailboxes WHERE account_id = ? AND name = ? AND deleted = 0",
                    (account_id, INBOX),
                )
                is None
            ):
                create_row(tx, account_id, INBOX)
            return account_id

        d = self.db.run(run, write=True)
        return d.addCallback(lambda account_id: SqlAccount(self, username, account_id))

    def close(self) -> defer.Deferred[None]:
        self.keep_expunged(None, None)
        self._watchers.clear()
        listener, self.listener = self.listener, None
        d = self.db.close()
        if listener is not None:
            d.addCallback(lambda _: threads.deferToThread(listener.stop))
        return d
