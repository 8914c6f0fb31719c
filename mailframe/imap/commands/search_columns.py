"""SEARCH columns: what header, date and size keys look at, kept per
mailbox so a search over a big mailbox does not fetch every message's
record and decode its header again each time (issue 16).

A message never changes under its (UIDVALIDITY, UID) -- only its flags
and modseq do, and those are not kept here -- so a row stays valid until
the message is expunged.  A row holds the size, internal date, save date
and sent date of a message and its top-level header block, with what the
matcher decoded from it (RFC 2047 words, case folding, address lists:
:func:`mailframe.message.header_matches` fills the row's cache as it does
a :class:`mailframe.message.MessageInfo`'s), so answers are the
matcher's by construction and the first search costs what it cost
before.  The cache hangs off the store object that outlives sessions (a
Maildir ``Folder``, a memory mailbox), weakly, so every session of the
mailbox shares it; a new UIDVALIDITY empties it, rows of expunged
messages are dropped once they outnumber the live ones, and all rows stay
under :data:`MAX_ROWS` rows and about :data:`MAX_BYTES` bytes of header
over all mailboxes.  Keys that need the modseq (RFC 7162 MODSEQ) or the
body go the ordinary way.
"""

from __future__ import annotations

import weakref
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from datetime import date, datetime
from itertools import accumulate, filterfalse
from typing import Any

from mailframe import message as mm
from mailframe.imap.types import (
    SearchBody,
    SearchKey,
    SearchModSeq,
    search_leaves,
)

__all__ = ["Column", "Row", "column_for", "column_part", "columnable", "remember", "rows_for", "rows_in_order"]

BATCH = 512
#: Rows kept over all mailboxes; past it the other mailboxes' rows go.
MAX_ROWS = 200_000
#: Bytes of header blocks kept over all mailboxes (what was decoded from
#: them adds about as much again); past it the other mailboxes' rows go.
MAX_BYTES = 64 * 1024 * 1024


class Row:
    """One message's search columns: duck-typed like a record for the
    date and size keys, like its header for :meth:`header_matches`."""

    __slots__ = ("uid", "size", "internaldate", "savedate", "sent_date", "header", "_cache", "modseq")

    def __init__(self, record: Any) -> None:
        self.uid: int = record.uid
        self.size: int = record.size
        self.internaldate: datetime = record.internaldate
        self.savedate: datetime | None = getattr(record, "savedate", None)
        self.sent_date: date | None = record.info.sent_date
        #: the top-level header block (the record's own bytes, not a copy)
        self.header: bytes = record.info.header
        #: what the matcher decoded from ``header`` (mailframe.message.HeaderSource)
        self._cache: dict[str, Any] | None = None
        #: never read: keys needing the modseq do not use rows
        self.modseq = 0

    def header_matches(self, name: str, needle: str) -> bool:
        """``HEADER name needle``: :func:`mailframe.message.header_matches`."""
        return mm.header_matches(self, name, needle)


def columnable(key: SearchKey) -> bool:
    """Whether rows answer every key in ``key`` (no MODSEQ, no BODY/TEXT)."""
    return not any(isinstance(k, (SearchModSeq, SearchBody)) for k in search_leaves(key))


#: owner -> UIDVALIDITY -> UID -> row
_CACHES: weakref.WeakKeyDictionary[Any, dict[int, dict[int, Row]]] = weakref.WeakKeyDictionary()


def _cache(mailbox: Any, validity: int) -> dict[int, Row] | None:
    owner = getattr(mailbox, "folder", mailbox)
    try:
        by_validity = _CACHES.get(owner)
        if by_validity is None:
            by_validity = _CACHES[owner] = {}
    except TypeError:  # an owner that cannot be weakly referenced: no cache
        return None
    cache = by_validity.get(validity)
    if cache is None:
        by_validity.clear()  # a new UIDVALIDITY: the old UIDs mean nothing now
        cache = by_validity[validity] = {}
    return cache


async def rows_for(session: Any, uids: list[int]) -> dict[int, Row]:
    """Rows of those of ``uids`` that still exist in the selected mailbox;
    records are fetched only for the messages without a row yet."""
    return {u: row for u, row in zip(uids, await rows_in_order(session, uids), strict=True) if row is not None}


async def rows_in_order(session: Any, uids: list[int]) -> list[Row | None]:
    """The row of each of ``uids``, in their order (None for a message no
    longer in the store); records are fetched only for the messages
    without a row yet.  Warm, every step runs in C (``filterfalse``,
    ``map``)."""
    mailbox = session.mailbox
    view = session.view
    cache = _cache(mailbox, view.uidvalidity)
    if cache is None:
        cache = {}
    missing = list(filterfalse(cache.__contains__, uids))
    for i in range(0, len(missing), BATCH):
        if i:
            await session.io.pause()  # other sessions run between batches
        for record in await mailbox.records(missing[i : i + BATCH]):
            cache[record.uid] = Row(record)
    out = list(map(cache.get, uids))
    if missing:
        if len(cache) > 2 * len(view.uids) + 1024:
            live = set(view.uids)
            for uid in [uid for uid in cache if uid not in live]:
                del cache[uid]
        _trim(cache)
    return out


