"""FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2; BINARY RFC 3516;
CONDSTORE RFC 7162 §3.1.4).

Metadata comes from the backend's records (ENVELOPE and BODYSTRUCTURE are
pre-encoded at delivery, so fetching them parses nothing); message bytes
are read only for the sections asked, and large literals are streamed in
chunks with backpressure so a slow reader never makes the server hold a
whole mailbox (DESIGN.md, "Backends").  Each item is one ``@item``
function in :data:`ITEMS`; responses are built and written by
:mod:`mailframe.imap.fetch_response`, the one FETCH encoder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from mailframe import message as mm
from mailframe.errors import ExpungeIssued
from mailframe.imap.command import Fetch
from mailframe.imap.commands.batching import byte_groups, forget, read_ahead, read_done
from mailframe.imap.commands.qresync import fetch_vanished
from mailframe.imap.commands.search_columns import remember
from mailframe.imap.context import SelectedContext
from mailframe.imap.fetch_fast import compile_plan
from mailframe.imap.fetch_items import ANSWERED_FIRST, EXTENSION_ITEMS, answer_order, distinct_items
from mailframe.imap.fetch_response import (
    STREAM_CHUNK,
    FetchResponse,
    Output,
    Piece,
    body_name,
    flags_item,
    internaldate_item,
    modseq_item,
    section_text,
    uid_item,
)
from mailframe.imap.registry import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.serialize import literal
from mailframe.imap.types import FetchAtt, Section
from mailframe.imap.utf8 import enabled as utf8_enabled
from mailframe.imap.utf8 import quote_utf8_literals
from mailframe.interfaces import IBatchReadMailbox
from mailframe.records import StoreMode
from mailframe.wire import date_time

SEEN = "\\Seen"
BATCH = 256  # messages per backend records() call
#: Messages per records() call when no item reads message bytes (ENVELOPE,
#: BODYSTRUCTURE, header fields): fewer trips to a store's thread, about
#: a megabyte or two of records at a time.
META_BATCH = 1024
INLINE_MAX = 64 * 1024  # read sections up to this size in one go
#: Whole messages read ahead in one IBatchReadMailbox.read_many call: at
#: most this many bytes (messages up to READ_AHEAD_MAX each), so memory
#: stays bounded whatever the FETCH range (two groups at a time: the next
#: group is read while one is encoded).
PREFETCH_BYTES = 1024 * 1024
#: Messages up to this size are read ahead whole (a bigger one is streamed
#: in steps of this size, STREAM_CHUNK, read from the store as it goes).
READ_AHEAD_MAX = STREAM_CHUNK

#: ``date-time`` for INTERNALDATE: the one formatter, in mailframe.wire.
imap_datetime = date_time


def sets_seen(att: FetchAtt) -> bool:
    """Items that set ``\\Seen`` implicitly (RFC 3501 §6.4.5)."""
    return (att.name in ("BODY[]", "BINARY[]") and not att.peek) or att.name in ("RFC822", "RFC822.TEXT")


# --- the item table ------------------------------------------------------------
#
# Each fetch item is one entry: what it needs from the store and the function
# that adds it to the response.  An extension item (PREVIEW, EMAILID ...) is
# one more ``@item(...)`` function.

#: What an item needs: the session view alone (UID, FLAGS), the cheap
#: per-message state (IMailbox.states), or the parsed record (IMailbox.records).
VIEW, STATE, RECORD = 0, 1, 2


class Message:
    """One message as the item encoders see it: the session view, its UID,
    its state or record (``None`` for view-only items) and its bytes, read
    by range from the store (IMailbox.read): never more than the response
    needs."""

    __slots__ = ("view", "uid", "record", "mailbox", "data", "modseq")

    def __init__(self, view: Any, uid: int, record: Any, mailbox: Any, data: bytes | None = None) -> None:
        self.view, self.uid, self.record, self.mailbox = view, uid, record, mailbox
        #: The whole message when it was read ahead (see PREFETCH_BYTES).
        self.data = data
        #: The modseq this FETCH gave it by setting ``\\Seen`` (newer than
        #: the record's), else None.
        self.modseq: int | None = None

    async def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        data: bytes = await self.mailbox.read(self.uid, start, end)
        return data


#: Adds one item to the response; a coroutine function when it reads bytes.
Encoder = Callable[[FetchResponse, FetchAtt, Message], Awaitable[None] | None]


@dataclass(frozen=True)
class Item:
    """A fetch item's entry in :data:`ITEMS`: its encoder, what it needs
    (VIEW, STATE or RECORD: FETCH asks the store for no more), and whether
    the encoder is a coroutine function that may read message bytes."""

    encode: Encoder
    needs: int
    reads: bool


ITEMS: dict[str, Item] = {}


def item(name: str, needs: int, reads: bool = False) -> Callable[[Encoder], Encoder]:
    """Register the encoder of the fetch item ``name`` (as the grammar
    names it, :class:`mailframe.imap.types.FetchAtt`)."""

    def register(fn: Encoder) -> Encoder:
        ITEMS[name] = Item(fn, needs, reads)
        return fn

    return register


def _spec(att: FetchAtt, utf8: bool) -> Item:
    """The table entry for ``att``: an extension item registered in
    :data:`mailframe.imap.fetch_items.EXTENSION_ITEMS` (PREVIEW, EMAILID
    ...) reads the record and maybe bytes; for a client that enabled
    UTF8=ACCEPT the pre-encoded structures carry UTF-8 as quoted strings
    (RFC 6855 §3); the top-level ``BODY[HEADER...]`` sections of a header
    sync get an encoder made for the one section (:func:`_top_header`)."""
    name = att.name
    if utf8 and name in _UTF8_ITEMS:
        return _UTF8_ITEMS[name]
    if name == "BODY[]" and att.section is not None and not att.section.part:
        if att.section.text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            return Item(_top_header(att.section), RECORD, reads=False)
    if name == "BODY[]":
        return Item(_body_encoder(att.section or Section()), RECORD, reads=True)
    spec = ITEMS.get(name)
    if spec is None:
        return Item(_extension, RECORD, reads=True)
    return spec


def _top_header(section: Section) -> Encoder:
    """The encoder of ``BODY[HEADER]``, ``BODY[HEADER.FIELDS (...)]`` or
    ``BODY[HEADER.FIELDS.NOT (...)]`` (RFC 3501 §6.4.5), answered from the
    record's header block: what :func:`_body_section` sends, with the
    section's name and field set worked out once per command, not per
    message."""
    name = body_name(section)
    fields, exclude = section.fields, section.text == "HEADER.FIELDS.NOT"
    whole = section.text == "HEADER"

    def encode(out: FetchResponse, att: FetchAtt, m: Message) -> None:
        info = m.record.info
        data = bytes(info.header) if whole else mm.info_header_fields(info, fields, exclude)
        if att.partial is None:
            out.add(name + b" " + literal(data))
            return
        start, end, suffix = _partial(att, 0, len(data))
        out.add(name + suffix + b" " + literal(data[start:end]))

    return encode


async def _extension(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(await EXTENSION_ITEMS[att.name](att, m.record, m))


#: The name of the pseudo-item that answers for an implicit ``\\Seen``
#: (not a fetch-att: the grammar never produces it).
IMPLICIT = "\\implicit-seen"


def _implicit_item(flags: bool, modseq: bool) -> Item:
    """The pseudo-item a FETCH that sets ``\\Seen`` puts into its plan
    between the items Dovecot answers first (UID, FLAGS, INTERNALDATE,
    RFC822.SIZE, MODSEQ ...) and the rest (envelope, structures,
    sections), where Dovecot sends what the FETCH changed: for a message
    it marked ``\\Seen``, the new FLAGS when they were not asked for (RFC
    3501 §6.4.5) and, under CONDSTORE, the new MODSEQ (RFC 7162 §3.1);
    nothing for a message that was already seen."""

    def encode(out: FetchResponse, att: FetchAtt, m: Message) -> None:
        if m.modseq is None:
            return
        if flags:
            out.add(flags_item(m.view.flags_wire(m.uid)))
        if modseq:
            out.add(modseq_item(m.modseq))

    return Item(encode, VIEW, reads=False)


def _needs(plan: list[tuple[Item, FetchAtt]]) -> int:
    return max((spec.needs for spec, _ in plan), default=VIEW)


def _reads_whole(att: FetchAtt) -> bool:
    """Whether the item sends the whole message or its whole text, so
    reading the whole (small) message ahead reads nothing it does not
    need: RFC822, RFC822.TEXT, BODY[] and BODY[TEXT] without a partial."""
    if att.name in ("RFC822", "RFC822.TEXT"):
        return True
    section = att.section
    return (
        att.name == "BODY[]"
        and att.partial is None
        and (section is None or (not section.part and section.text in (None, "TEXT")))
    )


@item("UID", VIEW)
def _uid(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(uid_item(m.uid))


@item("FLAGS", VIEW)
def _flags(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(flags_item(m.view.flags_wire(m.uid)))


@item("MODSEQ", STATE)
def _modseq(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    modseq = m.record.modseq if m.modseq is None else m.modseq
    m.view.fetched_modseq = max(m.view.fetched_modseq, modseq)
    out.add(modseq_item(modseq))


@item("INTERNALDATE", STATE)
def _internaldate(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(internaldate_item(m.record.internaldate))


@item("SAVEDATE", RECORD)
def _savedate(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    """RFC 8514 §2: NIL when the store cannot tell."""
    saved = getattr(m.record, "savedate", None)
    out.add(b"SAVEDATE NIL" if saved is None else internaldate_item(saved, b"SAVEDATE"))


@item("RFC822.SIZE", STATE)
def _size(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(b"RFC822.SIZE %d" % m.record.size)


@item("ENVELOPE", RECORD)
def _envelope(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(b"ENVELOPE " + m.record.info.envelope_wire)


@item("BODYSTRUCTURE", RECORD)
def _bodystructure(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(b"BODYSTRUCTURE " + m.record.info.bodystructure_wire)


@item("BODY", RECORD)
def _body(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(b"BODY " + m.record.info.body_wire)


def _utf8_quoted(word: bytes, wire: Callable[[Any], bytes]) -> Item:
    def encode(out: FetchResponse, att: FetchAtt, m: Message) -> None:
        out.add(word + b" " + quote_utf8_literals(wire(m.record.info)))

    return Item(encode, RECORD, reads=False)


#: ENVELOPE, BODYSTRUCTURE and BODY for a UTF8=ACCEPT client: literals
#: holding UTF-8 become quoted strings (RFC 6855 §3, mailframe.imap.utf8).
_UTF8_ITEMS: dict[str, Item] = {
    "ENVELOPE": _utf8_quoted(b"ENVELOPE", lambda info: bytes(info.envelope_wire)),
    "BODYSTRUCTURE": _utf8_quoted(b"BODYSTRUCTURE", lambda info: bytes(info.bodystructure_wire)),
    "BODY": _utf8_quoted(b"BODY", lambda info: bytes(info.body_wire)),
}


def _whole_or_stream(out: FetchResponse, head: bytes, m: Message, start: int, end: int) -> None:
    """``head`` and ``[start, end)`` of the message as a literal: from the
    bytes read ahead when there are (and they are all there), else
    streamed from the store."""
    data = m.data
    if data is not None:
        chunk = data[start:end]
        if len(chunk) == end - start:
            out.add_literal(head, chunk)
            return
    out.add_stream(head, m.read, start, end)


@item("RFC822", RECORD)
def _rfc822(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    _whole_or_stream(out, b"RFC822", m, 0, m.record.size)


@item("RFC822.HEADER", RECORD)
def _rfc822_header(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    out.add(b"RFC822.HEADER " + literal(m.record.info.header))


@item("RFC822.TEXT", RECORD)
def _rfc822_text(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    _whole_or_stream(out, b"RFC822.TEXT", m, len(m.record.info.header), m.record.size)


def _partial(att: FetchAtt, start: int, end: int) -> tuple[int, int, bytes]:
    """Apply ``<origin.count>`` to a range; returns the echo suffix."""
    if att.partial is None:
        return start, end, b""
    origin, count = att.partial
    s = min(start + origin, end)
    return s, min(s + count, end), b"<%d>" % origin


async def _section_bytes(section: Section, m: Message) -> bytes | None:
    """The bytes of a section, or None when the part does not exist."""
    info = m.record.info
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        exclude = section.text == "HEADER.FIELDS.NOT"
        if not section.part:
            block = info.header
        else:
            rng = mm.part_header_range(info, section.part)
            if rng is None:
                return None
            block = await m.read(*rng)
        return mm.header_fields(block, section.fields, exclude)
    if not section.part and section.text == "HEADER":
        return bytes(info.header)
    rng = mm.section_range(info, section.part, section.text)
    if rng is None:
        return None
    return await m.read(*rng)


@item("BODY[]", RECORD, reads=True)
def _body_section(out: FetchResponse, att: FetchAtt, m: Message) -> Awaitable[None] | None:
    """BODY[section]<partial>, always a literal, as Dovecot sends it (a
    client such as imaplib only hands over literal data as the section);
    a part that does not exist is the empty literal, as in Dovecot.
    Answered at once where no bytes need reading (the top-level header
    is in the record, a whole small message may be read ahead); else the
    coroutine that reads them."""
    section = att.section or Section()
    return _body_section_of(out, att, m, section, body_name(section))


def _body_encoder(section: Section) -> Encoder:
    """:func:`_body_section` for one section, its name made once."""
    name = body_name(section)

    def encode(out: FetchResponse, att: FetchAtt, m: Message) -> Awaitable[None] | None:
        return _body_section_of(out, att, m, section, name)

    return encode


def _body_section_of(
    out: FetchResponse, att: FetchAtt, m: Message, section: Section, name: bytes
) -> Awaitable[None] | None:
    text = section.text
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT") or (not section.part and text == "HEADER"):
        if section.part:
            return _body_header_part(out, att, m, section, name)  # reads the part's header
        header = m.record.info.header
        if text == "HEADER":
            data = bytes(header)
        else:
            data = mm.header_fields(header, section.fields, text == "HEADER.FIELDS.NOT")
        start, end, suffix = _partial(att, 0, len(data))
        out.add(name + suffix + b" " + literal(data[start:end]))
        return None
    rng = mm.section_range(m.record.info, section.part, text)
    if rng is None:
        _, _, suffix = _partial(att, 0, 0)
        out.add(name + suffix + b" {0}\r\n")
        return None
    start, end, suffix = _partial(att, *rng)
    if end - start > INLINE_MAX:
        _whole_or_stream(out, name + suffix, m, start, end)
        return None
    if m.data is not None:
        out.add_literal(name + suffix, m.data[start:end])
        return None
    return _body_read(out, name + suffix, m, start, end)


async def _body_header_part(out: FetchResponse, att: FetchAtt, m: Message, section: Section, name: bytes) -> None:
    """BODY[part.HEADER.FIELDS (...)] and .NOT: the part's header read."""
    data = await _section_bytes(section, m)
    if data is None:
        data = b""
    start, end, suffix = _partial(att, 0, len(data))
    out.add(name + suffix + b" " + literal(data[start:end]))


