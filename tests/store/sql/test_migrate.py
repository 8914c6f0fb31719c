"""Schema versions: a version 1 database (no text index) is migrated to
version 2 at start, its messages indexed, and SEARCH BODY answers as
before; a newer version than the code knows is refused in one line."""

from __future__ import annotations

import sqlite3
import tempfile

import pytest

from mailframe.errors import StoreUnavailable
from mailframe.imap.types import SearchBody, SearchHeader
from mailframe.store.sql import open_sqlite
from mailframe.store.sql.db import Tx
from mailframe.store.sql.query import search_in
from mailframe.store.sql.rows import Prepared, append_rows, create_row, uid_bounds
from mailframe.store.sql.schema import SCHEMA_VERSION
from mailframe.store.sql.sortindex import sorted_uids

MESSAGES = [
    b"Subject: one\r\n\r\nthe quick brown fox\r\n",
    b"Subject: two\r\nContent-Type: text/html\r\n\r\n<p>lazy&nbsp;dog</p>\r\n",
    b"Subject: =?utf-8?q?dr=C3=BCben?=\r\n\r\nnothing here\r\n",
]


def _fill(tx: Tx) -> int:
    account = tx.one("INSERT INTO accounts (username) VALUES ('u') RETURNING id")[0]
    box = create_row(tx, int(account), "INBOX")
    assert append_rows(tx, box, [Prepared(m, frozenset(), None) for m in MESSAGES])
    return box


def _as_version_1(path: str) -> None:
    """What a version 1 database looks like: no text index, no
    ``text_state`` column, version 1."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE search_fts")
    conn.execute("DROP INDEX messages_text_state")
    conn.execute("ALTER TABLE messages DROP COLUMN text_state")
    conn.execute("ALTER TABLE mailboxes DROP COLUMN expunge_floor")
    conn.execute("DROP INDEX expunged_modseq")
    conn.execute("ALTER TABLE expunged DROP COLUMN at")
    conn.execute("CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq)")
    conn.execute("DELETE FROM counters WHERE name = 'text_version'")
    _drop_sort_keys(conn)
    conn.execute("UPDATE schema_version SET version = 1")
    conn.close()


def _drop_sort_keys(conn: sqlite3.Connection) -> None:
    """What versions 1 and 2 lack: the SORT keys."""
    conn.execute("DROP TABLE message_sort")
    conn.execute("DELETE FROM counters WHERE name = 'sort_version'")


def test_version_1_is_migrated_and_indexed() -> None:
    path = tempfile.mkdtemp(prefix="sql-migrate-") + "/mail.db"
    store = open_sqlite(path)
    box = store.db.run_sync(_fill, write=True)[0]
    store.db.stop_now()
    _as_version_1(path)

    store = open_sqlite(path)
    try:

        def check(tx: Tx) -> tuple[int, int, list[int] | None, list[int] | None, list[int] | None]:
            return (
                int(tx.one("SELECT version FROM schema_version")[0]),
                int(tx.one("SELECT count(*) FROM search_fts")[0]),
                search_in(tx, box, SearchBody("brown"), range(1, 2**32)),
                search_in(tx, box, SearchBody("lazy dog"), range(1, 2**32)),
                search_in(tx, box, SearchHeader("SUBJECT", "DRÜBEN"), range(1, 2**32)),
            )

        version, docs, fox, dog, subject = store.db.run_sync(check, write=False)[0]
        assert version == SCHEMA_VERSION == 3
        assert docs == len(MESSAGES)
        assert (fox, dog, subject) == ([1], [2], [3])
    finally:
        store.db.stop_now()


def test_version_2_gets_its_sort_keys() -> None:
    """2 -> 3: ``message_sort`` created and filled at start, and SORT is
    answered from it (mailframe.store.sql.sortindex)."""
    path = tempfile.mkdtemp(prefix="sql-migrate-") + "/mail.db"
    store = open_sqlite(path)
    box = store.db.run_sync(_fill, write=True)[0]
    store.db.stop_now()
    conn = sqlite3.connect(path, isolation_level=None)
    _drop_sort_keys(conn)
    conn.execute("UPDATE schema_version SET version = 2")
    conn.close()

    store = open_sqlite(path)
    try:

        def check(tx: Tx) -> tuple[int, int, list[int] | None]:
            every = uid_bounds(range(1, 2**32))
            return (
                int(tx.one("SELECT version FROM schema_version")[0]),
                int(tx.one("SELECT count(*) FROM message_sort")[0]),
                sorted_uids(tx, box, (("SUBJECT", True),), every),
            )

        version, keys, order = store.db.run_sync(check, write=False)[0]
        assert (version, keys) == (3, len(MESSAGES))
        assert order == [2, 1, 3]  # TWO, ONE, DRÜBEN (decoded, RFC 5256 §2.1)
    finally:
        store.db.stop_now()


def test_a_newer_schema_is_refused() -> None:
    path = tempfile.mkdtemp(prefix="sql-migrate-") + "/mail.db"
    open_sqlite(path).db.stop_now()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(StoreUnavailable, match="schema version 99, newer"):
        open_sqlite(path)