#: Rows :func:`remember` adds between two checks of the limits (so the
#: limits may be passed by about this many rows for a while).
TRIM_EVERY = 4096
_added = 0


def remember(mailbox: Any, uidvalidity: int, records: Sequence[Any]) -> None:
    """Rows for records another command fetched anyway (FETCH of ENVELOPE,
    BODYSTRUCTURE or header fields: :class:`mailframe.records.MessageRecord`),
    so that the next header search asks the store for nothing -- as
    Dovecot answers it from the cache file its FETCH filled.  Adding a
    row decodes nothing."""
    global _added
    cache = _cache(mailbox, uidvalidity)
    if cache is None:
        return
    added = 0
    for record in records:
        if record.uid not in cache:
            cache[record.uid] = Row(record)
            added += 1
    _added += added
    if _added >= TRIM_EVERY:
        _added = 0
        _trim(cache)


def _bytes(rows: dict[int, Row]) -> int:
    return sum(len(row.header) for row in rows.values())


def _trim(keep: dict[int, Row]) -> None:
    """Hold the caches under MAX_ROWS rows and MAX_BYTES of header,
    emptying the other mailboxes' first, then (alone past a limit) this one."""
    caches = [c for by_validity in list(_CACHES.values()) for c in by_validity.values()]
    rows = sum(map(len, caches))
    if rows <= MAX_ROWS and sum(map(_bytes, caches)) <= MAX_BYTES:
        return
    _COLUMNS.clear()  # the columns go with the rows
    for c in caches:
        if c is not keep:
            c.clear()
    if len(keep) > MAX_ROWS or _bytes(keep) > MAX_BYTES:
        keep.clear()  # one mailbox past the limits alone: keep nothing


class Column:
    """One header field over a mailbox's messages, for a header SEARCH
    that runs again (issue 16): what ``HEADER field needle`` looks in --
    :func:`mailframe.message.header_values`, decoded and case-folded --
    of every message, in UID order, as one string, each message's part
    and each value in it starting with NUL.  A needle (never empty, never
    holding NUL: IMAP strings cannot, RFC 3501 §4.3) is then found by
    ``str.find`` over the whole mailbox at C speed; a hit lies within one
    value of one message, so the answer is
    ``any(needle in v for v in header_values(...))``, the matcher's
    (``tests/imap/test_search_columns.py``)."""

    __slots__ = ("uids", "text", "starts")

    def __init__(self, uids: array[int], parts: list[str]) -> None:
        """``parts``: :func:`column_part` of each message of ``uids``."""
        self.uids = uids
        self.text = "".join(parts)
        #: where each message's part begins in ``text`` (one more entry: the end)
        self.starts = array("q", accumulate(map(len, parts), initial=0))

    def find(self, folded: str) -> list[int]:
        """Positions (in ``uids``) of the messages holding ``folded``."""
        text, starts = self.text, self.starts
        out: list[int] = []
        at = text.find(folded)
        while at >= 0:
            k = bisect_right(starts, at) - 1
            out.append(k)
            at = text.find(folded, starts[k + 1])
        return out


#: owner -> (UIDVALIDITY, field) -> the column, or None: searched once
_COLUMNS: weakref.WeakKeyDictionary[Any, dict[tuple[int, str], Column | None]] = weakref.WeakKeyDictionary()
#: Columns kept per mailbox (fields searched more than once).
MAX_COLUMNS = 8


async def column_for(session: Any, field: str, uids: list[int]) -> Column | None:
    """The column of ``field`` over ``uids`` (the selected mailbox's, in
    order) when this field was searched before in this mailbox; None the
    first time (a search that runs once is answered as fast by the
    matcher, which decodes only what its quick check lets through)."""
    mailbox = session.mailbox
    owner = getattr(mailbox, "folder", mailbox)
    name = field.lower()
    try:
        columns = _COLUMNS.get(owner)
        if columns is None:
            columns = _COLUMNS[owner] = {}
    except TypeError:  # not weakly referenceable: no cache
        return None
    key = (session.view.uidvalidity, name)
    if key not in columns:
        if len(columns) >= MAX_COLUMNS:
            columns.clear()
        columns[key] = None
        return None
    wanted = array("L", uids)
    column = columns[key]
    if column is not None and column.uids == wanted:
        return column
    rows = await rows_in_order(session, uids)
    parts: list[str] = []
    for i in range(0, len(rows), BATCH):
        if i:
            await session.io.pause()  # a cold row decodes: other sessions run between batches
        parts += [column_part(row, name) for row in rows[i : i + BATCH]]
    column = columns[key] = Column(wanted, parts)
    return column


def column_part(row: Row | None, field: str) -> str:
    """One message's part of a :class:`Column`: each of its values of
    ``field`` after a NUL; empty without one (or without a row)."""
    if row is None:
        return ""
    values = mm.header_values(row, field)
    return "\x00" + "\x00".join(values) if values else ""
