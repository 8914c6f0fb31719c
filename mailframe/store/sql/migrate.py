"""Bringing a database up to this code's schema, at start and by
``mailframe db migrate``.

:func:`mailframe.store.sql.schema.ensure_schema` creates what is missing
and refuses a newer schema; :func:`fill_text_index` then (re)builds the
SEARCH text documents (:mod:`mailframe.store.sql.textindex`) when the
database has none yet (a version 1 database) or was indexed by another
:data:`TEXT_VERSION` -- message by message, in id batches, so a large
mailbox is never held in memory at once; :func:`fill_sort_keys` likewise
(re)computes the SORT keys (:mod:`mailframe.store.sql.sortindex`) when
the database has none yet or they were computed by other code;
:func:`fill_word_index` builds PostgreSQL's word index
(:mod:`mailframe.store.sql.wordindex`) from the stored documents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mailframe.message import MessageInfo, parse
from mailframe.message._info import FORMAT_VERSION
from mailframe.message.sortkeys import sort_keys
from mailframe.store.sql.db import Tx
from mailframe.store.sql.gramindex import GRAM_VERSION, clear_grams, insert_grams
from mailframe.store.sql.rows import insert_documents, read_body
from mailframe.store.sql.schema import ensure_schema
from mailframe.store.sql.sortindex import SORT_VERSION, insert_sort_keys, key_row
from mailframe.store.sql.textindex import TEXT_VERSION, Documents, documents
from mailframe.store.sql.wordindex import WORD_VERSION, insert_words_many

__all__ = ["migrate", "fill_text_index", "fill_word_index", "fill_sort_keys", "BATCH"]

#: messages read per statement while (re)indexing.
BATCH = 200


def migrate(tx: Tx, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Schema, text index and sort keys up to date, in ``tx``: (version
    found, messages indexed: the larger of the two fills)."""
    version = ensure_schema(tx.cursor, tx.dialect)
    if tx.one("SELECT value FROM counters WHERE name = 'uidvalidity'") is None:
        tx.execute("INSERT INTO counters (name, value) VALUES ('uidvalidity', 0)")
    indexed = fill_text_index(tx, progress)
    words = fill_word_index(tx, progress)
    return version, max(indexed, words, fill_sort_keys(tx, progress))


def fill_text_index(tx: Tx, progress: Callable[[int], None] | None = None) -> int:
    """Index every message unless the text index is current; how many
    were indexed."""
    row = tx.one("SELECT value FROM counters WHERE name = 'text_version'")
    if row is not None and int(row[0]) == TEXT_VERSION:
        return 0
    d = tx.dialect
    if d.name == "postgresql":  # insert_documents writes the words again
        tx.execute("DELETE FROM mailbox_words")
    else:  # and the grams
        clear_grams(tx)
    tx.execute(f"DELETE FROM {d.text_table}")
    tx.execute("UPDATE messages SET text_state = 0 WHERE text_state <> 0")
    done = 0
    last = 0
    while True:
        rows = tx.all(
            "SELECT id, body_id, info, info_version FROM messages WHERE id > ? ORDER BY id LIMIT ?",
            (last, BATCH),
        )
        if not rows:
            break
        for message_id, body_id, blob, info_version in rows:
            raw = read_body(tx, int(body_id), 0, None)
            info = (
                MessageInfo.load(bytes(blob)) if int(info_version) == FORMAT_VERSION else parse(raw)
            )
            insert_documents(tx, int(message_id), documents(info, raw))
            done += 1
            last = int(message_id)
        if progress is not None:
            progress(done)
    if row is None:
        tx.execute("INSERT INTO counters (name, value) VALUES ('text_version', ?)", (TEXT_VERSION,))
    else:
        tx.execute("UPDATE counters SET value = ? WHERE name = 'text_version'", (TEXT_VERSION,))
    if d.name == "postgresql":
        _set_counter(tx, "word_version", WORD_VERSION)  # built above with the documents
    else:
        _set_counter(tx, "gram_version", GRAM_VERSION)
    return done


