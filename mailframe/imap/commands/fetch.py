"""FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2; BINARY RFC 3516;
CONDSTORE RFC 7162 §3.1.4).

Metadata comes from the backend's records (ENVELOPE and BODYSTRUCTURE are
pre-encoded at delivery, so fetching them parses nothing); message bytes
are read only for the sections asked, and large literals are streamed in
chunks with backpressure so a slow reader never makes the server hold a
whole mailbox (DESIGN.md, "Backends").
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mailframe import message as mm
from mailframe.errors import ExpungeIssued
from mailframe.imap.command import Fetch
from mailframe.imap.commands.qresync import fetch_vanished
from mailframe.imap.context import SelectedContext
from mailframe.imap.fetch_items import EXTENSION_ITEMS
from mailframe.imap.registry import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.serialize import literal
from mailframe.imap.types import FetchAtt, Section
from mailframe.imap.utf8 import enabled as utf8_enabled
from mailframe.imap.utf8 import quote_utf8_literals
from mailframe.records import StoreMode
from mailframe.wire import date_time

SEEN = "\\Seen"
BATCH = 256  # messages per backend records() call
CHUNK = 64 * 1024  # bytes per write while streaming a literal
INLINE_MAX = 64 * 1024  # read sections up to this size in one go


#: Items answered from the session view alone, without backend records.
_VIEW_ONLY = frozenset({"UID", "FLAGS"})
#: Items answered from the cheap per-message state (IMailbox.states).
_STATE_ONLY = frozenset({"UID", "FLAGS", "MODSEQ", "INTERNALDATE", "RFC822.SIZE"})


#: Items sent as one pre-encoded value whose literals become quoted
#: UTF-8 strings for a UTF8=ACCEPT client (mailframe.imap.utf8).
_UTF8_QUOTABLE = frozenset({"ENVELOPE", "BODYSTRUCTURE", "BODY"})

#: ``date-time`` for INTERNALDATE: the one formatter, in mailframe.wire.
imap_datetime = date_time


@lru_cache(maxsize=1024)
def section_text(section: Section) -> str:
    """The section spec as echoed in the response (``1.2.HEADER.FIELDS (A B)``)."""
    spec = ".".join(str(p) for p in section.part)
    if section.text:
        spec = f"{spec}.{section.text}" if spec else section.text
        if section.fields:
            spec += " (" + " ".join(section.fields) + ")"
    return spec


def sets_seen(att: FetchAtt) -> bool:
    """Items that set ``\\Seen`` implicitly (RFC 3501 §6.4.5)."""
    return (att.name in ("BODY[]", "BINARY[]") and not att.peek) or att.name in ("RFC822", "RFC822.TEXT")


class _Message:
    """One message's bytes, read by range from the store (IMailbox.read):
    never more than the response needs."""

    def __init__(self, mailbox: Any, uid: int) -> None:
        self.mailbox = mailbox
        self.uid = uid

    async def read(self, start: int, end: int) -> bytes:
        data: bytes = await self.mailbox.read(self.uid, start, end)
        return data

    def close(self) -> None:
        """Nothing held open between reads."""


class _Stream:
    """A literal to stream from a byte range of the message."""

    def __init__(self, msg: _Message, start: int, end: int) -> None:
        self.msg, self.start, self.end = msg, start, end


def _needs_records(items: tuple[FetchAtt, ...]) -> bool:
    return any(a.name not in _VIEW_ONLY for a in items)


def _needs_structure(items: tuple[FetchAtt, ...]) -> bool:
    """Whether any item needs the parsed structure (not just the state)."""
    return any(a.name not in _STATE_ONLY for a in items)


@command(Fetch, SELECTED, expunge_ok=not_by_sequence)
async def fetch(session: SelectedContext, cmd: Fetch) -> Reply:
    view = session.view
    mailbox = session.mailbox
    pairs = view.resolve(cmd.numbers, cmd.uid)
    items = list(cmd.items)
    uid_only = "UIDONLY" in session.enabled  # RFC 9586 §3.1: UIDFETCH, UID only if asked
    if cmd.uid and not uid_only and not any(a.name == "UID" for a in items):
        items.insert(0, FetchAtt("UID"))
    if cmd.changedsince is not None or any(a.name == "MODSEQ" for a in items):
        session.enabled.add("CONDSTORE")
        if not any(a.name == "MODSEQ" for a in items):
            items.append(FetchAtt("MODSEQ"))
    if cmd.vanished and cmd.changedsince is not None:
        await fetch_vanished(session, cmd.numbers, cmd.changedsince)  # RFC 7162 §3.2.6
    if cmd.changedsince is not None:
        # The log answers "what changed since": no per-message scan.
        changes = await mailbox.changes_since(cmd.changedsince)
        changed = {st.uid for st in changes.changed}
        pairs = [(s, u) for s, u in pairs if u in changed]
    seen = not view.readonly and any(sets_seen(a) for a in items)
    need_records = _needs_records(tuple(items))
    need_structure = _needs_structure(tuple(items))
    missing = False
    for i in range(0, len(pairs), BATCH):
        if i:
            await session.io.pause()  # let other sessions run between batches
        chunk = [(s, u) for s, u in pairs[i : i + BATCH] if u not in view.ghosts]
        missing = missing or len(chunk) < len(pairs[i : i + BATCH])
        records: dict[int, Any] = {}
        if need_records and chunk:
            wanted = [u for _, u in chunk]
            found = await (mailbox.records(wanted) if need_structure else mailbox.states(wanted))
            records = {r.uid: r for r in found}
        newly_seen: set[int] = set()
        if seen:
            unseen = [u for _, u in chunk if SEEN not in view.stored_flags(u) and (u in records or not need_records)]
            if unseen:
                result = await mailbox.store(unseen, StoreMode.ADD, frozenset({SEEN}))
                session.flags_changed(result.changed)
                for st in result.changed:
                    view.set_flags(st)
                    newly_seen.add(st.uid)
        for seq, uid in chunk:
            record = records.get(uid)
            if need_records and record is None:
                missing = True
                continue
            await _respond(session, seq, uid, record, items, uid in newly_seen, uid_only)
    if missing and not cmd.uid:
        raise ExpungeIssued("Some of the requested messages no longer exist")
    return Reply("Fetch completed")


async def _respond(
    session: SelectedContext, seq: int, uid: int, record: Any, items: list[FetchAtt], add_flags: bool,
    uid_only: bool = False,
) -> None:
    """Write one ``* n FETCH (...)`` response (``* uid UIDFETCH (...)``
    with UIDONLY, RFC 9586 §3.1), streaming big literals."""
    view = session.view
    msg = _Message(session.mailbox, uid)
    parts: list[bytes | _Stream] = [b"* %d UIDFETCH (" % uid if uid_only else b"* %d FETCH (" % seq]
    utf8 = utf8_enabled(session)
    try:
        first = True
        wrote_flags = False
        for att in items:
            if not first:
                parts.append(b" ")
            first = False
            wrote_flags = wrote_flags or att.name == "FLAGS"
            await _item(parts, att, view, uid, record, msg)
            last = parts[-1]
            if utf8 and att.name in _UTF8_QUOTABLE and isinstance(last, bytes):
                parts[-1] = quote_utf8_literals(last)  # RFC 6855 §3: UTF-8 in quoted strings
        if add_flags and not wrote_flags:
            parts.append(b" FLAGS " + view.flags_wire(uid))
        parts.append(b")\r\n")
        await _write(session, parts)
    finally:
        msg.close()


async def _item(
    parts: list[bytes | _Stream], att: FetchAtt, view: Any, uid: int, record: Any, msg: _Message
) -> None:
    name = att.name
    if name == "UID":
        parts.append(b"UID %d" % uid)
    elif name == "FLAGS":
        parts.append(b"FLAGS " + view.flags_wire(uid))
    elif name == "MODSEQ":
        parts.append(b"MODSEQ (%d)" % record.modseq)
    elif name == "INTERNALDATE":
        parts.append(b"INTERNALDATE " + imap_datetime(record.internaldate))
    elif name == "SAVEDATE":  # RFC 8514 §2: NIL when the store cannot tell
        saved = getattr(record, "savedate", None)
        parts.append(b"SAVEDATE " + (b"NIL" if saved is None else imap_datetime(saved)))
    elif name == "RFC822.SIZE":
        parts.append(b"RFC822.SIZE %d" % record.size)
    elif name == "ENVELOPE":
        parts.append(b"ENVELOPE " + record.info.envelope_wire)
    elif name == "BODYSTRUCTURE":
        parts.append(b"BODYSTRUCTURE " + record.info.bodystructure_wire)
    elif name == "BODY":
        parts.append(b"BODY " + record.info.body_wire)
    elif name == "RFC822":
        parts.append(b"RFC822 ")
        _literal(parts, msg, 0, record.size)
    elif name == "RFC822.HEADER":
        parts.append(b"RFC822.HEADER " + literal(record.info.header))
    elif name == "RFC822.TEXT":
        parts.append(b"RFC822.TEXT ")
        _literal(parts, msg, len(record.info.header), record.size)
    elif name == "BODY[]":
        await _body_section(parts, att, record, msg)
    elif name == "BINARY[]":
        await _binary_section(parts, att, record, msg)
    elif name == "BINARY.SIZE":
        section = att.section or Section()
        data = await _section_bytes(section, record, msg)
        size = 0 if data is None else mm.binary_size(record.info, section.part, data)
        parts.append(b"BINARY.SIZE[%s] %d" % (section_text(section).encode(), size))
    elif name in EXTENSION_ITEMS:  # PREVIEW (RFC 8970) ...: mailframe.imap.fetch_items
        parts.append(await EXTENSION_ITEMS[name](att, record, msg))
    else:  # the grammar only produces the names above
        raise AssertionError(f"unknown fetch item {name}")


def _literal(parts: list[bytes | _Stream], msg: _Message, start: int, end: int) -> None:
    """A literal streamed from ``[start, end)`` of the message (NUL octets
    go out as 0x80, see :func:`mailframe.imap.serialize.literal`)."""
    parts.append(b"{%d}\r\n" % (end - start))
    parts.append(_Stream(msg, start, end))


def _partial(att: FetchAtt, start: int, end: int) -> tuple[int, int, bytes]:
    """Apply ``<origin.count>`` to a range; returns the echo suffix."""
    if att.partial is None:
        return start, end, b""
    origin, count = att.partial
    s = min(start + origin, end)
    return s, min(s + count, end), b"<%d>" % origin


async def _section_bytes(section: Section, record: Any, msg: _Message) -> bytes | None:
    """The bytes of a section, or None when the part does not exist."""
    info = record.info
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        exclude = section.text == "HEADER.FIELDS.NOT"
        if not section.part:
            block = info.header
        else:
            rng = mm.part_header_range(info, section.part)
            if rng is None:
                return None
            block = await msg.read(*rng)
        return mm.header_fields(block, section.fields, exclude)
    if not section.part and section.text == "HEADER":
        return bytes(info.header)
    rng = mm.section_range(info, section.part, section.text)
    if rng is None:
        return None
    return await msg.read(*rng)


async def _body_section(parts: list[bytes | _Stream], att: FetchAtt, record: Any, msg: _Message) -> None:
    """BODY[section]<partial>, always a literal, as Dovecot sends it (a
    client such as imaplib only hands over literal data as the section);
    a part that does not exist is the empty literal, as in Dovecot."""
    section = att.section or Section()
    name = b"BODY[" + section_text(section).encode("utf-8") + b"]"
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT") or (not section.part and section.text == "HEADER"):
        # Header blocks are small and (at the top level) cached.
        data = await _section_bytes(section, record, msg)
        if data is None:
            data = b""
        start, end, suffix = _partial(att, 0, len(data))
        parts.append(name + suffix + b" " + literal(data[start:end]))
        return
    rng = mm.section_range(record.info, section.part, section.text)
    if rng is None:
        _, _, suffix = _partial(att, 0, 0)
        parts.append(name + suffix + b" {0}\r\n")
        return
    start, end, suffix = _partial(att, *rng)
    if end - start > INLINE_MAX:
        parts.append(name + suffix + b" ")
        _literal(parts, msg, start, end)
    else:
        parts.append(name + suffix + b" " + literal(await msg.read(start, end)))


async def _binary_section(parts: list[bytes | _Stream], att: FetchAtt, record: Any, msg: _Message) -> None:
    """RFC 3516 §4.2: the decoded part as a literal; ``literal8`` (``~{n}``)
    when transfer decoding took place (base64, quoted-printable, binary) or
    the data holds NUL -- Dovecot's choice, and RFC 3516 §4.3 requires
    literal8 for NUL."""
    section = att.section or Section()
    name = b"BINARY[" + section_text(section).encode("utf-8") + b"]"
    raw = await _section_bytes(section, record, msg)
    if raw is None:
        _, _, suffix = _partial(att, 0, 0)
        parts.append(name + suffix + b" {0}\r\n")
        return
    data = mm.decode_binary(record.info, section.part, raw)
    eight = mm.binary_decodes(record.info, section.part) or b"\x00" in data
    start, end, suffix = _partial(att, 0, len(data))
    data = data[start:end]
    parts.append(name + suffix + b" " + literal(data, binary=eight))


async def _write(session: SelectedContext, parts: list[bytes | _Stream]) -> None:
    """Write the pieces, streaming ranges chunk by chunk with backpressure."""
    io = session.io
    buffered: list[bytes] = []
    for part in parts:
        if isinstance(part, bytes):
            buffered.append(part)
            continue
        if buffered:
            io.write(b"".join(buffered))
            buffered = []
        pos = part.start
        while pos < part.end:
            n = min(CHUNK, part.end - pos)
            data = await part.msg.read(pos, pos + n)
            if len(data) != n:  # the file changed under us: keep the stream in sync
                data = data.ljust(n, b" ")
            if b"\x00" in data:
                data = data.replace(b"\x00", b"\x80")  # no NUL in a literal (RFC 3501 §4.3)
            io.write(data)
            pos += n
            await io.drain()
    if buffered:
        io.write(b"".join(buffered))
    await io.drain()
