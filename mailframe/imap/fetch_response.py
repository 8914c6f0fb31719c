"""FETCH responses (RFC 3501 §7.4.2): the one encoder of ``* n FETCH (...)``.

Three places answer with FETCH data: the FETCH command
(:mod:`mailframe.imap.commands.fetch`), STORE echoing the new flags (RFC
3501 §6.4.6, with MODSEQ per RFC 7162 §3.1.3) and the unsolicited flag
updates a session sends when another session changed flags (RFC 3501
§7.4.2, :mod:`mailframe.imap.view`).  All build the response here, so item
spelling and order (``UID n``, ``FLAGS (...)``, ``MODSEQ (n)``) are the same
everywhere.  Date-times come from :func:`mailframe.wire.date_time`, the one
``date-time`` formatter (RFC 3501 §9).

A response is a list of pieces: bytes, or a :class:`Stream` -- a literal's
body read by range from the store while it is written, chunk by chunk with
backpressure (:func:`write`), so a big message is never held whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import lru_cache
from typing import Protocol, Union

from mailframe.imap.serialize import Raw
from mailframe.imap.types import Section
from mailframe.wire import date_time

__all__ = [
    "CHUNK",
    "COPY_MAX",
    "STREAM_CHUNK",
    "FetchResponse",
    "Output",
    "Piece",
    "Stream",
    "body_name",
    "date_time",
    "flag_update",
    "flags_item",
    "internaldate_item",
    "modseq_item",
    "section_text",
    "uid_item",
    "write",
]

#: Gathered responses are written in blocks of about this many bytes.
CHUNK = 64 * 1024
#: Bytes read from the store per step while streaming a literal: large
#: enough that a store's per-read cost (a file opened, a row fetched) is
#: paid a few times per message, small enough to bound memory per session.
STREAM_CHUNK = 256 * 1024

#: Literals at least this big are kept as their own piece of a response
#: (:meth:`FetchResponse.add_literal`) rather than copied into it.
COPY_MAX = 4096

#: Reads ``[start, end)`` of one message from the store.
Reader = Callable[[int, int], Awaitable[bytes]]


class Stream:
    """A literal's body to stream from ``[start, end)`` of a message."""

    __slots__ = ("read", "start", "end")

    def __init__(self, read: Reader, start: int, end: int) -> None:
        self.read, self.start, self.end = read, start, end


Piece = Union[bytes, Stream]  # noqa: UP007


class Writer(Protocol):
    """The transport side :func:`write` needs (a session's IO)."""

    def write(self, data: bytes) -> None: ...

    def drain(self) -> Awaitable[None]: ...


# --- items (RFC 3501 §7.4.2 msg-att; MODSEQ RFC 7162 §3.1.4.1) -------------


def uid_item(uid: int) -> bytes:
    return b"UID %d" % uid


def flags_item(flags_wire: bytes) -> bytes:
    """``FLAGS (...)`` from an already encoded flag list."""
    return b"FLAGS " + flags_wire


def modseq_item(modseq: int) -> bytes:
    return b"MODSEQ (%d)" % modseq


def internaldate_item(when: datetime, name: bytes = b"INTERNALDATE") -> bytes:
    """``INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz"`` (RFC 3501 §9 date-time)."""
    return name + b" " + date_time(when)


_CLOSED = b")"  # FetchResponse.head once finish() closed its pieces


class FetchResponse:
    """One ``* n FETCH (item item ...)`` response being built, item by item.

    Items are gathered in a list and joined once at :meth:`finish`: a
    response without a streamed literal is one ``bytes`` piece."""

    __slots__ = ("head", "items", "pieces")

    def __init__(self, seq: int, word: bytes = b"FETCH") -> None:
        #: what goes before the gathered items: the response's start, or
        #: the space after a streamed literal
        self.head = b"* %d %s (" % (seq, word)
        self.items: list[bytes] = []
        #: the pieces up to the last streamed literal, if any
        self.pieces: list[Piece] | None = None

    def add(self, item: bytes) -> None:
        """One whole item (``NAME value``) in wire form."""
        self.items.append(item)

    def add_stream(self, head: bytes, read: Reader, start: int, end: int) -> None:
        """An item whose value is a literal (RFC 3501 §4.3) streamed from
        ``[start, end)`` of the message: ``head {n}\\r\\n`` then the bytes
        (NUL octets go out as 0x80, as :func:`mailframe.wire.literal`)."""
        self.items.append(head + b" {%d}\r\n" % (end - start))
        if self.pieces is None:
            self.pieces = []
        self.pieces.append(self.head + b" ".join(self.items))
        self.pieces.append(Stream(read, start, end))
        self.head, self.items = b" ", []

    def add_literal(self, head: bytes, data: bytes) -> None:
        """An item whose value is the literal ``data`` (RFC 3501 §4.3;
        NUL octets go out as 0x80, as :func:`mailframe.wire.literal`): the
        bytes :func:`mailframe.wire.literal` gives, but a big ``data`` is
        kept as its own piece, not copied into the response."""
        if b"\x00" in data:
            data = data.replace(b"\x00", b"\x80")
        if len(data) < COPY_MAX:
            self.items.append(head + b" {%d}\r\n" % len(data) + data)
            return
        self.items.append(head + b" {%d}\r\n" % len(data))
        if self.pieces is None:
            self.pieces = []
        self.pieces.append(self.head + b" ".join(self.items))
        self.pieces.append(data)
        self.head, self.items = b" ", []

    def finish(self) -> list[Piece]:
        """The pieces, closed with ``)\\r\\n`` (once: a second call gives the same)."""
        if self.pieces is None:
            return [self.head + b" ".join(self.items) + b")\r\n"]
        if self.head is not _CLOSED:
            self.pieces.append((self.head + b" ".join(self.items) if self.items else b"") + b")\r\n")
            self.head, self.items = _CLOSED, []
        return self.pieces

    def to_bytes(self) -> bytes:
        """The whole response, for one without streamed literals."""
        pieces = self.finish()
        if not all(isinstance(p, bytes) for p in pieces):
            raise TypeError("a response with a streamed literal must go through write()")
        return b"".join(p for p in pieces if isinstance(p, bytes))