def _set_counter(tx: Tx, name: str, value: int) -> None:
    if tx.one("SELECT value FROM counters WHERE name = ?", (name,)) is None:
        tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", (name, value))
    else:
        tx.execute("UPDATE counters SET value = ? WHERE name = ?", (value, name))


def fill_word_index(tx: Tx, progress: Callable[[int], None] | None = None) -> int:
    """PostgreSQL: (re)build the word arrays of every mailbox row
    (:mod:`mailframe.store.sql.wordindex`) from its message's stored documents
    unless the arrays are :data:`WORD_VERSION`'s, in id batches; how
    many were built (SQLite: its index of 1- and 2-character substrings,
    :func:`fill_grams`).  Two statements per batch of :data:`BATCH`
    messages."""
    if tx.dialect.name != "postgresql":
        return fill_grams(tx, progress)
    row = tx.one("SELECT value FROM counters WHERE name = 'word_version'")
    if row is not None and int(row[0]) == WORD_VERSION:
        return 0
    tx.execute("DELETE FROM mailbox_words")
    done = 0
    last = 0
    while True:
        rows = tx.all(
            "SELECT message_id, hdr, fields, body, nested FROM search_text "
            "WHERE message_id > ? ORDER BY message_id LIMIT ?",
            (last, BATCH),
        )
        if not rows:
            break
        insert_words_many(tx, [(int(r[0]), Documents(r[1], r[2], r[3], r[4], 0)) for r in rows])
        done += len(rows)
        last = int(rows[-1][0])
        if progress is not None:
            progress(done)
    _set_counter(tx, "word_version", WORD_VERSION)
    # statistics for the planner now, not at autovacuum's next visit
    tx.execute("ANALYZE text_words")
    tx.execute("ANALYZE mailbox_words")
    return done


def fill_grams(tx: Tx, progress: Callable[[int], None] | None = None) -> int:
    """SQLite: (re)build the index of 1- and 2-character substrings
    (:mod:`mailframe.store.sql.gramindex`) from the stored documents
    unless it is :data:`GRAM_VERSION`'s, in id batches; how many
    messages were indexed."""
    row = tx.one("SELECT value FROM counters WHERE name = 'gram_version'")
    if row is not None and int(row[0]) == GRAM_VERSION:
        return 0
    clear_grams(tx)
    done = 0
    last = 0
    while True:
        rows = tx.all(
            "SELECT rowid, hdr, fields, body, nested FROM search_fts "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, BATCH),
        )
        if not rows:
            break
        for r in rows:
            insert_grams(tx, int(r[0]), Documents(r[1], r[2], r[3], r[4], 0))
        done += len(rows)
        last = int(rows[-1][0])
        if progress is not None:
            progress(done)
    _set_counter(tx, "gram_version", GRAM_VERSION)
    return done


def fill_sort_keys(tx: Tx, progress: Callable[[int], None] | None = None) -> int:
    """Compute every message's sort keys unless those stored are
    :data:`SORT_VERSION`'s; how many were computed (in id batches, so a
    large store is never held in memory)."""
    row = tx.one("SELECT value FROM counters WHERE name = 'sort_version'")
    if row is not None and int(row[0]) == SORT_VERSION:
        return 0
    tx.execute("DELETE FROM message_sort")
    done = 0
    last = 0
    while True:
        rows = tx.all(
            "SELECT id, body_id, size, internaldate, info, info_version FROM messages "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (last, BATCH),
        )
        if not rows:
            break
        for message_id, body_id, size, internaldate, blob, info_version in rows:
            info = (
                MessageInfo.load(bytes(blob))
                if int(info_version) == FORMAT_VERSION
                else parse(read_body(tx, int(body_id), 0, None))
            )
            keys = sort_keys(info, int(size), datetime.fromisoformat(internaldate))
            insert_sort_keys(tx, int(message_id), key_row(keys, info))
            done += 1
            last = int(message_id)
        if progress is not None:
            progress(done)
    if row is None:
        tx.execute("INSERT INTO counters (name, value) VALUES ('sort_version', ?)", (SORT_VERSION,))
    else:
        tx.execute("UPDATE counters SET value = ? WHERE name = 'sort_version'", (SORT_VERSION,))
    return done
