"""The one FETCH response encoder (issue 10): the forms STORE and the
unsolicited flag updates send (RFC 3501 §6.4.6, §7.4.2; MODSEQ RFC 7162
§3.1.3), responses built item by item, streamed literals, and FETCH's item
table covering every item the grammar produces."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from mailframe.imap.command import Fetch
from mailframe.imap.commands.fetch import ITEMS
from mailframe.imap.fetch_response import (
    CHUNK,
    FetchResponse,
    Output,
    flag_update,
    internaldate_item,
    write,
)
from mailframe.imap.framing import Frame
from mailframe.imap.grammar import parse_command
from mailframe.imap.serialize import untagged


@pytest.mark.parametrize(
    ("args", "wire"),
    [
        ((3, b"(\\Seen)"), b"* 3 FETCH (FLAGS (\\Seen))\r\n"),
        ((3, b"(\\Seen)", 7), b"* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n"),
        ((3, b"()", 7, 12), b"* 3 FETCH (UID 7 MODSEQ (12) FLAGS ())\r\n"),
        ((3, None, 7, 12), b"* 3 FETCH (UID 7 MODSEQ (12))\r\n"),  # STORE .SILENT under CONDSTORE
        ((3, None, None, 12), b"* 3 FETCH (MODSEQ (12))\r\n"),
    ],
)
def test_flag_update_forms(args: tuple[object, ...], wire: bytes) -> None:
    assert untagged(flag_update(*args)) == wire  # type: ignore[arg-type]


def test_internaldate_is_rfc3501_date_time() -> None:
    when = datetime(2024, 3, 5, 1, 2, 3, tzinfo=UTC)
    assert internaldate_item(when) == b'INTERNALDATE "05-Mar-2024 01:02:03 +0000"'


class _IO:
    """A transport that keeps what it is given (the real protocol is
    exercised by the FETCH tests over sockets and transcripts)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def drain(self) -> None:
        return None


def test_response_with_streamed_literal() -> None:
    body = bytes(range(256)) * 1200  # NUL included, several chunks

    async def read(start: int, end: int) -> bytes:
        return body[start:end]

    out = FetchResponse(9)
    out.add(b"UID 4")
    out.add_stream(b"BODY[]", read, 0, len(body))
    pieces = out.finish()
    with pytest.raises(TypeError):
        out.to_bytes()  # a streamed literal goes through write()
    plain = FetchResponse(1)
    plain.add(b"UID 2")
    assert plain.to_bytes() == b"* 1 FETCH (UID 2)\r\n"
    io = _IO()
    asyncio.run(write(io, pieces))
    assert b"".join(io.writes) == (
        b"* 9 FETCH (UID 4 BODY[] {%d}\r\n" % len(body) + body.replace(b"\x00", b"\x80") + b")\r\n"
    )
    assert max(map(len, io.writes)) <= CHUNK


def test_output_gathers_small_responses() -> None:
    io = _IO()

    async def run() -> None:
        out = Output(io)
        for seq in range(1, 2001):
            r = FetchResponse(seq)
            r.add(b"UID %d" % seq)
            await out.send(r.finish())
        await out.flush()

    asyncio.run(run())
    assert b"".join(io.writes) == b"".join(b"* %d FETCH (UID %d)\r\n" % (s, s) for s in range(1, 2001))
    assert len(io.writes) < 2000 // 10  # blocks, not one write per response


def test_every_item_the_grammar_produces_has_an_encoder() -> None:
    command = (
        b"a FETCH 1 (ENVELOPE BODY FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[] UID MODSEQ RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE "
        b"BODY.PEEK[1.MIME] BINARY.PEEK[1] BINARY.SIZE[1] SAVEDATE)"
    )
    cmd = parse_command(Frame((command,)))
    assert isinstance(cmd, Fetch)
    names = {a.name for a in cmd.items}
    assert names <= set(ITEMS)
    assert {"ENVELOPE", "BODY", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY[]", "BINARY[]"} <= names
