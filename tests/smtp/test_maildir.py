"""SMTP, LMTP and ``mailframe deliver`` into the Maildir store: once the
250 (or exit status 0) is seen, a fresh store opened on the same directory
reads the message back byte-exact — the reply came after the copy was
durable."""

from __future__ import annotations

import smtplib
import subprocess
import sys

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.smtp import Delivery, lmtp_factory, smtp_factory
from mailframe.store.maildir import from_url
from tests.smtp._support import Users, in_thread, listen, read_mailbox

BODY = b"From: m@example.net\r\nSubject: maildir\r\n\r\nline\r\n.\r\nlast\r\n"


class MaildirDeliveryTests(unittest.TestCase):
    def setUp(self) -> None:
        self.url = "maildir:" + self.mktemp() + "/%u"
        self.store = from_url(self.url)
        self.addCleanup(self.store.close)
        delivery = Delivery(self.store, Users("alice", "bob"))
        self.smtp, self.smtp_port = listen(smtp_factory(delivery, ["example.org"]))
        self.lmtp, self.lmtp_port = listen(lmtp_factory(delivery, ["example.org"]))
        self.addCleanup(self.smtp.stopListening)
        self.addCleanup(self.lmtp.stopListening)

    async def reopened(self, user: str) -> list[bytes]:
        fresh = from_url(self.url)
        try:
            return await read_mailbox(fresh, user)
        finally:
            await fresh.close()

    async def _smtp_lmtp(self) -> None:
        def run() -> None:
            with smtplib.SMTP("127.0.0.1", self.smtp_port) as s:
                s.sendmail("m@example.net", ["alice@example.org", "bob@example.org"], BODY)
            with smtplib.LMTP("127.0.0.1", self.lmtp_port) as s:
                s.sendmail("m@example.net", ["alice@example.org"], BODY)

        await in_thread(run)
        alice = await self.reopened("alice")
        [bob] = await self.reopened("bob")
        self.assertEqual(len(alice), 2)
        for msg in alice + [bob]:
            self.assertTrue(msg.startswith(b"Return-Path: <m@example.net>\r\nReceived: from "))
            self.assertTrue(msg.endswith(BODY))
        self.assertIn(b" with ESMTP id ", alice[0])
        self.assertIn(b" with LMTP id ", alice[1])

    def test_smtp_and_lmtp_into_maildir(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._smtp_lmtp())

    async def _mda(self) -> None:
        def run() -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                [sys.executable, "-m", "mailframe.smtp.deliver_tool", "--store", self.url,
                 "-a", "bob@example.org", "-f", "m@example.net"],
                input=BODY.replace(b"\r\n", b"\n"),
                capture_output=True,
                timeout=60,
            )  # fmt: skip

        done = await in_thread(run)
        self.assertEqual(done.returncode, 0, done.stderr)
        [msg] = await self.reopened("bob")
        self.assertEqual(msg, b"Return-Path: <m@example.net>\r\n" + BODY)

    def test_deliver_tool_into_maildir(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._mda())
