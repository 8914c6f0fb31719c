"""Schema versions: a version 1 database (no text index) is migrated to
the current version at start, its messages indexed, and SEARCH BODY
answers as before; version 2 gets its SORT keys, version 3 its new text
index; a newer version than the code knows is refused in one line."""

from __future__ import annotations

import sqlite3
import tempfile
from typing import Any

import pytest

from mailframe.errors import StoreUnavailable
from mailframe.imap.types import SearchBody, SearchHeader
from mailframe.store.sql import open_sqlite
from mailframe.store.sql.db import Tx
from mailframe.store.sql.query import search_in, search_plan
from mailframe.store.sql.rows import Prepared, append_rows, create_row, uid_bounds
from mailframe.store.sql.schema import SCHEMA_VERSION
from mailframe.store.sql.sortindex import sorted_uids
from mailframe.store.sql.textindex import TEXT_VERSION

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
    conn.execute("DROP INDEX messages_text_unusual")
    conn.execute("ALTER TABLE messages DROP COLUMN text_state")
    conn.execute("ALTER TABLE mailboxes DROP COLUMN expunge_floor")
    conn.execute("DROP INDEX expunged_modseq")
    conn.execute("ALTER TABLE expunged DROP COLUMN at")
    conn.execute("CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq)")
    conn.execute("DELETE FROM counters WHERE name = 'text_version'")
    _drop_sort_keys(conn)
    _drop_usage(conn.execute)
    conn.execute("UPDATE schema_version SET version = 1")
    conn.close()


def _drop_usage(execute: Any) -> None:
    """What versions 5 and older lack: the running usage of mailboxes."""
    execute("ALTER TABLE mailboxes DROP COLUMN used_messages")
    execute("ALTER TABLE mailboxes DROP COLUMN used_bytes")


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
        assert version == SCHEMA_VERSION == 8
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
    _drop_usage(conn.execute)
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
        assert (version, keys) == (SCHEMA_VERSION, len(MESSAGES))
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


#: the version 3 text index: three columns, FTS5's case-blind trigram
#: tokenizer (SQLite), no ``fields`` / ``nested`` (PostgreSQL).
V3_TEXT = {
    "sqlite": [
        "DROP TABLE search_fts",
        "CREATE VIRTUAL TABLE search_fts USING fts5(hdr, body, extra, tokenize = 'trigram')",
        "INSERT INTO search_fts (rowid, hdr, body, extra) SELECT id, 'x', 'y', '' FROM messages",
    ],
    "postgresql": [
        "DROP TABLE search_text",
        "CREATE TABLE search_text (message_id BIGINT PRIMARY KEY REFERENCES messages(id), "
        "hdr TEXT NOT NULL, body TEXT NOT NULL, extra TEXT NOT NULL)",
        "INSERT INTO search_text SELECT id, 'x', 'y', '' FROM messages",
    ],
}


def _as_version_3(engine: str, execute: Any) -> None:
    """What a version 3 database looks like: the old text index (its
    documents stand-ins here), its partial index, text version 1."""
    for statement in V3_TEXT[engine]:
        execute(statement)
    execute("DROP INDEX messages_text_unusual")
    execute("CREATE INDEX messages_text_state ON messages (text_state) WHERE text_state <> 0")
    execute("UPDATE counters SET value = 1 WHERE name = 'text_version'")
    # version 4 and older: mailbox_messages indexed on message_id alone
    execute("DROP INDEX mailbox_messages_found")
    execute("CREATE INDEX mailbox_messages_message ON mailbox_messages (message_id)")
    _drop_usage(execute)
    execute("UPDATE schema_version SET version = 3")


def _indexes(tx: Tx) -> set[str]:
    """The names of mailbox_messages' own (not primary key) indexes."""
    if tx.dialect.name == "sqlite":
        rows = tx.all(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mailbox_messages'"
            " AND sql IS NOT NULL"
        )
    else:
        rows = tx.all(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'mailbox_messages'"
            " AND indexname <> 'mailbox_messages_pkey'"
        )
    return {str(r[0]) for r in rows}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_version_3_gets_the_exact_text_index(engine: str) -> None:
    """3 -> 4: the text index is dropped, created with four columns (and,
    in SQLite, a case-sensitive tokenizer over the framework's folding)
    and refilled at start; SEARCH answers from it without the matcher.
    4 -> 5: the index on message_id becomes the covering one."""
    if engine == "sqlite":
        path = tempfile.mkdtemp(prefix="sql-migrate-") + "/mail.db"

        def reopen() -> Any:
            return open_sqlite(path)

        store = reopen()
    else:
        from mailframe.store.sql import open_postgresql
        from tests.store.sql.pgcluster import new_database

        conninfo = new_database()

        def reopen() -> Any:
            return open_postgresql(conninfo, listen=False)

        store = reopen()
    box = store.db.run_sync(_fill, write=True)[0]
    store.db.stop_now()
    if engine == "sqlite":
        conn = sqlite3.connect(path, isolation_level=None)
        _as_version_3(engine, conn.execute)
        conn.close()
    else:
        import psycopg

        with psycopg.connect(conninfo, autocommit=True) as pg:
            _as_version_3(engine, pg.execute)

    store = reopen()
    try:

        def check(tx: Tx) -> tuple[int, int, int, Any, Any, Any, set[str]]:
            t = tx.dialect.text_table
            plan = search_plan(tx, box, SearchBody("QUICK"), range(1, 2**32))
            return (
                int(tx.one("SELECT version FROM schema_version")[0]),
                int(tx.one("SELECT value FROM counters WHERE name = 'text_version'")[0]),
                int(tx.one(f"SELECT count(*) FROM {t} WHERE nested = '' AND fields <> ''")[0]),
                plan,
                search_in(tx, box, SearchBody("lazy dog"), range(1, 2**32)),
                search_in(tx, box, SearchBody("drüben", text=True), range(1, 2**32)),
                _indexes(tx),
            )

        version, text_version, docs, plan, dog, drueben, indexes = store.db.run_sync(
            check, False
        )[0]
        assert indexes == {"mailbox_messages_found", "mailbox_messages_modseq"}
        assert (version, text_version, docs) == (SCHEMA_VERSION, TEXT_VERSION, len(MESSAGES))
        assert plan is not None and plan[:2] == ([1], [])  # sure, nothing to confirm
        assert (dog, drueben) == ([2], [3])
    finally:
        store.db.stop_now()