async def _body_read(out: FetchResponse, head: bytes, m: Message, start: int, end: int) -> None:
    out.add_literal(head, await m.read(start, end))


@item("BINARY[]", RECORD, reads=True)
async def _binary_section(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    """RFC 3516 §4.2: the decoded part as a literal; ``literal8`` (``~{n}``)
    when transfer decoding took place (base64, quoted-printable, binary) or
    the data holds NUL -- Dovecot's choice, and RFC 3516 §4.3 requires
    literal8 for NUL."""
    section = att.section or Section()
    name = b"BINARY[" + section_text(section).encode("utf-8") + b"]"
    raw = await _section_bytes(section, m)
    if raw is None:
        _, _, suffix = _partial(att, 0, 0)
        out.add(name + suffix + b" {0}\r\n")
        return
    info = m.record.info
    data = mm.decode_binary(info, section.part, raw)
    eight = mm.binary_decodes(info, section.part) or b"\x00" in data
    start, end, suffix = _partial(att, 0, len(data))
    out.add(name + suffix + b" " + literal(data[start:end], binary=eight))


@item("BINARY.SIZE", RECORD, reads=True)
async def _binary_size(out: FetchResponse, att: FetchAtt, m: Message) -> None:
    """RFC 3516 §4.2: the size of the decoded part."""
    section = att.section or Section()
    data = await _section_bytes(section, m)
    size = 0 if data is None else mm.binary_size(m.record.info, section.part, data)
    out.add(b"BINARY.SIZE[%s] %d" % (section_text(section).encode(), size))


# --- the command -----------------------------------------------------------------


@command(Fetch, SELECTED, expunge_ok=not_by_sequence)
async def fetch(session: SelectedContext, cmd: Fetch) -> Reply:
    view = session.view
    mailbox = session.mailbox
    pairs = view.resolve(cmd.numbers, cmd.uid)
    items = distinct_items(cmd.items)
    uid_only = "UIDONLY" in session.enabled  # RFC 9586 §3.1: UIDFETCH, UID only if asked
    if cmd.uid and not uid_only and not any(a.name == "UID" for a in items):
        items.insert(0, FetchAtt("UID"))
    if cmd.changedsince is not None or any(a.name == "MODSEQ" for a in items):
        session.enable_condstore()
        if not any(a.name == "MODSEQ" for a in items):
            items.append(FetchAtt("MODSEQ"))
    items = answer_order(items)
    if cmd.vanished and cmd.changedsince is not None:
        await fetch_vanished(session, cmd.numbers, cmd.changedsince)  # RFC 7162 §3.2.6
    if cmd.changedsince is not None:
        # The log answers "what changed since": no per-message scan.
        changes = await mailbox.changes_since(cmd.changedsince)
        changed = {st.uid for st in changes.changed}
        pairs = [(s, u) for s, u in pairs if u in changed]
    seen = not view.readonly and any(sets_seen(a) for a in items)
    utf8 = utf8_enabled(session)
    plan = [(_spec(a, utf8), a) for a in items]
    word = b"UIDFETCH" if uid_only else b"FETCH"
    if seen:
        tell_flags = not any(a.name == "FLAGS" for a in items)
        # RFC 7162 §3.1: once CONDSTORE is on, a FETCH that changes flags
        # reports the new modseq with them
        tell_modseq = "CONDSTORE" in session.enabled and not any(a.name == "MODSEQ" for a in items)
        if tell_flags or tell_modseq:
            at = sum(1 for a in items if a.name in ANSWERED_FIRST)
            plan.insert(at, (_implicit_item(tell_flags, tell_modseq), FetchAtt(IMPLICIT)))
    needs = _needs(plan)
    batch = IBatchReadMailbox(mailbox) if IBatchReadMailbox.providedBy(mailbox) else None
    prefetch = batch is not None and any(_reads_whole(a) for a in items)
    fast = compile_plan(items, view, utf8, word)  # the common shapes in one step
    out = Output(session.io)
    missing = raced = False
    reading: Awaitable[dict[int, bytes]] | None = None
    try:
        step = META_BATCH if needs > VIEW and not any(spec.reads for spec, _ in plan) else BATCH
        for i in range(0, len(pairs), step):
            if i:
                await out.flush()
                await session.io.pause()  # let other sessions run between batches
            ghosts = view.ghosts
            chunk = [(s, u) for s, u in pairs[i : i + step] if u not in ghosts] if ghosts else pairs[i : i + step]
            missing = missing or len(chunk) < len(pairs[i : i + step])
            records: dict[int, Any] = {}
            if needs > VIEW and chunk:
                wanted = [u for _, u in chunk]
                found = await (mailbox.records(wanted) if needs == RECORD else mailbox.states(wanted))
                records = {r.uid: r for r in found}
                if needs == RECORD:
                    remember(mailbox, view.uidvalidity, found)  # SEARCH columns (issue 16)
            newly_seen: dict[int, int] = {}  # uid -> the modseq setting \Seen gave it
            if seen:
                unseen = [u for _, u in chunk if SEEN not in view.stored_flags(u) and (u in records or needs == VIEW)]
                if unseen:
                    result = await mailbox.store(unseen, StoreMode.ADD, frozenset({SEEN}))
                    session.flags_changed(result.changed)
                    for st in result.changed:
                        view.set_flags(st)
                        newly_seen[st.uid] = st.modseq
            get = records.get
            present: list[tuple[int, int, Any]] = [(s, u, get(u)) for s, u in chunk]
            if needs > VIEW and any(r is None for _, _, r in present):
                missing = True
                present = [(s, u, r) for s, u, r in present if r is not None]
            groups = _groups(present) if prefetch else [present]
            reading = read_ahead(batch, groups[0], READ_AHEAD_MAX) if prefetch else None
            for k, group in enumerate(groups):
                data: dict[int, bytes] = {}
                if reading is not None:
                    data = await read_done(reading)
                # the next group's files are read while this one is encoded
                reading = read_ahead(batch, groups[k + 1], READ_AHEAD_MAX) if prefetch and k + 1 < len(groups) else None
                for seq, uid, record in group:
                    if fast is not None and uid not in newly_seen:
                        try:
                            quick = fast(uid if uid_only else seq, uid, record, data.get(uid) if data else None)
                        except ExpungeIssued:
                            raced = True
                            continue
                        if quick is not None:
                            out.gather_bytes(quick)
                            if out.full:
                                await out.flush()
                            continue
                    m = Message(view, uid, record, mailbox, data.get(uid) if data else None)
                    m.modseq = newly_seen.get(uid)
                    try:
                        built = _respond(uid if uid_only else seq, m, plan, word)
                        response = built if isinstance(built, list) else await built
                    except ExpungeIssued:
                        # Expunged by another session after its record was
                        # read: nothing of it was sent (a response is built
                        # whole first), so it is skipped, as Dovecot does.
                        raced = True
                        continue
                    if out.gather(response):
                        if out.full:
                            await out.flush()
                    else:  # a streamed literal
                        await out.send(response)
    finally:
        forget(reading)
        # responses gathered so far go out even when a read fails
        await out.flush()
    if missing and not cmd.uid:
        raise ExpungeIssued("Some of the requested messages no longer exist")
    if raced:
        # Dovecot's answer (RFC 2180 §4.1: the others are served; the
        # client learns of the expunge at the next command that allows it).
        return Reply("Some messages were already expunged.", "EXPUNGEISSUED")
    return Reply("Fetch completed")


def _groups(present: list[tuple[int, int, Any]]) -> list[list[tuple[int, int, Any]]]:
    """Consecutive messages in groups of at most PREFETCH_BYTES (counting
    the messages small enough to be read ahead)."""
    return byte_groups(present, PREFETCH_BYTES,
                       lambda entry: entry[2].size if entry[2].size <= READ_AHEAD_MAX else 0)


def _respond(
    seq: int,
    m: Message,
    plan: list[tuple[Item, FetchAtt]],
    word: bytes = b"FETCH",
) -> list[Piece] | Coroutine[Any, Any, list[Piece]]:
    """One ``* n FETCH (...)`` response (big literals as streams), its
    items in the plan's order (an implicit ``\\Seen``'s FLAGS and MODSEQ
    are one more item of the plan, :func:`_implicit_item`).  Under UIDONLY
    ``seq`` is the UID and ``word`` is ``UIDFETCH`` (RFC 9586 §3.1).
    Built at once when no item reads message bytes (a header sync: no
    coroutine per message); else the coroutine that reads them and
    finishes the response."""
    out = FetchResponse(seq, word)
    for i, (spec, att) in enumerate(plan):
        pending = spec.encode(out, att, m)
        if pending is not None:
            return _respond_rest(out, pending, m, plan[i + 1 :])
    return out.finish()


async def _respond_rest(
    out: FetchResponse,
    pending: Awaitable[None],
    m: Message,
    rest: list[tuple[Item, FetchAtt]],
) -> list[Piece]:
    """The rest of :func:`_respond` once an item needs to read bytes."""
    await pending
    for spec, att in rest:
        more = spec.encode(out, att, m)
        if more is not None:
            await more
    return out.finish()
