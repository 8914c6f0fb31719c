"""SQLite's index of 1- and 2-character substrings for SEARCH BODY /
TEXT / HEADER (schema 8): exact for IMAP's substring rule (RFC 3501
§6.4.4) where the trigram index cannot help.

FTS5's trigram tokenizer needs three characters, so a needle of one or
two had to be found by reading every document with ``instr`` (235 ms at
100 000 messages, idle; 0.6 s under load).  A needle without white space
is a substring of a document exactly when it is a substring of one of
the document's whitespace-separated words, so the 1- and 2-character
substrings of each column's words (:func:`mailframe.store.sql.textindex.grams`,
the same ones PostgreSQL's word index keeps) are written, each as one
ASCII token (:func:`token`: its code points in hex), into a contentless
FTS5 table, ``search_grams``, whose rowid is the message's id.  A short
needle is then one posting-list lookup per column group.

Contentless: the index alone is stored (the tokens are never read
back); deleting a row needs its tokens, which :func:`drop_grams`
computes again from the message's documents in ``search_fts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mailframe.store.sql.db import Tx
from mailframe.store.sql.textindex import COLUMNS, Documents, grams

__all__ = [
    "GRAM_STATEMENTS",
    "GRAM_VERSION",
    "token",
    "gram_texts",
    "insert_grams",
    "drop_grams",
    "clear_grams",
    "gram_match",
]

#: Bumped when :func:`gram_texts` changes: a store opened on an older
#: index rebuilds it (:mod:`mailframe.store.sql.migrate`).
GRAM_VERSION = 1

GRAM_STATEMENTS = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_grams USING fts5("
    "hdr, fields, body, nested, content = '', tokenize = 'ascii')",
]


def token(gram: str) -> str:
    """One FTS5 token for a 1- or 2-character string: ``g``, then its
    code points in lower-case hex joined by ``x`` (letters and digits
    only, so the ``ascii`` tokenizer keeps it whole and folds nothing)."""
    return "g" + "x".join(f"{ord(c):x}" for c in gram)


def gram_texts(docs: Sequence[str]) -> list[str]:
    """Per column, the tokens of its words' 1- and 2-character substrings."""
    return [" ".join(sorted(token(g) for g in grams(set(text.split())))) for text in docs]


def insert_grams(tx: Tx, message_id: int, docs: Documents) -> None:
    texts = gram_texts((docs.hdr, docs.fields, docs.body, docs.nested))
    tx.execute(
        "INSERT INTO search_grams (rowid, hdr, fields, body, nested) VALUES (?, ?, ?, ?, ?)",
        (message_id, *texts),
    )


def drop_grams(tx: Tx, message_id: int) -> None:
    """A message's row, before its documents go (a contentless table is
    told the tokens it deletes)."""
    row: Any = tx.one(
        "SELECT hdr, fields, body, nested FROM search_fts WHERE rowid = ?", (message_id,)
    )
    if row is None:
        return
    tx.execute(
        "INSERT INTO search_grams (search_grams, rowid, hdr, fields, body, nested) "
        "VALUES ('delete', ?, ?, ?, ?, ?)",
        (message_id, *gram_texts(tuple(row))),
    )


def clear_grams(tx: Tx) -> None:
    tx.execute("INSERT INTO search_grams (search_grams) VALUES ('delete-all')")


def gram_match(columns: Sequence[str], looked_up: Sequence[str], params: list[object]) -> str:
    """A query of the ids of the messages whose ``columns`` hold each of
    ``looked_up`` (folded strings of one or two characters)."""
    group = "{" + " ".join(c for c in COLUMNS if c in columns) + "}"
    params.append(" AND ".join(f'{group} : "{token(w)}"' for w in looked_up))
    return "SELECT rowid FROM search_grams WHERE search_grams MATCH ?"
