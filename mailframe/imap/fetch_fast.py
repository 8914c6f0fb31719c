"""FETCH responses of the common shapes, built in one step (issue 16).

A header sync (``UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS
(...)]``), an ENVELOPE/BODYSTRUCTURE listing and a whole-message download
(``BODY.PEEK[]``, ``RFC822``) ask the same few items of every message.
:func:`compile_plan` turns such an item list into one function that makes
a message's ``* n FETCH (...)`` response (RFC 3501 §7.4.2) from its
sequence number, UID, record and the bytes read ahead, with each item's
wire form worked out once per command: no per-message response object,
no per-item dispatch.  The bytes are exactly those of the general
encoders in :mod:`mailframe.imap.commands.fetch` (the tests compare
both); any other item, a partial (``<o.n>``), a UTF8=ACCEPT session or a
message whose bytes were not read ahead goes the general way.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from mailframe import message as mm
from mailframe.imap.fetch_response import COPY_MAX, body_name
from mailframe.imap.types import FetchAtt
from mailframe.wire import date_time, literal

__all__ = ["Builder", "compile_plan"]


#: Makes one response: (seq, uid, record, bytes read ahead or None) ->
#: its pieces, or None when this message needs the general path.
Builder = Callable[[int, int, Any, "bytes | None"], "list[bytes] | None"]

#: One item of a compiled plan: (uid, record) -> its wire form.
_Part = Callable[[int, Any], bytes]

def _whole(att: FetchAtt) -> bytes | None:
    """The response name of an item that sends the whole message as a
    literal (``BODY[]``, ``BODY.PEEK[]`` answer as ``BODY[]``, RFC 3501
    §7.4.2; ``RFC822``), else None."""
    if att.partial is not None:
        return None
    if att.name == "RFC822":
        return b"RFC822"
    section = att.section
    if att.name == "BODY[]" and (section is None or (not section.part and section.text is None)):
        return b"BODY[]"
    return None


def _header_part(att: FetchAtt) -> _Part | None:
    """``BODY[HEADER]`` / ``BODY[HEADER.FIELDS[.NOT] (...)]`` of the top
    level without a partial: from the record's header block (RFC 3501
    §6.4.5), as :func:`mailframe.imap.commands.fetch._top_header`."""
    section = att.section
    if att.name != "BODY[]" or att.partial is not None or section is None or section.part:
        return None
    text = section.text
    name = body_name(section) + b" "
    if text == "HEADER":
        return lambda uid, record: name + literal(bytes(record.info.header))
    if text not in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return None
    fields_of = mm.info_header_fields_of(section.fields, text == "HEADER.FIELDS.NOT")

    def part(uid: int, record: Any) -> bytes:
        # A message's header never changes: the item as last sent is kept
        # on its parsed form (one per message, the last field list asked),
        # so the next header sync of the mailbox, by any session, takes it.
        info = record.info
        cache = info._cache
        if cache is None:
            cache = info._cache = {}
        kept = cache.get(_KEPT)
        if kept is not None and kept[0] == name:
            wire: bytes = kept[1]
            return wire
        wire = name + literal(fields_of(info))
        cache[_KEPT] = (name, wire)
        return wire

    return part


#: The key of the kept HEADER.FIELDS item in a parsed message's cache.
_KEPT = "fetch:header-fields"


def _flags_part(view: Any) -> _Part:
    """``FLAGS (...)`` as the session sees them (stored plus ``\\Recent``,
    RFC 3501 §2.3.2), the view's encoding: the stored set read from the
    view's flag column by position, and each distinct (set, recent) pair
    encoded once per command -- no new set per ``\\Recent`` message (the
    view's ``flags_wire`` makes one to look its encoding up)."""
    uids = view.uids
    column: list[frozenset[str]] = view.flag_column()
    recent: set[int] = view.recent
    flags_wire: Callable[[int], bytes] = view.flags_wire
    plain: dict[frozenset[str], bytes] = {}
    marked: dict[frozenset[str], bytes] = {}

    def part(uid: int, record: Any) -> bytes:
        i = bisect_left(uids, uid)
        if i == len(uids) or uids[i] != uid:
            return b"FLAGS " + flags_wire(uid)
        flags = column[i]
        memo = marked if uid in recent else plain
        wire = memo.get(flags)
        if wire is None:
            wire = memo[flags] = b"FLAGS " + flags_wire(uid)
        return wire

    return part


_SIMPLE: dict[str, _Part] = {
    "UID": lambda uid, record: b"UID %d" % uid,
    "INTERNALDATE": lambda uid, record: b"INTERNALDATE " + date_time(record.internaldate),
    "RFC822.SIZE": lambda uid, record: b"RFC822.SIZE %d" % record.size,
    "ENVELOPE": lambda uid, record: b"ENVELOPE " + record.info.envelope_wire,
    "BODYSTRUCTURE": lambda uid, record: b"BODYSTRUCTURE " + record.info.bodystructure_wire,
    "BODY": lambda uid, record: b"BODY " + record.info.body_wire,
}


def compile_plan(items: list[FetchAtt], view: Any, utf8: bool, word: bytes = b"FETCH") -> Builder | None:
    """One function making the whole response for ``items``, or None when
    an item is not one of the common ones (then the general encoders
    answer).  At most one whole-message literal, and it must come last,
    so the message's bytes are one piece of their own when big (no copy,
    as :meth:`mailframe.imap.fetch_response.FetchResponse.add_literal`)."""
    if utf8 or not items:
        return None
    parts: list[_Part] = []
    whole: bytes | None = None
    for i, att in enumerate(items):
        name = _whole(att)
        if name is not None:
            if i != len(items) - 1:
                return None
            whole = name
            continue
        if att.name == "FLAGS":
            parts.append(_flags_part(view))
            continue
        part = _SIMPLE.get(att.name) or _header_part(att)
        if part is None:
            return None
        parts.append(part)
    start = b"* %d " + word + b" ("
    if whole is None:
        return _items_only(start, parts)
    return _with_whole(start, parts, whole + b" {%d}\r\n")


def _items_only(start: bytes, parts: list[_Part]) -> Builder:
    if len(parts) == 1:
        (only,) = parts

        def one(seq: int, uid: int, record: Any, data: bytes | None) -> list[bytes] | None:
            return [start % seq + only(uid, record) + b")\r\n"]

        return one

    def build(seq: int, uid: int, record: Any, data: bytes | None) -> list[bytes] | None:
        return [start % seq + b" ".join([part(uid, record) for part in parts]) + b")\r\n"]

    return build


def _with_whole(start: bytes, parts: list[_Part], head: bytes) -> Builder:
    def build(seq: int, uid: int, record: Any, data: bytes | None) -> list[bytes] | None:
        if data is None or len(data) != record.size:
            return None
        if b"\x00" in data:
            data = data.replace(b"\x00", b"\x80")  # no NUL in a literal (RFC 3501 §4.3)
        first = start % seq
        if parts:
            first += b" ".join([part(uid, record) for part in parts]) + b" "
        first += head % len(data)
        if len(data) < COPY_MAX:
            return [first + data + b")\r\n"]
        return [first, data, b")\r\n"]

    return build
