"""FETCH body sections on the wire (issue 11 defect 1): every BODY[...],
BINARY[...], RFC822, RFC822.HEADER and RFC822.TEXT answer is a literal, as
Dovecot 2.3.19 sends it -- partials and empty or missing parts included;
BINARY uses ``literal8`` exactly where Dovecot does (a transfer encoding
was undone, or the data holds NUL)."""

from __future__ import annotations

import base64
import re

from twisted.trial.unittest import TestCase

from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.wait import until_written

SIMPLE = b"From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\nHello \"world\"\r\n"
MULTI = (
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"a\x00b") + b"\r\n"
    b"--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\n\r\n"
    b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"abc") + b"\r\n"
    b"--b\r\nContent-Transfer-Encoding: binary\r\n\r\nx\x00y\r\n"
    b"--b--\r\n"
)


async def session(*commands: bytes, messages: tuple[bytes, ...] = (SIMPLE, MULTI)) -> bytes:
    store = MemoryStore()
    inbox = await (await store.account("alice")).mailbox("INBOX")
    for raw in messages:
        await inbox.append(raw, frozenset(), None)
    conn = connect(context_for(store))
    lines = b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n"
    for i, c in enumerate(commands):
        lines += b"t%d %s\r\n" % (i, c)
    conn.protocol.dataReceived(lines)
    out = await until_written(conn.transport, b"t%d OK" % (len(commands) - 1))
    conn.protocol.connectionLost(None)
    return out[out.index(b"a2 OK") :]


class BodySectionLiteralTests(TestCase):
    async def test_sections_are_literals(self) -> None:
        out = await session(
            b"FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[1] BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
            b"FETCH 1 (RFC822.HEADER)",
            b"FETCH 1 (RFC822.TEXT)",
            b"FETCH 1 (RFC822)",
        )
        self.assertIn(
            b"* 1 FETCH (BODY[]<0> {10}\r\nFrom: Alic BODY[1] {15}\r\nHello \"world\"\r\n"
            b" BODY[TEXT] {15}\r\nHello \"world\"\r\n"
            b" BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: hi\r\n\r\n)\r\n",
            out,
        )
        self.assertIn(b"* 1 FETCH (RFC822.HEADER {48}\r\n" + SIMPLE[:48] + b")\r\n", out)
        # the FLAGS the fetch set go before the section, as Dovecot puts them
        self.assertIn(b"* 1 FETCH (FLAGS (\\Seen \\Recent) RFC822.TEXT {15}\r\nHello \"world\"\r\n)", out)
        self.assertIn(b"* 1 FETCH (RFC822 {%d}\r\n%s)\r\n" % (len(SIMPLE), SIMPLE), out)

    async def test_empty_and_missing_parts_are_empty_literals(self) -> None:
        """imaptest append-binary: ``BODY[1] {0}`` for an empty part; a part
        that does not exist is an empty literal too (Dovecot), not NIL."""
        out = await session(b"FETCH 2 (BODY.PEEK[3] BODY.PEEK[9] BODY.PEEK[9]<2.3> BINARY.PEEK[9] BODY.PEEK[1.HEADER])")
        self.assertIn(
            b"* 2 FETCH (BODY[3] {0}\r\n BODY[9] {0}\r\n BODY[9]<2> {0}\r\n BINARY[9] {0}\r\n"
            b" BODY[1.HEADER] {0}\r\n)\r\n",
            out,
        )

    async def test_binary_literal8_where_dovecot_uses_it(self) -> None:
        out = await session(
            b"FETCH 2 (BINARY.PEEK[1] BINARY.PEEK[2] BINARY.PEEK[3] BINARY.PEEK[4] BINARY.PEEK[5] BINARY.PEEK[4]<1.1>)"
        )
        self.assertIn(
            b"* 2 FETCH (BINARY[1] ~{3}\r\na\x00b BINARY[2] {5}\r\ncaf\xc3\xa9 BINARY[3] {0}\r\n"
            b" BINARY[4] ~{3}\r\nabc BINARY[5] ~{3}\r\nx\x00y BINARY[4]<1> ~{1}\r\nb)\r\n",
            out,
        )

    async def test_binary_of_unencoded_message_is_a_plain_literal(self) -> None:
        out = await session(b"FETCH 1 (BINARY.PEEK[] BINARY.PEEK[1])")
        self.assertIn(
            b"* 1 FETCH (BINARY[] {%d}\r\n%s BINARY[1] {15}\r\nHello \"world\"\r\n)" % (len(SIMPLE), SIMPLE),
            out,
        )

    async def test_nul_in_a_body_literal_goes_as_0x80(self) -> None:
        """RFC 3501 §9: a literal carries CHAR8 (no NUL); Dovecot sends
        0x80 in its place, keeping the size."""
        out = await session(b"FETCH 2 (BODY.PEEK[5])", b"FETCH 2 (BODY.PEEK[])")
        self.assertIn(b"* 2 FETCH (BODY[5] {3}\r\nx\x80y)\r\n", out)
        whole = MULTI.replace(b"\x00", b"\x80")
        self.assertIn(b"* 2 FETCH (BODY[] {%d}\r\n%s)\r\n" % (len(MULTI), whole), out)


