"""The SQLite store: the whole conformance suite, restarts included."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.sql import SqlStore, open_sqlite
from mailframe.testing import PersistentBackendConformance


class SqliteConformance(PersistentBackendConformance, TestCase):
    def make_store(self) -> SqlStore:
        self.path = self.mktemp() + ".db"
        return open_sqlite(self.path)

    def reopen_store(self) -> SqlStore:
        return open_sqlite(self.path)


class Durability(TestCase):
    """What reaches the disk before OK (mailframe.store.sql.sqlite): mail
    is saved with ``synchronous = FULL`` (the WAL synced at COMMIT), a
    flag change with ``NORMAL`` (synced with the next save or checkpoint)."""

    def _synchronous(self, store: SqlStore, durable: bool) -> defer.Deferred[int]:
        # in the store's own thread, on its one connection
        return store.db.run(
            lambda tx: int(tx.one("PRAGMA synchronous")[0]), write=True, durable=durable
        )

    @defer.inlineCallbacks
    def test_saves_are_synced_flag_changes_are_not(
        self,
    ) -> defer.Generator[defer.Deferred[object], object, None]:
        store = open_sqlite(self.mktemp() + ".db")
        self.addCleanup(store.close)
        assert (yield self._synchronous(store, True)) == 2  # FULL
        assert (yield self._synchronous(store, False)) == 1  # NORMAL
        assert (yield self._synchronous(store, True)) == 2
        account = yield store.account("alice")
        inbox = yield account.mailbox("INBOX")
        yield inbox.append(b"Subject: x\r\n\r\nbody\r\n", frozenset(), None)
        yield inbox.store([1], "add", frozenset({"\\Seen"}))
        # the flag change left the connection NORMAL; a save is FULL again
        assert (yield self._synchronous(store, True)) == 2
        state = yield inbox.states([1])
        assert "\\Seen" in state[0].flags
