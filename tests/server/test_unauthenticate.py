"""UNAUTHENTICATE (RFC 8437) in-process: the per-user session count is
given back, the selected mailbox released, pre-login limits apply again,
and another user can log in on the same connection."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.task import deferLater
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from mailframe.auth.throttle import ConnectionLimiter
from mailframe.server.protocol import IMAPServerProtocol, ServerContext
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import context_for


class _Client:
    def __init__(self, context: ServerContext, port: int) -> None:
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        self.proto = IMAPServerProtocol(context)
        self.proto.makeConnection(self.transport)  # type: ignore[no-untyped-call]
        self.text = b""

    async def say(self, line: bytes, tag: bytes | None = None) -> bytes:
        """Send ``line``; the output up to the tagged reply."""
        tag = tag or line.split(b" ")[0]
        start = len(self.text)
        self.proto.dataReceived(line + b"\r\n")
        for _ in range(2000):
            self.text += self.transport.value()
            self.transport.clear()
            if (b"\r\n" + tag + b" ") in b"\r\n" + self.text[start:]:
                return self.text[start:]
            await deferLater(reactor, 0.001, lambda: None)
        raise AssertionError(f"no answer to {line!r}: {self.text[start:]!r}")


class UnauthenticateTests(TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.context = context_for(self.store)
        self.limiter = ConnectionLimiter(per_ip=None, per_user=1)
        self.context.limiter = self.limiter
        self.a = _Client(self.context, 40001)
        self.b = _Client(self.context, 40002)
        for c in (self.a, self.b):
            self.addCleanup(c.proto.connectionLost, None)  # type: ignore[arg-type]

    async def test_gives_back_the_user_slot(self) -> None:
        self.assertIn(b"a1 OK", await self.a.say(b"a1 LOGIN alice secret"))
        self.assertEqual(self.limiter.sessions("alice"), 1)
        self.assertIn(b"b1 NO", await self.b.say(b"b1 LOGIN alice secret"))
        out = await self.a.say(b"a2 UNAUTHENTICATE")
        self.assertEqual(out, b"a2 OK Unauthenticate completed\r\n")
        self.assertEqual(self.limiter.sessions("alice"), 0)
        self.assertIn(b"b2 OK", await self.b.say(b"b2 LOGIN alice secret"))
        # and again: a second UNAUTHENTICATE/LOGIN cycle counts right
        self.assertIn(b"a3 OK", await self.a.say(b"a3 LOGIN bob hunter2"))
        self.assertEqual(self.limiter.sessions("bob"), 1)
        self.assertIn(b"a4 OK", await self.a.say(b"a4 UNAUTHENTICATE"))
        self.assertEqual(self.limiter.sessions("bob"), 0)
        # the address keeps one logged-in slot per connection, never two
        self.assertIn(b"a5 OK", await self.a.say(b"a5 LOGIN bob hunter2"))
        self.assertEqual(self.limiter.connections("127.0.0.1"), 2)

    async def test_releases_the_selected_mailbox(self) -> None:
        await self.a.say(b"a1 LOGIN alice secret")
        self.assertIn(b"a2 OK [READ-WRITE]", await self.a.say(b"a2 SELECT INBOX"))
        await self.a.say(b"a3 UNAUTHENTICATE")
        self.assertIsNone(self.a.proto.session.mailbox)  # type: ignore[union-attr]
        await self.b.say(b"b1 LOGIN alice secret")
        await self.b.say(b"b2 APPEND INBOX {2+}\r\nhi")
        self.assertEqual(await self.a.say(b"a4 NOOP"), b"a4 OK NOOP completed\r\n")
        self.assertIn(b"a5 BAD Not authenticated", await self.a.say(b"a5 FETCH 1 FLAGS"))
        out = await self.a.say(b"a6 LOGIN bob hunter2")
        self.assertIn(b"a6 OK", out)
        out = await self.a.say(b"a7 STATUS INBOX (MESSAGES)")
        self.assertIn(b"* STATUS INBOX (MESSAGES 0)", out)  # bob's, not alice's

    async def test_pre_login_limits_apply_again(self) -> None:
        await self.a.say(b"a1 LOGIN alice secret")
        big = 20000
        self.assertIn(b"a2 OK", await self.a.say(b"a2 APPEND INBOX {%d+}\r\n%s" % (big, b"x" * big)))
        await self.a.say(b"a3 UNAUTHENTICATE")
        out = await self.a.say(b"a4 LOGIN alice {%d}" % big)
        self.assertIn(b"a4 NO [TOOBIG]", out)
        self.assertIn(b"a5 BAD", await self.a.say(b"a5 UNAUTHENTICATE"))

    async def test_forgets_enabled_extensions(self) -> None:
        await self.a.say(b"a1 LOGIN alice secret")
        self.assertIn(b"* ENABLED CONDSTORE", await self.a.say(b"a2 ENABLE CONDSTORE"))
        await self.a.say(b"a3 UNAUTHENTICATE")
        await self.a.say(b"a4 LOGIN alice secret")
        self.assertIn(b"* ENABLED CONDSTORE", await self.a.say(b"a5 ENABLE CONDSTORE"))