class BinaryAppendTests(TestCase):
    async def test_literal8_append_keeps_binary_octets_as_base64(self) -> None:
        """imaptest append-binary: a binary part APPENDed as literal8 is
        saved base64-encoded (as Dovecot does), so BODY[1] is 7-bit text
        and BINARY[1] gives back the exact octets sent."""
        raw = (
            b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            b"\x00-\xe4\n\r\n\n"
        )
        out = await session(
            b"APPEND INBOX ~{%d+}\r\n%s" % (len(raw), raw),
            b"FETCH 3 (BODY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1])",
        )
        self.assertIn(
            b"* 3 FETCH (BODY[1] {12}\r\nAC3kCg0KCg== BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\x00-\xe4\n\r\n\n)",
            out,
        )


class ImplicitSeenTests(TestCase):
    """A FETCH that sets ``\\Seen`` (RFC 3501 §6.4.5) reports the new
    flags, and under CONDSTORE the new modseq (RFC 7162 §3.1), placed as
    Dovecot places them: after UID, FLAGS, INTERNALDATE, RFC822.SIZE,
    MODSEQ ... and before the envelope, structures and sections."""

    async def test_flags_and_new_modseq_before_the_sections(self) -> None:
        out = await session(b"FETCH 1 (MODSEQ)", b"FETCH 1 (BODY[TEXT] RFC822.SIZE)")
        before = re.search(rb"\* 1 FETCH \(MODSEQ \((\d+)\)\)", out)
        after = re.search(
            rb"\* 1 FETCH \(RFC822.SIZE 63 FLAGS \(\\Seen \\Recent\) MODSEQ \((\d+)\) BODY\[TEXT\] \{15\}\r\n", out
        )
        assert before and after, out
        assert int(after.group(1)) > int(before.group(1))

    async def test_asked_modseq_is_the_new_one(self) -> None:
        out = await session(b"FETCH 1 (MODSEQ)", b"FETCH 1 (BODY[TEXT] MODSEQ)", b"FETCH 1 (MODSEQ)")
        seqs = [int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", out)]
        assert len(seqs) == 3, out
        assert seqs[1] == seqs[2] > seqs[0]  # the FETCH's answer is the state it left
        assert b"* 1 FETCH (MODSEQ (%d) FLAGS (\\Seen \\Recent) BODY[TEXT]" % seqs[1] in out

    async def test_without_condstore_only_flags(self) -> None:
        out = await session(b"FETCH 1 (BODY[TEXT] UID)")
        assert b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) BODY[TEXT] {15}\r\n" in out
        assert b"MODSEQ" not in out
