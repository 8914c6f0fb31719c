"""SEARCH's column cache (issue 16): header, date and size keys answered
from per-mailbox rows give exactly the matcher's answers, cold and warm
(checked over the Dovecot-verified corpus), and the rows follow the
mailbox: new mail,
expunges and a mailbox deleted and created again under the same name
(a new UIDVALIDITY, the same UIDs) never answer from a stale row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.trial.unittest import TestCase

from mailframe.imap.commands import search_columns
from mailframe.message import fold_case, header_matcher, header_matches, header_values, parse
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.wait import until_written

DATA = Path(__file__).parent.parent / "data" / "messages"
QUERIES = json.loads((DATA.parent / "dovecot-2.3.19-search.json").read_text(encoding="utf-8"))
HEADER_QUERIES = sorted(q for q in QUERIES if q.split(" ")[0] not in ("BODY", "TEXT"))
NAMES = [p.stem for p in sorted(DATA.glob("*.eml")) if p.stat().st_size]


class _Record:
    def __init__(self, uid: int, raw: bytes) -> None:
        from datetime import UTC, datetime

        self.uid, self.size, self.info = uid, len(raw), parse(raw)
        self.internaldate = datetime(2024, 1, 1, tzinfo=UTC)
        self.savedate = None


@pytest.mark.parametrize("query", HEADER_QUERIES, ids=str)
def test_rows_answer_as_the_matcher(query: str) -> None:
    words = query.split(" ")
    n = 2 if words[0] == "HEADER" else 1
    field, needle = words[n - 1], " ".join(words[n:])
    for name in NAMES:
        raw = (DATA / f"{name}.eml").read_bytes()
        row = search_columns.Row(_Record(1, raw))
        expected = header_matches(parse(raw), field, needle)
        assert row.header_matches(field, needle) is expected, name
        # and again once the row holds what it decoded (a warm search)
        folded = fold_case(needle)
        assert row.header_matches(field, needle) is expected, name
        assert expected is any(folded in v for v in header_values(parse(raw), field)), name
        matcher = header_matcher(field, needle)  # the compiled form a search uses
        fresh = search_columns.Row(_Record(1, raw))
        assert matcher(fresh) is expected and matcher(fresh) is expected, name


def test_columns_answer_as_the_matcher() -> None:
    """A :class:`search_columns.Column` (a field searched again) finds
    exactly the messages the matcher matches, for every header query of
    the Dovecot-verified corpus, over all its messages at once."""
    from array import array

    raws = [(DATA / f"{name}.eml").read_bytes() for name in NAMES]
    uids = array("L", range(1, len(raws) + 1))
    for query in HEADER_QUERIES:
        words = query.split(" ")
        n = 2 if words[0] == "HEADER" else 1
        field, needle = words[n - 1], " ".join(words[n:])
        folded = fold_case(needle)
        if not folded:
            continue  # an empty needle never goes by column
        rows = [search_columns.Row(_Record(u, raw)) for u, raw in zip(uids, raws, strict=True)]
        column = search_columns.Column(uids, [search_columns.column_part(r, field.lower()) for r in rows])
        expected = [k for k, raw in enumerate(raws) if header_matches(parse(raw), field, needle)]
        assert column.find(folded) == expected, query


async def _session(store: Any, script: list[bytes]) -> bytes:
    conn = connect(context_for(store))
    data = b"a1 LOGIN alice secret\r\n" + b"".join(b"t%d %s\r\n" % (i, c) for i, c in enumerate(script))
    conn.protocol.dataReceived(data)
    last = b"t%d " % (len(script) - 1)
    out = await until_written(conn.transport, last)
    conn.protocol.connectionLost(None)
    return out


def _searches(out: bytes) -> list[bytes]:
    return [line for line in out.split(b"\r\n") if line.startswith(b"* SEARCH")]


def _msg(subject: str, sender: str = "ann@example.org") -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n".encode()


class _Follows:
    store: Any

    async def _append(self, box: str, *messages: bytes) -> None:
        mailbox = await (await self.store.account("alice")).mailbox(box)
        for raw in messages:
            await mailbox.append(raw, frozenset(), None)

    async def test_rows_follow_new_mail_expunge_and_a_new_uidvalidity(self) -> None:
        account = await self.store.account("alice")
        await account.create_mailbox("Box")
        await self._append("Box", _msg("alpha one"), _msg("beta two", "ben@example.org"))
        out = await _session(self.store, [b"SELECT Box", b"SEARCH SUBJECT alpha", b"SEARCH FROM ben",
                                          b"SEARCH SUBJECT alpha SENTON 1-Jan-2024 LARGER 10"])
        self.assertEqual(_searches(out), [b"* SEARCH 1", b"* SEARCH 2", b"* SEARCH 1"])
        await self._append("Box", _msg("alpha three"))
        out = await _session(self.store, [b"SELECT Box", b"SEARCH SUBJECT alpha", b"STORE 1 +FLAGS (\\Deleted)",
                                          b"EXPUNGE", b"SEARCH SUBJECT alpha", b"SEARCH NOT SUBJECT alpha"])
        self.assertEqual(_searches(out), [b"* SEARCH 1 3", b"* SEARCH 2", b"* SEARCH 1"])
        # the same name, a new UIDVALIDITY, the same UIDs: nothing stale
        await account.delete_mailbox("Box")
        await account.create_mailbox("Box")
        await self._append("Box", _msg("gamma"), _msg("alpha again"))
        out = await _session(self.store, [b"SELECT Box", b"SEARCH SUBJECT alpha", b"SEARCH SUBJECT gamma",
                                          b"SEARCH FROM ben"])
        self.assertEqual(_searches(out), [b"* SEARCH 2", b"* SEARCH 1", b"* SEARCH"])


    async def test_a_fetch_of_records_fills_the_rows(self) -> None:
        """FETCH ENVELOPE (or header fields) reads the records; the header
        search after it asks the store for none (Dovecot answers it from
        the cache its FETCH filled), and answers the same."""
        account = await self.store.account("alice")
        await account.create_mailbox("Filled")
        await self._append("Filled", _msg("alpha one"), _msg("beta two", "ben@example.org"), _msg("alpha x"))
        box = await account.mailbox("Filled")
        asked: list[list[int]] = []
        records = type(box).records

        def counting(mailbox: Any, uids: Any) -> Any:
            asked.append(list(uids))
            return records(mailbox, uids)

        self.patch(type(box), "records", counting)
        out = await _session(self.store, [b"SELECT Filled", b"FETCH 1:* (ENVELOPE)"])
        self.assertEqual(asked, [[1, 2, 3]])
        out = await _session(self.store, [b"SELECT Filled", b"SEARCH SUBJECT alpha", b"SEARCH FROM ben",
                                          b"SEARCH NOT FROM ann@example.org"])
        self.assertEqual(_searches(out), [b"* SEARCH 1 3", b"* SEARCH 2", b"* SEARCH 2"])
        self.assertEqual(asked, [[1, 2, 3]])

    async def test_a_field_searched_again_goes_by_column_and_follows_the_mailbox(self) -> None:
        """The second search of a field is answered from its column; new
        mail and an expunge make the column again (never a stale answer)."""
        account = await self.store.account("alice")
        await account.create_mailbox("Col")
        await self._append("Col", _msg("alpha one"), _msg("beta two", "ben@example.org"), _msg("Alpha three"))
        conn = connect(context_for(self.store))
        conn.protocol.dataReceived(b"a1 LOGIN alice secret\r\na2 SELECT Col\r\n"
                                   b"a3 SEARCH SUBJECT alpha\r\na4 SEARCH SUBJECT alpha\r\n"
                                   b"a5 SEARCH FROM ben\r\na6 SEARCH FROM BEN@\r\n")
        out = await until_written(conn.transport, b"a6 OK")
        self.assertEqual(_searches(out), [b"* SEARCH 1 3", b"* SEARCH 1 3", b"* SEARCH 2", b"* SEARCH 2"])
        box = await account.mailbox("Col")
        owner = getattr(box, "folder", box)
        self.assertIsNotNone(search_columns._COLUMNS[owner][(await box.status()).uidvalidity, "subject"])
        await self._append("Col", _msg("alpha four", "ben@example.org"))
        from mailframe.records import StoreMode

        await box.store([1], StoreMode.ADD, frozenset({"\\Deleted"}))
        conn.transport.clear()
        conn.protocol.dataReceived(b"b1 NOOP\r\nb2 SEARCH SUBJECT alpha\r\nb3 SEARCH FROM ben\r\n"
                                   b"b4 EXPUNGE\r\nb5 SEARCH SUBJECT alpha\r\nb6 SEARCH FROM ben\r\n")
        out = await until_written(conn.transport, b"b6 OK")
        conn.protocol.connectionLost(None)
        self.assertEqual(_searches(out), [b"* SEARCH 1 3 4", b"* SEARCH 2 4", b"* SEARCH 2 3", b"* SEARCH 1 3"])

    async def test_a_message_gone_from_the_store_before_its_row_is_made(self) -> None:
        """Expunged by another client after this session's SELECT and
        before any search made its row: the header search has no record
        for it and leaves it out (the session's numbers unchanged until
        the EXPUNGE is told at a command that may tell it, RFC 3501 §7.4.1)."""
        from mailframe.records import StoreMode

        account = await self.store.account("alice")
        await account.create_mailbox("Gone")
        await self._append("Gone", _msg("alpha one"), _msg("alpha two"), _msg("beta three"))
        conn = connect(context_for(self.store))
        conn.protocol.dataReceived(b"a1 LOGIN alice secret\r\na2 SELECT Gone\r\n")
        await until_written(conn.transport, b"a2 OK")
        box = await account.mailbox("Gone")
        await box.store([1], StoreMode.ADD, frozenset({"\\Deleted"}))
        self.assertEqual(await box.expunge([1]), [1])
        conn.protocol.dataReceived(b"a3 SEARCH SUBJECT alpha\r\na4 NOOP\r\na5 SEARCH SUBJECT alpha\r\n")
        out = await until_written(conn.transport, b"a5 OK")
        conn.protocol.connectionLost(None)
        self.assertEqual(_searches(out), [b"* SEARCH 2", b"* SEARCH 1"])
        self.assertIn(b"* 1 EXPUNGE\r\n", out)



class MemoryRowsTests(_Follows, TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()


class MaildirRowsTests(_Follows, TestCase):
    def setUp(self) -> None:
        self.store = MaildirStore(self.mktemp())
        self.addCleanup(self.store.close)


class BoundsTests(TestCase):
    def test_rows_stay_under_the_limit(self) -> None:
        class Owner:
            pass

        owners = [Owner() for _ in range(3)]
        self.addCleanup(search_columns._CACHES.clear)
        old = search_columns.MAX_ROWS
        search_columns.MAX_ROWS = 1500
        self.addCleanup(setattr, search_columns, "MAX_ROWS", old)
        for k, owner in enumerate(owners):
            cache = search_columns._cache(owner, 1)
            assert cache is not None
            for uid in range(1, 1001):
                cache[uid] = search_columns.Row(_Record(uid, _msg(f"s{k}")))
            search_columns._trim(cache)
        total = sum(len(c) for by in search_columns._CACHES.values() for c in by.values())
        self.assertLessEqual(total, 1500)
        self.assertEqual(len(search_columns._cache(owners[-1], 1) or {}), 1000)
