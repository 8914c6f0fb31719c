"""LMTP (RFC 2033) over real sockets: LHLO, one reply per recipient."""

from __future__ import annotations

import smtplib

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.smtp import Delivery, DeliveryHook, DeliveryRefused, DeliveryRequest, lmtp_factory
from mailframe.store.memory import MemoryStore
from tests.smtp._support import RawClient, Users, in_thread, listen, read_mailbox

BODY = b"From: x@example.net\r\nSubject: lmtp\r\n\r\nbody\r\n"


class DisabledBox(DeliveryHook):
    """Refuses every copy for one user after DATA (a quota/filter stand-in)."""

    def __init__(self, user: str) -> None:
        self.user = user

    def before_delivery(self, request: DeliveryRequest) -> DeliveryRequest:
        if request.username == self.user:
            raise DeliveryRefused(550, "5.2.1", "Mailbox disabled")
        return request


class LMTPTests(unittest.TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.delivery = Delivery(self.store, Users("alice", "bob", "dave"), [DisabledBox("dave")])
        factory = lmtp_factory(
            self.delivery, ["example.org"], max_size=10_000, hostname="lmtp.test"
        )
        self.port, self.portno = listen(factory)
        self.addCleanup(self.port.stopListening)

    def session(self, rcpts: list[bytes], body: bytes = BODY) -> Deferred[list[list[bytes]]]:
        """LHLO, MAIL, RCPT..., DATA; every reply (first lines)."""

        def run() -> list:
            c = RawClient(self.portno)
            try:
                out = [c.reply()]
                out.append(c.command(b"HELO x"))
                out.append(c.command(b"LHLO client.test"))
                out.append(c.command(b"MAIL FROM:<x@example.net>"))
                for r in rcpts:
                    out.append(c.command(b"RCPT TO:<" + r + b">"))
                accepted = sum(1 for r in out[4:] if r[0].startswith(b"250"))
                out.append(c.command(b"DATA"))
                c.send(body + b".\r\n")
                out.extend(c.reply() for _ in range(accepted))
                out.append(c.command(b"QUIT"))
                return out
            finally:
                c.close()

        return in_thread(run)

    async def _unknown_at_rcpt(self) -> None:
        r = await self.session([b"alice@example.org", b"nobody@example.org"])
        self.assertTrue(r[0][0].startswith(b"220 lmtp.test LMTP"))
        self.assertEqual(r[1][0][:9], b"500 5.5.1")  # HELO refused (§4.1)
        self.assertEqual(r[2][0], b"250-lmtp.test Hello 127.0.0.1, nice to meet you")
        self.assertIn(b"250-PIPELINING", r[2])
        self.assertIn(b"ENHANCEDSTATUSCODES", b"".join(r[2]))
        firsts = [x[0][:9] for x in r[3:]]
        self.assertEqual(
            firsts,
            [b"250 2.1.0", b"250 2.1.5", b"550 5.1.1", b"354 Conti", b"250 2.0.0", b"221 2.0.0"],
        )
        [stored] = await read_mailbox(self.store, "alice")
        self.assertTrue(stored.endswith(BODY))
        self.assertIn(b" with LMTP id ", stored)
        self.assertIn(b"\tfor <alice@example.org>; ", stored)

    def test_unknown_recipient_refused_at_rcpt(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._unknown_at_rcpt())

    async def _one_per_recipient(self) -> None:
        r = await self.session([b"alice@example.org", b"dave@example.org", b"bob+x@example.org"])
        after = [x[0] for x in r[-4:-1]]
        self.assertEqual(len(after), 3)
        self.assertTrue(after[0].startswith(b"250 2.0.0 <alice@example.org> Ok: stored as UID 1"))
        self.assertEqual(after[1], b"550 5.2.1 <dave@example.org> Mailbox disabled")
        self.assertTrue(after[2].startswith(b"250 2.0.0 <bob+x@example.org> Ok: stored as UID 1"))
        self.assertEqual(len(await read_mailbox(self.store, "alice")), 1)
        self.assertEqual(len(await read_mailbox(self.store, "bob")), 1)
        self.assertEqual(await read_mailbox(self.store, "dave"), [])

    def test_one_reply_per_recipient_after_data(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._one_per_recipient())

    async def _too_big(self) -> None:
        big = b"Subject: big\r\n\r\n" + (b"z" * 900 + b"\r\n") * 20
        r = await self.session([b"alice@example.org", b"bob@example.org"], big)
        self.assertEqual([x[0][:9] for x in r[-3:-1]], [b"552 5.3.4", b"552 5.3.4"])
        self.assertEqual(await read_mailbox(self.store, "alice"), [])

    def test_oversized_gets_one_reply_per_recipient(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._too_big())

    async def _smtplib_lmtp(self) -> None:
        def run() -> dict:
            with smtplib.LMTP("127.0.0.1", self.portno) as s:
                return s.sendmail("x@example.net", ["alice@example.org"], BODY)

        self.assertEqual(await in_thread(run), {})
        self.assertEqual(len(await read_mailbox(self.store, "alice")), 1)

    def test_python_lmtp_client(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._smtplib_lmtp())


class LMTPUnixSocketTests(unittest.TestCase):
    """LMTP is usually served on a UNIX socket behind Postfix."""

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.store = MemoryStore()
        factory = lmtp_factory(
            Delivery(self.store, Users("alice")), ["example.org"], hostname="lmtp.test"
        )
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="mf-lmtp-")  # short: sun_path is ~108 bytes
        self.addCleanup(shutil.rmtree, tmp, True)
        self.path = tmp + "/lmtp"
        self.port = reactor.listenUNIX(self.path, factory)
        self.addCleanup(self.port.stopListening)

    async def _unix(self) -> None:
        def run() -> dict:
            with smtplib.LMTP(self.path) as s:
                return s.sendmail("x@example.net", ["alice@example.org"], BODY)

        self.assertEqual(await in_thread(run), {})
        [stored] = await read_mailbox(self.store, "alice")
        self.assertTrue(stored.endswith(BODY))
        self.assertIn(b" with LMTP id ", stored)

    def test_delivery_over_unix_socket(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._unix())
