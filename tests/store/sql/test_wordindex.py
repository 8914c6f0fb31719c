"""PostgreSQL's word index (schema 7, :mod:`mailframe.store.sql.wordindex`):
built at APPEND, dropped with the message, filled for a version 6
database at start, checked and repaired by ``mailframe db check``; its
lookups answer IMAP's substring rule exactly (RFC 3501 §6.4.4: a needle
inside an address token, of one or two characters, across words) with
nothing left for the matcher to confirm."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailframe.imap.types import SearchBody, SearchHeader, SearchKey
from mailframe.store.sql import open_postgresql
from mailframe.store.sql.check import check, repair
from mailframe.store.sql.db import Tx
from mailframe.store.sql.query import search_in, search_plan
from mailframe.store.sql.rows import (
    Prepared,
    append_rows,
    create_row,
    expunge_rows,
    move_rows,
)
from mailframe.store.sql.schema import SCHEMA_VERSION
from tests.store.sql.pgcluster import new_database

MESSAGES = [
    b"From: Ann <ann@example.com>\r\nTo: user@example.com\r\nSubject: fox\r\n\r\n"
    b"the quick brown fox\r\n",
    b"From: bob@other.org\r\nSubject: Dog\r\nContent-Type: text/html\r\n\r\n"
    b"<p>lazy&nbsp;DOG sleeps</p>\r\n",
    b"From: carl@example.net\r\nSubject: x\r\n\r\nno animals: quickly, a brownie\r\n",
]


@pytest.fixture
def conninfo() -> Iterator[str]:
    yield new_database()



def _expunge(tx: Tx, box: int, uids: list[int]) -> None:
    """EXPUNGE ``uids`` of ``box`` at a new modseq, as the store does."""
    modseq = int(
        tx.one(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? RETURNING highestmodseq",
            (box,),
        )[0]
    )
    expunge_rows(tx, box, uids, modseq)

def _fill(tx: Tx) -> int:
    account = tx.one("INSERT INTO accounts (username) VALUES ('u') RETURNING id")[0]
    box = create_row(tx, int(account), "INBOX")
    assert append_rows(tx, box, [Prepared(m, frozenset(), None) for m in MESSAGES])
    return box


def _plan(store: Any, box: int, key: SearchKey) -> Any:
    return store.db.run_sync(lambda tx: search_plan(tx, box, key, range(1, 2**32)), False)[0]


EXACT: list[tuple[SearchKey, list[int]]] = [
    (SearchBody("QUICK"), [1, 3]),  # in "quick" and "quickly,"
    (SearchBody("brown"), [1, 3]),
    (SearchBody("dog"), [2]),  # HTML: the source and the rendered text
    (SearchBody("og"), [2]),  # two characters
    (SearchBody("x"), [1]),  # one: "fox"
    (SearchHeader("TO", "example"), [1]),  # inside user@example.com
    (SearchHeader("FROM", "example"), [1, 3]),
    (SearchBody("example", text=True), [1, 3]),
    (SearchBody("zebra"), []),
]


def test_lookups_are_exact(conninfo: str) -> None:
    store = open_postgresql(conninfo, listen=False)
    try:
        box = store.db.run_sync(_fill, write=True)[0]
        for key, want in EXACT:
            plan = _plan(store, box, key)
            assert plan is not None, key
            sure, unsure, _ = plan
            if isinstance(key, SearchHeader):  # header keys but SUBJECT: confirmed
                assert set(want) <= set(sure + unsure), key
                found = store.db.run_sync(
                    lambda tx, k=key: search_in(tx, box, k, range(1, 2**32)), False
                )[0]
                assert found == want, key
            else:
                assert (sure, unsure) == (want, []), key
        # two words: the index narrows to the messages with both (3 has
        # "quickly," and "brownie"), SQL finds the phrase in 1, the
        # matcher turns 3 down
        sure, unsure, _ = _plan(store, box, SearchBody("quick brown"))
        assert (sure, unsure) == ([1], [3])
        key = SearchBody("quick brown")
        found = store.db.run_sync(lambda tx: search_in(tx, box, key, range(1, 2**32)), False)[0]
        assert found == [1]
    finally:
        store.db.stop_now()


def test_arrays_follow_the_messages(conninfo: str) -> None:
    store = open_postgresql(conninfo, listen=False)
    try:
        box = store.db.run_sync(_fill, write=True)[0]

        def counts(tx: Tx) -> tuple[int, int, int]:
            return (
                int(tx.one("SELECT count(*) FROM mailbox_words")[0]),
                int(tx.one("SELECT count(*) FROM text_words WHERE word = 'user@example.com'")[0]),
                int(tx.one("SELECT count(*) FROM text_words WHERE word = 'fox'")[0]),
            )

        arrays, address, fox = store.db.run_sync(counts, False)[0]
        # one array per mailbox row; the address a word of hdr and of fields;
        # "fox" of hdr (Subject), fields and body
        assert (arrays, address, fox) == (3, 2, 3)

        store.db.run_sync(lambda tx: _expunge(tx, box, [1]), write=True)
        assert store.db.run_sync(counts, False)[0][0] == 2
        assert _plan(store, box, SearchBody("fox"))[:2] == ([], [])
    finally:
        store.db.stop_now()


def test_version_6_gets_its_word_index(conninfo: str) -> None:
    """6 -> 7: the tables are created at start and every message's array
    built from its stored documents; ``db check`` then finds nothing
    missing, and a lost array is found and rebuilt by ``repair``."""
    import psycopg

    store = open_postgresql(conninfo, listen=False)
    box = store.db.run_sync(_fill, write=True)[0]
    store.db.stop_now()
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute("DROP TABLE mailbox_words")
        pg.execute("DROP TABLE text_words")
        pg.execute("DELETE FROM counters WHERE name = 'word_version'")
        pg.execute("UPDATE schema_version SET version = 6")
    store = open_postgresql(conninfo, listen=False)
    try:

        def look(tx: Tx) -> tuple[int, int, list[str]]:
            return (
                int(tx.one("SELECT version FROM schema_version")[0]),
                int(tx.one("SELECT count(*) FROM mailbox_words")[0]),
                check(tx).problems,
            )

        assert store.db.run_sync(look, False)[0] == (SCHEMA_VERSION, 3, [])
        assert _plan(store, box, SearchBody("brown"))[:2] == ([1, 3], [])
        store.db.run_sync(
            lambda tx: tx.execute("DELETE FROM mailbox_words WHERE uid = 2"), write=True
        )
        problems = store.db.run_sync(look, False)[0][2]
        assert any("missing from the word index" in p for p in problems)
        assert store.db.run_sync(repair, write=True)[0] == 1
        assert store.db.run_sync(look, False)[0] == (SCHEMA_VERSION, 3, [])
        assert _plan(store, box, SearchBody("dog"))[:2] == ([2], [])
    finally:
        store.db.stop_now()


def test_copy_carries_the_arrays(conninfo: str) -> None:
    """Schema 8: the arrays belong to mailbox rows, so a COPY gives the
    destination's new UIDs theirs (a search there finds them, by their
    own UIDs), an EXPUNGE in the source leaves the copies found, and
    ``db check`` notices (and ``repair`` removes) an array whose row is
    gone and builds one a row lacks."""
    store = open_postgresql(conninfo, listen=False)
    try:
        box = store.db.run_sync(_fill, write=True)[0]

        def copy(tx: Tx) -> tuple[int, list[tuple[int, int]]]:
            account = int(tx.one("SELECT account_id FROM mailboxes WHERE id = ?", (box,))[0])
            other = create_row(tx, account, "Other")
            tx.execute("UPDATE mailboxes SET uidnext = 11 WHERE id = ?", (other,))
            result = move_rows(tx, box, other, [1, 3], expunge_source=False)
            return other, list(result.pairs)

        other, pairs = store.db.run_sync(copy, write=True)[0]
        assert pairs == [(1, 11), (3, 12)]
        assert _plan(store, other, SearchBody("brown"))[:2] == ([11, 12], [])
        assert _plan(store, other, SearchBody("dog"))[:2] == ([], [])

        store.db.run_sync(lambda tx: _expunge(tx, box, [1, 3]), write=True)
        assert _plan(store, box, SearchBody("brown"))[:2] == ([], [])
        assert _plan(store, other, SearchBody("brown"))[:2] == ([11, 12], [])

        def damage(tx: Tx) -> None:
            tx.execute("DELETE FROM mailbox_words WHERE mailbox_id = ? AND uid = 12", (other,))
            tx.execute(
                "INSERT INTO mailbox_words (mailbox_id, uid, words) VALUES (?, 99, ARRAY[1])",
                (other,),
            )

        store.db.run_sync(damage, write=True)
        problems = store.db.run_sync(check, False)[0].problems
        assert any("missing from the word index" in p for p in problems), problems
        assert any("word arrays of no mailbox row" in p for p in problems), problems
        assert store.db.run_sync(repair, write=True)[0] == 2
        assert store.db.run_sync(check, False)[0].problems == []
        assert _plan(store, other, SearchBody("brown"))[:2] == ([11, 12], [])
    finally:
        store.db.stop_now()
