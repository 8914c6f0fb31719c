"""FETCH items added by extensions (PREVIEW, RFC 8970; OBJECTID's,
RFC 8474), answered through one hook of :mod:`mailframe.imap.commands.fetch`;
and which of the items asked for are answered (:func:`distinct_items`).

A leaf module (it imports nothing of the handlers), so extension modules
register here and the FETCH handler looks here without an import cycle.
Each entry takes ``(att, record, message)`` -- the FetchAtt asked for, the
message's :class:`mailframe.records.MessageRecord`, and an object with
``mailbox``, ``uid`` and ``async read(start, end)`` -- and returns the
item's wire form (``PREVIEW "..."``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mailframe.imap.types import FetchAtt

__all__ = ["ANSWERED_FIRST", "EXTENSION_ITEMS", "FetchItem", "answer_order", "distinct_items"]

FetchItem = Callable[[Any, Any, Any], Awaitable[bytes]]

#: Item name (as the grammar produces it) → its answer.
EXTENSION_ITEMS: dict[str, FetchItem] = {}


def distinct_items(items: Sequence[FetchAtt]) -> list[FetchAtt]:
    """The items with a repeated section-less one (``UID UID``, ``FLAGS
    ... FLAGS``, ``RFC822.SIZE``, ``ENVELOPE``...) kept once, where it
    first stands, as Dovecot answers (RFC 3501 §7.4.2 does not say);
    sections (``BODY[...]``, ``BINARY.SIZE[...]``) are answered each time
    they are asked, as Dovecot does too."""
    seen: set[str] = set()
    out: list[FetchAtt] = []
    for a in items:
        if a.section is None and a.partial is None:
            if a.name in seen:
                continue
            seen.add(a.name)
        out.append(a)
    return out


#: Items Dovecot answers before all others, in the order asked: what its
#: index holds.  The envelope, the structures and every section follow,
#: also in the order asked (RFC 3501 §7.4.2 leaves the order open).
ANSWERED_FIRST = frozenset(
    {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ", "PREVIEW", "SAVEDATE", "EMAILID", "THREADID"}
)


def answer_order(items: Sequence[FetchAtt]) -> list[FetchAtt]:
    """``items`` in the order Dovecot answers them: those of
    :data:`ANSWERED_FIRST` first, then the rest, each group as asked (a
    ``FLAGS`` a FETCH adds by setting ``\\Seen`` goes between the two)."""
    first = [a for a in items if a.name in ANSWERED_FIRST]
    return first + [a for a in items if a.name not in ANSWERED_FIRST]