def test_version_7_gets_its_word_arrays_per_mailbox_row() -> None:
    """7 -> 8 (PostgreSQL): the word arrays of schema 7 (one per message,
    ``message_words``) are copied to every mailbox row holding the
    message -- a message COPYed into a second mailbox gets one there too
    -- the old table goes, and SEARCH answers from the new one, found
    by the UIDs of each mailbox, with nothing left for ``db check``."""
    import psycopg

    from mailframe.store.sql import open_postgresql
    from mailframe.store.sql.check import check as db_check
    from mailframe.store.sql.rows import move_rows
    from tests.store.sql.pgcluster import new_database

    conninfo = new_database()
    store = open_postgresql(conninfo, listen=False)

    def fill(tx: Tx) -> tuple[int, int]:
        box = _fill(tx)
        account = int(tx.one("SELECT account_id FROM mailboxes WHERE id = ?", (box,))[0])
        other = create_row(tx, account, "Other")
        move_rows(tx, box, other, [1, 2], expunge_source=False)
        return box, other

    box, other = store.db.run_sync(fill, write=True)[0]
    store.db.stop_now()
    with psycopg.connect(conninfo, autocommit=True) as pg:
        # schema 7's layout: one array per message
        pg.execute(
            "CREATE TABLE message_words (message_id BIGINT PRIMARY KEY REFERENCES messages(id), "
            "words INTEGER[] NOT NULL)"
        )
        pg.execute("CREATE INDEX message_words_gin ON message_words USING gin (words)")
        pg.execute(
            "INSERT INTO message_words SELECT DISTINCT ON (mm.message_id) mm.message_id, w.words "
            "FROM mailbox_words w JOIN mailbox_messages mm "
            "ON mm.mailbox_id = w.mailbox_id AND mm.uid = w.uid"
        )
        pg.execute("DROP TABLE mailbox_words")
        pg.execute("UPDATE schema_version SET version = 7")
    store = open_postgresql(conninfo, listen=False)
    try:

        def look(tx: Tx) -> tuple[Any, ...]:
            return (
                int(tx.one("SELECT version FROM schema_version")[0]),
                int(tx.one("SELECT count(*) FROM mailbox_words")[0]),
                tx.one("SELECT to_regclass('message_words')")[0],
                search_plan(tx, box, SearchBody("QUICK"), range(1, 2**32)),
                search_plan(tx, other, SearchBody("QUICK"), range(1, 2**32)),
                search_in(tx, other, SearchBody("dog"), range(1, 2**32)),
                db_check(tx).problems,
            )

        version, arrays, old, quick, quick_other, dog, problems = store.db.run_sync(look, False)[0]
        assert (version, arrays, old) == (SCHEMA_VERSION, len(MESSAGES) + 2, None)
        assert quick is not None and quick[:2] == ([1], [])
        assert quick_other is not None and quick_other[:2] == ([1], [])
        assert dog == [2]
        assert problems == []
    finally:
        store.db.stop_now()


def test_sqlite_version_7_gets_its_gram_index() -> None:
    """7 -> 8 (SQLite): the index of 1- and 2-character substrings is
    created and filled from the stored documents at start; a needle of
    one or two characters is then answered from it exactly (nothing for
    the matcher), and an expunged message leaves it."""
    path = tempfile.mkdtemp(prefix="sql-migrate-") + "/mail.db"
    store = open_sqlite(path)
    box = store.db.run_sync(_fill, write=True)[0]
    store.db.stop_now()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE search_grams")
    conn.execute("DELETE FROM counters WHERE name = 'gram_version'")
    conn.execute("UPDATE schema_version SET version = 7")
    conn.close()
    store = open_sqlite(path)
    try:

        def look(tx: Tx) -> tuple[Any, ...]:
            return (
                int(tx.one("SELECT version FROM schema_version")[0]),
                search_plan(tx, box, SearchBody("OG"), range(1, 2**32)),
                search_plan(tx, box, SearchBody("ü"), range(1, 2**32)),
                search_plan(tx, box, SearchBody("x", text=True), range(1, 2**32)),
            )

        version, og, ue, x = store.db.run_sync(look, False)[0]
        assert version == SCHEMA_VERSION
        assert og is not None and og[:2] == ([2], [])  # "dog" (HTML, rendered)
        assert ue is not None and ue[:2] == ([], [])  # "drüben" is a header, not the body
        assert x is not None and x[:2] == ([1, 2], [])  # "fox", "text/html" (a header)

        def expunge(tx: Tx) -> None:
            from mailframe.store.sql.rows import bump, expunge_rows

            bumped = bump(tx, box)
            assert bumped is not None
            expunge_rows(tx, box, [2], bumped[1])

        store.db.run_sync(expunge, write=True)
        assert store.db.run_sync(
            lambda tx: tx.one(
                "SELECT count(*) FROM search_grams WHERE search_grams MATCH 'body : g6fx67'"
            )[0],
            False,
        )[0] == 0
    finally:
        store.db.stop_now()
