"""SEARCH columns: what header, date and size keys look at, kept per
mailbox so a search over a big mailbox does not fetch and re-parse every
message's record each time (issue 16).

A message never changes under its (UIDVALIDITY, UID) -- only its flags
and modseq do, and those are not kept here -- so a row stays valid until
the message is expunged.  Rows hold the size, internal date, save date and
sent date of a message, and per header name the decoded, case-folded
texts :func:`mailframe.message.header_values` gives (RFC 3501 §6.4.4
matching is then a substring test).  A header column is filled the first
time a search asks for that name.  The cache hangs off the store object
that outlives sessions (a Maildir ``Folder``, a memory mailbox), weakly,
so every session of the mailbox shares it; a new UIDVALIDITY empties it,
rows of expunged messages are dropped once they outnumber the live ones,
and the whole stays under :data:`MAX_ROWS` rows and :data:`MAX_TEXT`
characters over all mailboxes.  Keys that need the modseq (RFC 7162
MODSEQ) or the body go the ordinary way.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from mailframe import message as mm
from mailframe.imap.types import (
    SearchAnd,
    SearchBody,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
)

__all__ = ["Row", "columnable", "header_names", "rows_for"]

BATCH = 512
#: Rows kept over all mailboxes; past it the other mailboxes' rows go.
MAX_ROWS = 200_000
#: Characters of header text kept over all mailboxes (about 2-4 bytes
#: each); past it the other mailboxes' rows go.
MAX_TEXT = 20_000_000


class Row:
    """One message's search columns (duck-typed like a record for the
    date and size keys; header keys read :meth:`header_matches`)."""

    __slots__ = ("uid", "size", "internaldate", "savedate", "sent_date", "headers", "modseq")

    def __init__(self, record: Any) -> None:
        self.uid: int = record.uid
        self.size: int = record.size
        self.internaldate: datetime = record.internaldate
        self.savedate: datetime | None = getattr(record, "savedate", None)
        self.sent_date: date | None = record.info.sent_date
        #: lower-case field name -> folded texts (see header_values)
        self.headers: dict[str, tuple[str, ...]] = {}
        #: never read: keys needing the modseq do not use rows
        self.modseq = 0

    def header_matches(self, name: str, needle: str) -> bool:
        """``HEADER name needle`` as :func:`mailframe.message.header_matches`."""
        folded = mm.fold_case(needle)
        return any(folded in text for text in self.headers[name.lower()])


def _leaves(key: SearchKey) -> Iterable[SearchKey]:
    if isinstance(key, SearchNot):
        yield from _leaves(key.key)
    elif isinstance(key, SearchOr):
        yield from _leaves(key.left)
        yield from _leaves(key.right)
    elif isinstance(key, SearchAnd):
        for k in key.keys:
            yield from _leaves(k)
    else:
        yield key


def columnable(key: SearchKey) -> bool:
    """Whether rows answer every key in ``key`` (no MODSEQ, no BODY/TEXT)."""
    return not any(isinstance(k, (SearchModSeq, SearchBody)) for k in _leaves(key))


def header_names(key: SearchKey) -> frozenset[str]:
    """The lower-case field names the header keys of ``key`` search."""
    return frozenset(k.name.lower() for k in _leaves(key) if isinstance(k, SearchHeader))


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


async def rows_for(session: Any, uids: list[int], names: frozenset[str]) -> dict[int, Row]:
    """Rows (with the header columns ``names``) of those of ``uids`` that
    still exist in the selected mailbox; records are fetched only for the
    messages whose row or column is not kept yet."""
    mailbox = session.mailbox
    view = session.view
    cache = _cache(mailbox, view.uidvalidity)
    if cache is None:
        cache = {}
    missing = [u for u in uids if (row := cache.get(u)) is None or not names <= row.headers.keys()]
    for i in range(0, len(missing), BATCH):
        if i:
            await session.io.pause()  # other sessions run between batches
        for record in await mailbox.records(missing[i : i + BATCH]):
            row = cache.get(record.uid)
            if row is None:
                row = cache[record.uid] = Row(record)
            for name in names - row.headers.keys():
                row.headers[name] = tuple(mm.header_values(record.info, name))
    out = {u: row for u in uids if (row := cache.get(u)) is not None}
    if missing:
        if len(cache) > 2 * len(view.uids) + 1024:
            live = set(view.uids)
            for uid in [uid for uid in cache if uid not in live]:
                del cache[uid]
        _trim(cache)
    return out


def _text(rows: dict[int, Row]) -> int:
    return sum(len(t) for row in rows.values() for texts in row.headers.values() for t in texts)


def _trim(keep: dict[int, Row]) -> None:
    """Hold the caches under MAX_ROWS rows and MAX_TEXT characters,
    emptying the other mailboxes' first, then this one's header columns."""
    caches = [c for by_validity in list(_CACHES.values()) for c in by_validity.values()]
    rows = sum(map(len, caches))
    if rows <= MAX_ROWS and (rows < 1000 or sum(map(_text, caches)) <= MAX_TEXT):
        return
    for c in caches:
        if c is not keep:
            c.clear()
    if len(keep) > MAX_ROWS or _text(keep) > MAX_TEXT:
        keep.clear()  # one mailbox past the limits alone: keep nothing
