"""SMTP over real sockets: smtplib (in a thread) → mailframe → MemoryStore."""

from __future__ import annotations

import re
import smtplib

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.smtp import Delivery, smtp_factory
from mailframe.store.memory import MemoryStore
from tests.smtp._support import RawClient, Users, in_thread, listen, read_mailbox

MESSAGE = (
    b"From: Bob <bob@example.net>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
    b"\r\n"
    b"Hello.\r\n"
    b".leading dot survives\r\n"
    b"8-bit: \xc3\xa9\r\n"
    b"\r\n"
    b"..\r\n"
)


class SMTPTests(unittest.TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.delivery = Delivery(
            self.store, Users("alice", "bob", "carol"), aliases={"PostMaster": "carol"}
        )
        factory = smtp_factory(
            self.delivery, ["example.org"], max_size=20_000, hostname="mx.example.org"
        )
        self.port, self.portno = listen(factory)
        self.addCleanup(self.port.stopListening)

    def sendmail(self, sender: str, rcpts: list[str], msg: bytes) -> Deferred[dict]:
        def run() -> dict:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=10) as s:
                return s.sendmail(sender, rcpts, msg)

        return in_thread(run)

    async def _stored_byte_exact(self) -> None:
        refused = await self.sendmail("bob@example.net", ["alice@example.org"], MESSAGE)
        self.assertEqual(refused, {})
        [stored] = await read_mailbox(self.store, "alice")
        self.assertTrue(stored.endswith(MESSAGE), stored)
        trace = stored[: -len(MESSAGE)]
        self.assertRegex(
            trace,
            rb"\AReturn-Path: <bob@example.net>\r\n"
            rb"Received: from [^\r\n]+ \(\[127\.0\.0\.1\]\)\r\n"
            rb"\tby mx\.example\.org \(mailframe\) with ESMTP id [0-9A-F]{12}\r\n"
            rb"\tfor <alice@example\.org>; [A-Z][a-z]{2}, \d\d? [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n\Z",
        )

    def test_stored_byte_exact_with_trace_headers(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stored_byte_exact())

    async def _two_recipients_and_detail(self) -> None:
        account = await self.store.account("carol")
        await account.create_mailbox("lists")
        await self.sendmail(
            "<>",
            ["Alice@EXAMPLE.org", "carol+lists@example.org", "bob+nosuch@example.org"],
            MESSAGE,
        )
        [a] = await read_mailbox(self.store, "alice")
        [c] = await read_mailbox(self.store, "carol", "lists")
        [b] = await read_mailbox(self.store, "bob")  # no such folder: INBOX
        for stored, rcpt in (
            (a, b"Alice@EXAMPLE.org"),
            (c, b"carol+lists@example.org"),
            (b, b"bob+nosuch@example.org"),
        ):
            self.assertTrue(stored.startswith(b"Return-Path: <>\r\n"))
            self.assertIn(b"\tfor <" + rcpt + b">; ", stored)
            self.assertTrue(stored.endswith(MESSAGE))
        self.assertEqual(await read_mailbox(self.store, "carol"), [])

    async def _postmaster(self) -> None:
        await self.sendmail("<>", ["postmaster@example.org"], MESSAGE)
        [c] = await read_mailbox(self.store, "carol")
        self.assertIn(b"\tfor <postmaster@example.org>; ", c)

    def test_alias_postmaster(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._postmaster())

    def test_each_recipient_own_copy_and_detail_folder(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._two_recipients_and_detail())

    async def _unknown_refused(self) -> None:
        def run() -> tuple:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=10) as s:
                s.ehlo("client.test")
                s.mail("bob@example.net")
                unknown = s.rcpt("mallory@example.org")
                foreign = s.rcpt("alice@elsewhere.example")
                return unknown, foreign

        unknown, foreign = await in_thread(run)
        self.assertEqual(unknown[0], 550)
        self.assertTrue(unknown[1].startswith(b"5.1.1 <mallory@example.org>"), unknown)
        self.assertEqual(foreign[0], 550)
        self.assertTrue(foreign[1].startswith(b"5.7.1 "), foreign)

    def test_unknown_and_foreign_recipients_refused_at_rcpt(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._unknown_refused())

    async def _oversized(self) -> None:
        big = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n"
        big = big * 25  # > 20 000 bytes

        def declared() -> tuple:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=10) as s:
                try:
                    s.sendmail("bob@example.net", ["alice@example.org"], big)
                except smtplib.SMTPSenderRefused as e:
                    return e.smtp_code, e.smtp_error
                return None

        def undeclared() -> tuple:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=10) as s:
                s.ehlo("client.test")
                s.mail("bob@example.net")
                s.rcpt("alice@example.org")
                return s.data(big)

        self.assertEqual(
            await in_thread(declared),
            (552, b"5.3.4 Message size exceeds fixed maximum message size"),
        )
        code, text = await in_thread(undeclared)
        self.assertEqual((code, text[:5]), (552, b"5.3.4"))
        self.assertEqual(await read_mailbox(self.store, "alice"), [])

    def test_oversized_refused(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._oversized())

    async def _ehlo(self) -> None:
        def run() -> tuple:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=10) as s:
                code, _ = s.ehlo("client.test")
                return code, s.esmtp_features

        code, features = await in_thread(run)
        self.assertEqual(code, 250)
        self.assertEqual(features["size"], "20000")
        for word in ("pipelining", "8bitmime", "enhancedstatuscodes"):
            self.assertIn(word, features)
        self.assertNotIn("starttls", features)  # no certificates given
        self.assertNotIn("auth", features)

    def test_ehlo_advertises_extensions(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._ehlo())

    async def _pipelining(self) -> None:
        def run() -> list:
            c = RawClient(self.portno)
            try:
                c.reply()
                c.command(b"EHLO client.test")
                c.send(
                    b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<nobody@example.org>\r\n"
                    b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
                )
                replies = [c.reply() for _ in range(4)]
                c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRSET\r\nQUIT\r\n")
                replies += [c.reply() for _ in range(4)]
                return [r[0][:9] for r in replies]
            finally:
                c.close()

        codes = await in_thread(run)
        self.assertEqual(
            codes,
            [
                b"250 2.1.0",
                b"550 5.1.1",
                b"250 2.1.5",
                b"354 Conti",
                b"250 2.0.0",
                b"250 2.1.0",
                b"250 2.0.0",
                b"221 2.0.0",
            ],
        )
        [stored] = await read_mailbox(self.store, "alice")
        self.assertTrue(stored.endswith(b"Subject: p\r\n\r\nbody\r\n"))

    def test_pipelined_commands_answered_in_order(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._pipelining())

    async def _long_line(self) -> None:
        def run() -> list:
            c = RawClient(self.portno)
            try:
                c.reply()
                out = [c.command(b"HELO client.test")[0][:3]]
                out.append(c.command(b"NOOP " + b"x" * 300_000)[0][:9])
                out.append(c.command(b"MAIL FROM:<bob@example.net>")[0][:9])
                out.append(c.command(b"RCPT TO:<alice@example.org>")[0][:9])
                out.append(c.command(b"DATA")[0][:3])
                c.send(b"Subject: l\r\n\r\n" + b"y" * 300_000 + b"\r\nok\r\n.\r\n")
                out.append(c.reply()[0][:9])
                out.append(c.command(b"NOOP")[0][:9])
                return out
            finally:
                c.close()

        self.assertEqual(
            await in_thread(run),
            [b"250", b"500 5.5.2", b"250 2.1.0", b"250 2.1.5", b"354", b"500 5.5.2", b"250 2.0.0"],
        )
        self.assertEqual(await read_mailbox(self.store, "alice"), [])

    def test_overlong_lines_answered_session_lives_on(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._long_line())


def test_received_header_shape() -> None:
    from datetime import UTC, datetime

    from mailframe.smtp.trace import received_header, return_path_header

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    h = received_header(
        helo=b"c\r\nX: evil",
        peer="10.0.0.1",
        by="mx",
        protocol="LMTP",
        recipient="a@b",
        queue_id="Q1",
        when=when,
    )
    assert h == (
        b"Received: from c??X: evil ([10.0.0.1])\r\n\tby mx (mailframe) with LMTP id Q1\r\n"
        b"\tfor <a@b>; Fri, 02 Jan 2026 03:04:05 +0000\r\n"
    )
    assert return_path_header("") == b"Return-Path: <>\r\n"
    assert re.match(rb"Return-Path: <a@b>\r\n\Z", return_path_header(b"<a@b>"))
