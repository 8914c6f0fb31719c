"""Interop with a real MTA client from Debian: swaks, by SMTP (plain,
pipelined, STARTTLS) and by LMTP.  Skipped only when swaks is missing."""

from __future__ import annotations

import shutil
from typing import Any

from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from mailframe.smtp import Delivery, lmtp_factory, smtp_factory
from mailframe.store.memory import MemoryStore
from tests.smtp._support import Users, listen, read_mailbox

SWAKS = shutil.which("swaks")
BODY = "Subject: from swaks\nX-Test: interop\n\nline one\n.dot line\nlast\n"


def _tls_options() -> Any:
    key = ssl.KeyPair.generate(size=2048)
    cert = key.selfSignedCert(1, commonName="mx.example.org")
    return cert.options()


class SwaksTests(unittest.TestCase):
    if SWAKS is None:
        skip = "swaks is not installed (apt-get install -y swaks)"

    def setUp(self) -> None:
        self.store = MemoryStore()
        self.delivery = Delivery(self.store, Users("alice", "bob"))

    def serve(self, factory: Any) -> int:
        port, n = listen(factory)
        self.addCleanup(port.stopListening)
        return n

    async def swaks(self, port: int, *args: str, status: int = 0) -> str:
        out, err, code = await getProcessOutputAndValue(
            SWAKS,  # type: ignore[arg-type]
            ["--server", "127.0.0.1", "--port", str(port), "--from", "carol@example.net",
             "--helo", "client.test", "--data", BODY, "--timeout", "10", *args],
        )  # fmt: skip
        transcript = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
        self.assertEqual(code, status, transcript)
        return transcript

    def check(self, stored: bytes, protocol: bytes) -> None:
        self.assertTrue(stored.startswith(b"Return-Path: <carol@example.net>\r\nReceived: "))
        self.assertIn(b" with " + protocol + b" id ", stored)
        # swaks sends its data with LF → CRLF and one more CRLF before "."
        self.assertTrue(stored.endswith(b"\r\n\r\nline one\r\n.dot line\r\nlast\r\n\r\n"), stored)
        self.assertIn(b"Subject: from swaks\r\nX-Test: interop\r\n", stored)

    async def _smtp(self) -> None:
        port = self.serve(smtp_factory(self.delivery, ["example.org"], hostname="mx.example.org"))
        await self.swaks(port, "--to", "alice@example.org")
        await self.swaks(port, "--to", "alice@example.org,bob@example.org", "--pipeline")
        out = await self.swaks(
            port, "--to", "nobody@example.org", "--quit-after", "RCPT", status=24
        )
        self.assertIn("550 5.1.1 <nobody@example.org>", out)
        a = await read_mailbox(self.store, "alice")
        [b] = await read_mailbox(self.store, "bob")
        self.assertEqual(len(a), 2)
        for stored in a + [b]:
            self.check(stored, b"ESMTP")

    def test_swaks_smtp(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._smtp())

    async def _starttls(self) -> None:
        factory = smtp_factory(
            self.delivery, ["example.org"], tls=_tls_options(), hostname="mx.example.org"
        )
        port = self.serve(factory)
        out = await self.swaks(port, "--to", "alice@example.org", "--tls")
        self.assertIn("220 2.0.0 Begin TLS negotiation now", out)
        [stored] = await read_mailbox(self.store, "alice")
        self.check(stored, b"ESMTPS")

    def test_swaks_starttls(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._starttls())

    async def _lmtp(self) -> None:
        port = self.serve(lmtp_factory(self.delivery, ["example.org"], hostname="lmtp.example.org"))
        out = await self.swaks(
            port, "--protocol", "LMTP", "--to", "alice@example.org,bob+box@example.org"
        )
        self.assertIn("LHLO client.test", out)
        self.assertEqual(out.count("250 2.0.0 <"), 2, out)
        [a] = await read_mailbox(self.store, "alice")
        [b] = await read_mailbox(self.store, "bob")
        self.check(a, b"LMTP")
        self.check(b, b"LMTP")

    def test_swaks_lmtp(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._lmtp())