def flag_update(
    seq: int,
    flags_wire: bytes | None,
    uid: int | None = None,
    modseq: int | None = None,
    *,
    uidfetch: bool = False,
) -> Raw:
    """``n FETCH ([UID u] [MODSEQ (m)] [FLAGS (...)])`` as a response value
    (for :func:`mailframe.imap.serialize.untagged`): STORE's answer (RFC
    3501 §6.4.6; ``.SILENT`` leaves FLAGS out) and the unsolicited flag
    change (§7.4.2); MODSEQ under CONDSTORE (RFC 7162 §3.1.3, §3.2.4).  With
    ``uidfetch`` (UIDONLY, RFC 9586 §3.1) ``seq`` is the UID and the
    response is ``UIDFETCH``."""
    items: list[bytes] = []
    if uid is not None:
        items.append(uid_item(uid))
    if modseq is not None:
        items.append(modseq_item(modseq))  # before FLAGS, as Dovecot sends it
    if flags_wire is not None:
        items.append(flags_item(flags_wire))
    word = b"UIDFETCH" if uidfetch else b"FETCH"
    return Raw(b"%d %s (" % (seq, word) + b" ".join(items) + b")")


class Output:
    """The responses of one command on their way out: small pieces are
    gathered and written in blocks of about :data:`CHUNK` bytes (one
    transport write and one backpressure check per block, not per
    message); streamed literals go out chunk by chunk, waiting for the
    peer to take each.  :meth:`flush` before the tagged reply."""

    __slots__ = ("io", "_buffer", "_size")

    def __init__(self, io: Writer) -> None:
        self.io = io
        self._buffer: list[bytes] = []
        self._size = 0

    def gather(self, pieces: list[Piece]) -> bool:
        """Gather a response made of bytes only (no copy, no coroutine per
        response); False, with nothing gathered, when it holds a
        :class:`Stream` (then :meth:`send` it).  :attr:`full` tells when a
        block is ready for :meth:`flush`."""
        size = 0
        for piece in pieces:
            if not isinstance(piece, bytes):
                return False
            size += len(piece)
        self._buffer.extend(pieces)  # type: ignore[arg-type]
        self._size += size
        return True

    def gather_bytes(self, pieces: list[bytes]) -> None:
        """Gather a response known to hold bytes only (as
        :mod:`mailframe.imap.fetch_fast` builds them)."""
        self._buffer.extend(pieces)
        self._size += sum(map(len, pieces))

    @property
    def full(self) -> bool:
        """Whether a block's worth (:data:`CHUNK`) is gathered."""
        return self._size >= CHUNK

    async def send(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if isinstance(piece, bytes):
                self._buffer.append(piece)
                self._size += len(piece)
            else:
                await self._stream(piece)
        if self._size >= CHUNK:
            await self.flush()

    async def _stream(self, piece: Stream) -> None:
        self._write_buffer()
        pos = piece.start
        while pos < piece.end:
            n = min(STREAM_CHUNK, piece.end - pos)
            data = await piece.read(pos, pos + n)
            if len(data) != n:  # the file changed under us: keep the stream in sync
                data = data.ljust(n, b" ")[:n]
            if b"\x00" in data:
                data = data.replace(b"\x00", b"\x80")  # no NUL in a literal (RFC 3501 §4.3)
            for i in range(0, n, CHUNK):  # the transport holds one CHUNK at a time
                self.io.write(data if n <= CHUNK else data[i : i + CHUNK])
                await self.io.drain()
            pos += n

    def _write_buffer(self) -> None:
        if self._buffer:
            self.io.write(b"".join(self._buffer))
            self._buffer, self._size = [], 0

    async def flush(self) -> None:
        """Write what is gathered and wait until the peer can take more."""
        self._write_buffer()
        await self.io.drain()


async def write(io: Writer, pieces: list[Piece]) -> None:
    """Write one response's pieces now, streaming ranges chunk by chunk
    with backpressure."""
    out = Output(io)
    await out.send(pieces)
    await out.flush()


@lru_cache(maxsize=1024)
def section_text(section: Section) -> str:
    """The section spec as echoed in the response (``1.2.HEADER.FIELDS (A B)``,
    RFC 3501 §7.4.2)."""
    spec = ".".join(str(p) for p in section.part)
    if section.text:
        spec = f"{spec}.{section.text}" if spec else section.text
        if section.fields:
            spec += " (" + " ".join(section.fields) + ")"
    return spec


@lru_cache(maxsize=1024)
def body_name(section: Section) -> bytes:
    """``BODY[section]``, the name a body section is answered under."""
    return b"BODY[" + section_text(section).encode("utf-8") + b"]"
