"""SEARCH pushdown of the SQL store equals the framework's matcher
(:func:`mailframe.store.statesearch.match`, itself checked against the
session's matcher in tests/store/test_search_pushdown.py), by property:
random mailboxes (flags and keywords in several spellings, sizes, internal
dates in many time zones near midnight, some expunged) and random keys.

The transactions run synchronously in the test thread
(``Database.run_sync``), so hypothesis drives them without a reactor.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailframe.imap.types import (
    STAR,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SequenceSet,
)
from mailframe.records import MessageState
from mailframe.store.sql import SqlStore, open_sqlite
from mailframe.store.sql.db import Tx
from mailframe.store.sql.mailbox import SqlMailbox
from mailframe.store.sql.query import search_in
from mailframe.store.sql.rows import (
    Prepared,
    append_rows,
    bump,
    create_row,
    decode_flags,
    expunge_rows,
)
from mailframe.store.statesearch import match

FLAGS = ["\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "\\Draft", "$Label", "Junk", "\\Odd"]
DAY0 = date(2024, 1, 1)

numbers = st.integers(min_value=1, max_value=14) | st.just(STAR)
seqsets = st.lists(st.tuples(numbers, numbers), min_size=1, max_size=3).map(
    lambda r: SequenceSet(tuple(r))
)
leaf: st.SearchStrategy[SearchKey] = st.one_of(
    st.just(SearchAll()),
    st.builds(
        SearchFlag, st.sampled_from(FLAGS + ["$label", "JUNK", "\\odd", "\\SEEN"]), st.booleans()
    ),
    st.builds(SearchSet, seqsets, st.just(True)),
    st.builds(SearchSize, st.sampled_from(["larger", "smaller"]), st.integers(0, 400)),
    st.builds(
        SearchDate,
        st.sampled_from(["before", "on", "since"]),
        st.integers(0, 6).map(lambda d: DAY0 + timedelta(days=d)),
    ),
    st.builds(SearchModSeq, st.integers(1, 30)),
)
keys = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(SearchNot, inner),
        st.builds(SearchOr, inner, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda ks: SearchAnd(tuple(ks))),
    ),
    max_leaves=6,
)
mailboxes = st.lists(
    st.tuples(
        st.frozensets(st.sampled_from(FLAGS)),
        st.integers(10, 300),
        st.integers(0, 5),  # day
        st.sampled_from([0, 1, 23]),  # hour
        st.integers(-12, 14),  # zone, hours
        st.booleans(),  # expunged
    ),
    max_size=12,
)

_store: SqlStore | None = None


@pytest.fixture(autouse=True, scope="module")
def _close_stores() -> Iterator[None]:
    """The stores' worker threads end with the module (else the process
    waits for them at exit)."""
    global _store, _pg
    yield
    for store in (_store, _pg):
        if store is not None:
            store.db.stop_now()
    _store = _pg = None


def _sqlite() -> SqlStore:
    global _store
    if _store is None:
        _store = open_sqlite(tempfile.mkdtemp(prefix="sql-search-") + "/mail.db")
    return _store


def _fill(tx: Tx, spec: list[Any]) -> int:
    account = tx.one(
        "INSERT INTO accounts (username) VALUES (?) RETURNING id",
        (f"u{tx.one('SELECT count(*) FROM accounts')[0]}",),
    )[0]
    box = create_row(tx, account, "INBOX")
    prepared = [
        Prepared(
            b"Subject: m\r\n\r\n" + b"x" * size,
            flags,
            datetime(2024, 1, 1, hour, tzinfo=timezone(timedelta(hours=zone)))
            + timedelta(days=day),
        )
        for flags, size, day, hour, zone, _ in spec
    ]
    if prepared:
        result = append_rows(tx, box, prepared)
        assert result is not None
        gone = [uid for uid, s in zip(result.uids, spec, strict=True) if s[5]]
        if gone:
            bumped = bump(tx, box)
            assert bumped is not None
            expunge_rows(tx, box, gone, bumped[1])
    return int(box)


def _check(store: SqlStore, spec: list[Any], key: SearchKey) -> None:
    box_id = store.db.run_sync(lambda tx: _fill(tx, spec), write=True)[0]
    box = SqlMailbox(store, box_id, "INBOX")

    def run(tx: Tx) -> tuple[list[int], list[int], list[int] | None, list[int] | None]:
        states = [
            MessageState(r[0], decode_flags(r[1], r[2]), r[3], r[4], datetime.fromisoformat(r[5]))
            for r in box._select(tx, range(1, 2**32), "1")
        ]
        largest = states[-1].uid if states else 0
        expected = [s.uid for s in states if match(key, s, largest)]
        some = [s.uid for s in states][::2]
        return (
            some,
            expected,
            search_in(tx, box_id, key, range(1, 2**32)),
            search_in(tx, box_id, key, some),
        )

    (some, expected, got, among), _ = store.db.run_sync(run, write=False)
    assert got == expected, (key, got, expected)
    assert among == [u for u in expected if u in some], (key, among)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mailboxes, keys)
def test_sqlite_pushdown_equals_matcher(spec: Any, key: SearchKey) -> None:
    _check(_sqlite(), spec, key)


def test_unanswerable_keys_are_left_to_the_matcher() -> None:
    """OLDER/YOUNGER (the clock), sent dates and SAVEDATE: not compiled."""
    from mailframe.imap.types import SearchWithin

    store = _sqlite()
    box_id = store.db.run_sync(lambda tx: _fill(tx, []), write=True)[0]
    for key in (
        SearchWithin("older", 10),
        SearchDate("on", DAY0, sent=True),
        SearchAnd((SearchHeader("SUBJECT", "m"), SearchDate("on", DAY0, saved=True))),
    ):
        got, _ = store.db.run_sync(lambda tx, k=key: search_in(tx, box_id, k, [1]), write=False)
        assert got is None, key


_pg: SqlStore | None = None


def _postgres() -> SqlStore:
    global _pg
    if _pg is None:
        from mailframe.store.sql import open_postgresql
        from tests.store.sql.pgcluster import new_database

        _pg = open_postgresql(new_database(), listen=False)
    return _pg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mailboxes, keys)
def test_postgresql_pushdown_equals_matcher(spec: Any, key: SearchKey) -> None:
    _check(_postgres(), spec, key)
