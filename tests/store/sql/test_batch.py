"""Batched reads and writes of the SQL store, on SQLite and PostgreSQL:
``read_many`` (IBatchReadMailbox) gives exactly what ``read`` gives,
chunked bodies included, leaving out expunged messages; a STORE over
many messages (one pipelined UPDATE batch) changes each of them once, at
one new modseq (RFC 7162 §3.1.3); SEARCH SUBJECT answered without
confirmation (:func:`mailframe.store.sql.sortindex.subject_text`)."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.imap.types import SearchHeader, SearchNot
from mailframe.interfaces import IBatchReadMailbox
from mailframe.records import StoreMode
from mailframe.store.sql import SqlStore, open_postgresql, open_sqlite
from mailframe.store.sql.dialect import SQLITE
from mailframe.store.sql.schema import CHUNK
from mailframe.store.sql.search import compile_key
from tests.store.sql.pgcluster import new_database

MESSAGES = [
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= two\r\n\r\nsecond\r\n",
    b"From: x@y\r\n\r\nno subject at all\r\n",
    b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * (CHUNK // 18 * 3),  # chunked
    b"Subject: gone\r\n\r\nexpunged below\r\n",
]


class _Batch:
    def make_store(self) -> SqlStore:
        raise NotImplementedError

    async def test_read_many_equals_read(self) -> None:
        store = self.make_store()
        try:
            box = await (await store.account("alice")).mailbox("INBOX")
            assert IBatchReadMailbox.providedBy(box)
            uids = [await box.append(m) for m in MESSAGES]
            await box.store([uids[-1]], StoreMode.ADD, frozenset({"\\Deleted"}))
            await box.expunge()
            got = await box.read_many([*uids, 999])
            expected = {u: await box.read(u) for u in uids[:-1]}
            assert got == expected
            assert len(got[uids[3]]) > 2 * CHUNK
            assert await box.read_many([]) == {}
        finally:
            await defer.maybeDeferred(store.close)

    async def test_read_ranges_equal_slices(self) -> None:
        """``read(uid, start, end)`` -- one statement outside a transaction,
        the range cut out in the database; chunked bodies in a transaction
        -- gives ``whole[start:end]`` for every kind of range, and
        ``ExpungeIssued`` for an expunged UID, after which the store still
        reads (the connection is not dropped)."""
        from mailframe.errors import ExpungeIssued

        store = self.make_store()
        try:
            box = await (await store.account("alice")).mailbox("INBOX")
            uids = [await box.append(m) for m in MESSAGES]
            for uid, raw in zip(uids, MESSAGES, strict=True):
                size = len(raw)
                assert await box.read(uid) == raw
                for start, end in [
                    (0, 5), (3, None), (7, 7), (9, 4), (size - 2, size + 50), (size + 3, None),
                    (size + 3, size + 9), (0, size), (CHUNK - 5, CHUNK + 5), (2 * CHUNK + 1, None),
                ]:
                    got = await box.read(uid, start, end)
                    assert got == raw[start:end], (uid, start, end)
            await box.store([uids[-1]], StoreMode.ADD, frozenset({"\\Deleted"}))
            await box.expunge()
            for _ in range(3):
                try:
                    await box.read(uids[-1], 0, 10)
                except ExpungeIssued:
                    pass
                else:
                    raise AssertionError("an expunged message was read")
            assert await box.read(uids[0], 0, 10) == MESSAGES[0][:10]
        finally:
            await defer.maybeDeferred(store.close)

    async def test_store_many_at_one_modseq(self) -> None:
        store = self.make_store()
        try:
            box = await (await store.account("alice")).mailbox("INBOX")
            uids = [await box.append(m) for m in MESSAGES]
            first = await box.store(uids[:2], StoreMode.ADD, frozenset({"$x"}))
            result = await box.store(uids, StoreMode.ADD, frozenset({"$x", "\\Seen"}))
            modseqs = {c.modseq for c in result.changed}
            assert len(modseqs) == 1 and modseqs.pop() > first.changed[0].modseq
            assert [c.uid for c in result.changed] == uids
            states = await box.states(uids)
            assert all(s.flags == frozenset({"$x", "\\Seen"}) for s in states)
            again = await box.store(uids, StoreMode.ADD, frozenset({"$x"}))
            assert again.changed == ()
        finally:
            await defer.maybeDeferred(store.close)

    async def test_subject_answered_in_the_database(self) -> None:
        store = self.make_store()
        try:
            box = await (await store.account("alice")).mailbox("INBOX")
            uids = [await box.append(m) for m in MESSAGES]
            every = range(1, 2**32)
            assert await box.search(SearchHeader("SUBJECT", "GRÜSSE"), every) == [uids[1]]
            assert await box.search(SearchHeader("SUBJECT", "o"), every) == [uids[0], uids[1], uids[4]]
            # no Subject: field at all: NOT SUBJECT matches it
            missing = await box.search(SearchNot(SearchHeader("SUBJECT", "e")), every)
            assert missing == [uids[2], uids[3]]
        finally:
            await defer.maybeDeferred(store.close)


class SqliteBatch(_Batch, TestCase):
    def make_store(self) -> SqlStore:
        return open_sqlite(self.mktemp() + ".db")


class PostgresBatch(_Batch, TestCase):
    def make_store(self) -> SqlStore:
        return open_postgresql(new_database(), listen=False)


def test_subject_needs_no_confirmation() -> None:
    """A one-line SUBJECT needle is sure in SQL; one with a line break
    (a literal may hold one) and other header keys are confirmed."""
    sure = compile_key(SearchHeader("SUBJECT", "report"), 10, SQLITE)
    assert sure is not None and "subject_text" in sure.sure
    for key in (SearchHeader("SUBJECT", "a\r\nb"), SearchHeader("FROM", "report")):
        compiled = compile_key(key, 10, SQLITE)
        assert compiled is not None and "subject_text" not in compiled.sure

