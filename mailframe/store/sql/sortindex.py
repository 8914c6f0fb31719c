"""SORT answered in the database (:class:`mailframe.interfaces.ISortableMailbox`).

At APPEND each message's sort keys are computed once by the framework's
own :func:`mailframe.message.sortkeys.sort_keys` (RFC 5256 §2.1 base
subject, §3 first address mailbox, sent date or else internal date;
RFC 5957 §3 display names) and stored in ``message_sort``, one row per
message (shared by COPY like the message row).  SORT is then one query
over the mailbox's rows, ``ORDER BY`` those columns and the UID, instead
of reading every message's parsed data into Python.

The answer must be the framework's (:mod:`mailframe.imap.commands.sort`),
so the columns hold the very values it compares:

- strings as their UTF-8 bytes (``BLOB``/``BYTEA``): both engines order
  bytes by ``memcmp`` then length, which is code point order, as Python
  compares ``str`` -- no collation of the database's choosing, and a NUL
  (which PostgreSQL's ``text`` refuses) is kept;
- dates as the same floating-point UTC timestamps, sizes as integers;
- ties by UID ascending, also under REVERSE (RFC 5256 §3; the
  framework's stable sorts over mailbox order give the same).

:data:`SORT_VERSION` fingerprints the modules the keys come from: when
they change, :func:`mailframe.store.sql.migrate.fill_sort_keys` recomputes every row at the next
start (:mod:`mailframe.store.sql.migrate`), and until then a mailbox
whose rows are missing answers ``None`` (the framework sorts).

The row also holds ``subject_text``, the decoded Subject: values SEARCH
SUBJECT compares with, so that key is answered without confirming each
candidate in Python (:func:`subject_text`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from importlib import import_module
from inspect import getsource
from typing import Any

from mailframe.message._info import FORMAT_VERSION, MessageInfo
from mailframe.message._search import _decoded
from mailframe.message.sortkeys import SortKeys
from mailframe.store.sql.db import Tx

__all__ = [
    "SORT_VERSION",
    "SORT_COLUMNS",
    "SORT_STATEMENTS",
    "key_row",
    "subject_text",
    "insert_sort_keys",
    "drop_sort_keys",
    "sorted_uids",
]

#: The table (both engines; ``{blob}`` and ``{double}`` spelt by the dialect).
SORT_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS message_sort (
        message_id BIGINT PRIMARY KEY REFERENCES messages(id),
        arrival {double} NOT NULL,
        sent {double} NOT NULL,
        size BIGINT NOT NULL,
        subject {blob} NOT NULL,
        from_addr {blob} NOT NULL,
        to_addr {blob} NOT NULL,
        cc_addr {blob} NOT NULL,
        displayfrom {blob} NOT NULL,
        displayto {blob} NOT NULL,
        subject_text TEXT)""",
]

#: SORT key (RFC 5256 §3, RFC 5957 §3) -> column of ``message_sort``.
SORT_COLUMNS = {
    "ARRIVAL": "arrival",
    "DATE": "sent",
    "SIZE": "size",
    "SUBJECT": "subject",
    "FROM": "from_addr",
    "TO": "to_addr",
    "CC": "cc_addr",
    "DISPLAYFROM": "displayfrom",
    "DISPLAYTO": "displayto",
}

#: The modules whose code decides the keys.
_KEY_MODULES = (
    "mailframe.message.sortkeys",
    "mailframe.message._address",
    "mailframe.message._decode",
    "mailframe.message._headers",
    "mailframe.message._search",
)


def _fingerprint() -> int:
    """A 31-bit checksum of the code of :data:`_KEY_MODULES` and the
    parsed-data format: stored keys made by other code are recomputed."""
    crc = zlib.crc32(str(FORMAT_VERSION).encode())
    for name in _KEY_MODULES:
        try:
            crc = zlib.crc32(getsource(import_module(name)).encode("utf-8"), crc)
        except (OSError, TypeError):  # no source (frozen): the module's name only
            crc = zlib.crc32(name.encode(), crc)
    return crc & 0x7FFFFFFF


#: Recorded in ``counters`` as ``sort_version``.
SORT_VERSION = _fingerprint()


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def subject_text(info: MessageInfo) -> str | None:
    """The SUBJECT fields' values as SEARCH SUBJECT compares them
    (:func:`mailframe.message._search.header_matches`: unfolded, RFC 2047
    decoded, case-folded), one per line; ``None`` without a Subject: or
    when a value holds what a database text cannot (a NUL, a lone
    surrogate).  A needle without a line break is in this text exactly
    when the matcher says SUBJECT matches (RFC 3501 §6.4.4), so
    :mod:`mailframe.store.sql.search` needs no confirmation for it."""
    values = _decoded(info, "subject")
    if not values:
        return None
    text = "\n".join(values)
    if "\x00" in text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def key_row(keys: SortKeys, info: MessageInfo) -> tuple[Any, ...]:
    """The column values (after ``message_id``) of ``keys`` (and
    :func:`subject_text` of ``info``)."""
    return (
        float(keys.arrival),
        float(keys.date),
        int(keys.size),
        _b(keys.subject),
        _b(keys.from_),
        _b(keys.to),
        _b(keys.cc),
        _b(keys.displayfrom),
        _b(keys.displayto),
        subject_text(info),
    )


def insert_sort_keys(tx: Tx, message_id: int, row: tuple[Any, ...]) -> None:
    """A message's sort keys (:func:`key_row`) into ``message_sort``."""
    tx.execute(
        "INSERT INTO message_sort (message_id, arrival, sent, size, subject, from_addr, to_addr, "
        "cc_addr, displayfrom, displayto, subject_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (message_id, *row),
    )


def drop_sort_keys(tx: Tx, message_id: int) -> None:
    tx.execute("DELETE FROM message_sort WHERE message_id = ?", (message_id,))


def sorted_uids(
    tx: Tx,
    mailbox_id: int,
    criteria: Sequence[tuple[str, bool]],
    bounds: tuple[int, int, set[int] | None],
) -> list[int] | None:
    """The UIDs of mailbox ``mailbox_id`` within ``bounds`` (lowest,
    highest, and the exact set or None for all between) ordered by
    ``criteria`` (ties by UID ascending); ``None`` for a key this table
    lacks, or when a message's keys are missing or were computed by other
    code."""
    if not criteria or any(name not in SORT_COLUMNS for name, _ in criteria):
        return None
    lo, hi, wanted = bounds
    if lo > hi:
        return []
    row = tx.one("SELECT value FROM counters WHERE name = 'sort_version'")
    if row is None or int(row[0]) != SORT_VERSION:
        return None
    order = ", ".join(
        f"s.{SORT_COLUMNS[name]}{' DESC' if reverse else ''}" for name, reverse in criteria
    )
    rows = tx.all(
        "SELECT mm.uid, s.message_id FROM mailbox_messages mm "
        "LEFT JOIN message_sort s ON s.message_id = mm.message_id "
        f"WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? ORDER BY {order}, mm.uid",
        (mailbox_id, lo, hi),
    )
    if any(r[1] is None for r in rows):
        return None
    if wanted is None:
        return [int(r[0]) for r in rows]
    return [uid for uid in (int(r[0]) for r in rows) if uid in wanted]
