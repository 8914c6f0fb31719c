"""STARTTLS (RFC 3207): the session restarts under TLS, and commands
pipelined in plaintext after STARTTLS are discarded (§4.2, §6)."""

from __future__ import annotations

import smtplib
import ssl as stdlib_ssl

from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.smtp import Delivery, smtp_factory
from mailframe.store.memory import MemoryStore
from tests.smtp._support import RawClient, Users, in_thread, listen, read_mailbox

_OPTIONS = None


def tls_options() -> ssl.CertificateOptions:
    global _OPTIONS
    if _OPTIONS is None:
        key = ssl.KeyPair.generate(size=2048)
        _OPTIONS = key.selfSignedCert(1, commonName="mx.example.org").options()
    return _OPTIONS


def _client_context() -> stdlib_ssl.SSLContext:
    ctx = stdlib_ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = stdlib_ssl.CERT_NONE
    return ctx


class StartTLSTests(unittest.TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        factory = smtp_factory(
            Delivery(self.store, Users("alice")), ["example.org"], tls=tls_options(), hostname="mx"
        )
        self.port, self.portno = listen(factory)
        self.addCleanup(self.port.stopListening)

    async def _smtplib(self) -> None:
        def run() -> tuple:
            with smtplib.SMTP("127.0.0.1", self.portno, timeout=10) as s:
                s.ehlo("c")
                before = "starttls" in s.esmtp_features
                s.starttls(context=_client_context())
                s.ehlo("c")
                after = "starttls" in s.esmtp_features
                s.sendmail("b@example.net", ["alice@example.org"], b"Subject: tls\r\n\r\nx\r\n")
                return before, after

        self.assertEqual(await in_thread(run), (True, False))
        [msg] = await read_mailbox(self.store, "alice")
        self.assertIn(b" with ESMTPS id ", msg)

    def test_starttls_then_deliver(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._smtplib())

    async def _injection(self) -> None:
        def run() -> list[bytes]:
            c = RawClient(self.portno)
            try:
                c.reply()
                c.command(b"EHLO c")
                c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.net>\r\n")
                out = [c.reply()[0]]
                c.sock = _client_context().wrap_socket(c.sock)
                c.buf = b""
                out.append(c.command(b"RCPT TO:<alice@example.org>")[0])  # no MAIL in effect
                out.append(c.command(b"EHLO c")[0])
                return out
            finally:
                c.close()

        out = await in_thread(run)
        self.assertEqual(out[0], b"220 2.0.0 Begin TLS negotiation now")
        self.assertTrue(out[1].startswith(b"503 5.5.1 "), out)
        self.assertTrue(out[2].startswith(b"250-mx Hello"), out)

    def test_plaintext_pipelined_after_starttls_is_dropped(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._injection())
