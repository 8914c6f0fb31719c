"""QUOTA usage of the database store (RFC 9208 §5.1, §5.2): one statement
summing the account's selectable mailboxes equals the generic sum of
their STATUS counters (:func:`mailframe.store.quota.mailbox_usage`)."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.quota import QuotaUsage
from mailframe.store.quota import IQuotaUsage, mailbox_usage
from mailframe.store.sql import SqlStore, open_postgresql, open_sqlite
from tests.store.sql.pgcluster import new_database

MESSAGE = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"


class _Usage:
    def make_store(self) -> SqlStore:
        raise NotImplementedError

    @defer.inlineCallbacks
    def test_usage_equals_status_sums(self) -> defer.Generator[defer.Deferred[object], object, None]:
        store = self.make_store()
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        account = yield store.account("alice")
        assert IQuotaUsage.providedBy(account)
        empty = yield account.quota_usage()
        assert empty == QuotaUsage(0, 0)
        yield account.create_mailbox("Work/Reports")
        yield account.create_mailbox("Gone")
        inbox = yield account.mailbox("INBOX")
        work = yield account.mailbox("Work/Reports")
        gone = yield account.mailbox("Gone")
        for i in range(5):
            yield inbox.append(MESSAGE % (i, i), frozenset(), None)
        for i in range(3):
            yield work.append(MESSAGE % (i, i), frozenset(), None)  # same bodies: shared rows
        yield gone.append(MESSAGE % (9, 9), frozenset(), None)
        yield account.delete_mailbox("Gone")  # a deleted mailbox counts no more
        yield inbox.store([1], "add", frozenset({"\\Deleted"}))
        yield inbox.expunge()
        usage = yield account.quota_usage()
        generic = yield defer.Deferred.fromCoroutine(mailbox_usage(account))
        assert usage == generic
        assert usage.messages == 7


class SqliteUsage(_Usage, TestCase):
    def make_store(self) -> SqlStore:
        return open_sqlite(self.mktemp() + ".db")


class PostgresUsage(_Usage, TestCase):
    def make_store(self) -> SqlStore:
        return open_postgresql(new_database(), listen=False)
