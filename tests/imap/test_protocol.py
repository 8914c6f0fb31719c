"""The Twisted adapter over a fake transport: pipelining, backpressure,
timeouts, limits, backend failures, and arbitrary input."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailframe.auth.throttle import ConnectionLimiter
from mailframe.imap.session import ServerConfig
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for


def opened(test: Any, context: Any) -> Any:
    """A connection that is closed (timers cancelled) when the test ends."""
    conn = connect(context)
    test.addCleanup(lambda: conn.protocol.lost or conn.protocol.connectionLost(None))
    return conn


def tags_in(data: bytes) -> list[str]:
    return re.findall(rb"^(\w+) (?:OK|NO|BAD)", data, re.M)  # type: ignore[return-value]


def message(n: int, size: int) -> bytes:
    head = b"Subject: message %d\r\n\r\n" % n
    line = b"x" * 76 + b"\r\n"
    return head + line * (size // len(line))


class PipelineTests(SynchronousTestCase):
    def test_pipelined_commands_are_answered_in_order(self) -> None:
        conn = opened(self, context_for(MemoryStore()))
        conn.protocol.dataReceived(
            b"a1 NOOP\r\na2 CAPABILITY\r\na3 LOGIN alice secret\r\na4 SELECT INBOX\r\n"
            b"a5 FETCH 1 FLAGS\r\na6 LOGOUT\r\n"
        )
        out = conn.transport.value()
        self.assertEqual(tags_in(out), [b"a1", b"a2", b"a3", b"a4", b"a5", b"a6"])
        self.assertIn(b"a5 BAD Invalid sequence number", out)
        self.assertTrue(conn.transport.disconnecting)

    def test_literal_split_across_packets(self) -> None:
        conn = opened(self, context_for(MemoryStore()))
        data = b"a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n"
        for i in range(len(data)):
            conn.protocol.dataReceived(data[i : i + 1])
        out = conn.transport.value()
        self.assertEqual(out.count(b"+ Ready for literal data\r\n"), 2)
        self.assertIn(b"a1 OK [CAPABILITY", out)


class BackpressureTests(TestCase):
    async def test_slow_reader_pauses_fetch_streaming(self) -> None:
        """With the transport's buffer full (pauseProducing), FETCH stops
        after one chunk instead of buffering the mailbox; resuming sends
        the rest, byte-exact."""
        store = MemoryStore()
        account = await store.account("alice")
        inbox = await account.mailbox("INBOX")
        bodies = [message(i, 512 * 1024) for i in range(8)]
        for body in bodies:
            await inbox.append(body, frozenset(), None)
        conn = opened(self, context_for(store))
        conn.protocol.dataReceived(b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n")
        await deferLater(reactor, 0.01, lambda: None)
        conn.transport.clear()
        conn.protocol.pauseProducing()
        conn.protocol.dataReceived(b"a3 FETCH 1:* BODY.PEEK[]\r\n")
        await deferLater(reactor, 0.05, lambda: None)
        buffered = len(conn.transport.value())
        self.assertLess(buffered, 200 * 1024, "the server buffered while the reader was slow")
        received = bytearray(conn.transport.value())
        conn.transport.clear()
        for _ in range(1000):
            if b"a3 OK" in received[-100:]:
                break
            conn.protocol.resumeProducing()
            conn.protocol.pauseProducing()
            await deferLater(reactor, 0, lambda: None)
            received += conn.transport.value()
            conn.transport.clear()
        else:
            self.fail("FETCH did not finish")
        for i, body in enumerate(bodies):
            self.assertIn(b"* %d FETCH (BODY[] {%d}\r\n" % (i + 1, len(body)) + body + b")\r\n", bytes(received))


class TimeoutTests(SynchronousTestCase):
    def test_autologout_before_login(self) -> None:
        clock = Clock()
        context = context_for(MemoryStore(), config=ServerConfig(timeout_preauth=60))
        context.clock = clock
        conn = opened(self, context)
        clock.advance(59)
        self.assertFalse(conn.transport.disconnecting)
        clock.advance(2)
        self.assertIn(b"* BYE Autologout", conn.transport.value())
        self.assertTrue(conn.transport.disconnecting)

    def test_activity_resets_the_timer_and_idle_gets_keepalives(self) -> None:
        clock = Clock()
        context = context_for(MemoryStore(), config=ServerConfig(timeout_auth=1800, idle_keepalive=120))
        context.clock = clock
        conn = opened(self, context)
        conn.protocol.dataReceived(b"a1 LOGIN alice secret\r\n")
        clock.advance(1700)
        conn.protocol.dataReceived(b"a2 NOOP\r\n")
        clock.advance(1700)
        self.assertFalse(conn.transport.disconnecting)
        conn.protocol.dataReceived(b"a3 IDLE\r\n")
        conn.transport.clear()
        clock.advance(121)
        self.assertEqual(conn.transport.value(), b"* OK Still here\r\n")
        clock.advance(3600)  # no autologout while idling (RFC 2177)
        self.assertFalse(conn.transport.disconnecting)
        conn.protocol.dataReceived(b"DONE\r\n")
        self.assertIn(b"a3 OK Idle completed", conn.transport.value())
        clock.advance(1801)
        self.assertTrue(conn.transport.disconnecting)


class LimitTests(SynchronousTestCase):
    def test_prelogin_connections_per_address_evict_the_oldest_idle(self) -> None:
        context = context_for(MemoryStore())
        context.limiter = ConnectionLimiter(per_ip=None, per_user=None, preauth_per_ip=2)
        first, second = opened(self, context), opened(self, context)
        third = opened(self, context)
        self.assertTrue(third.transport.value().startswith(b"* OK"))
        self.assertIn(b"* BYE Too many connections", first.transport.value())
        self.assertTrue(first.transport.disconnecting)
        self.assertFalse(second.transport.disconnecting)
        self.assertEqual(context.limiter.preauth_connections("127.0.0.1"), 2)

    def test_logged_in_connections_counted_apart(self) -> None:
        """Logging in frees the pre-login slot; the logged-in count has its
        own limit, refused at LOGIN with NO [LIMIT]."""
        context = context_for(MemoryStore())
        context.limiter = ConnectionLimiter(per_ip=1, per_user=None, preauth_per_ip=1)
        first = opened(self, context)
        first.protocol.dataReceived(b"a1 LOGIN alice secret\r\n")
        self.assertIn(b"a1 OK", first.transport.value())
        second = opened(self, context)  # the pre-login slot is free again
        self.assertTrue(second.transport.value().startswith(b"* OK"))
        self.assertFalse(first.transport.disconnecting)
        second.protocol.dataReceived(b"b1 LOGIN bob hunter2\r\n")
        self.assertIn(b"b1 NO [LIMIT] Too many logged-in connections from your address",
                      second.transport.value())
        first.protocol.connectionLost(None)  # type: ignore[arg-type]
        second.protocol.dataReceived(b"b2 LOGIN bob hunter2\r\n")
        self.assertIn(b"b2 OK", second.transport.value())

    def test_line_too_long_is_refused_and_connection_lives(self) -> None:
        conn = opened(self, context_for(MemoryStore()))
        conn.protocol.dataReceived(b"a1 NOOP " + b"x" * 70000 + b"\r\na2 NOOP\r\n")
        out = conn.transport.value()
        self.assertRegex(out, rb"a1 BAD [^\r]*(long|Line)")
        self.assertIn(b"a2 OK NOOP completed", out)


class UserLimitTests(TestCase):
    async def test_sessions_per_user(self) -> None:
        context = context_for(MemoryStore())
        context.limiter = ConnectionLimiter(per_ip=None, per_user=1)
        first, second = opened(self, context), opened(self, context)
        first.protocol.dataReceived(b"a1 LOGIN alice secret\r\n")
        second.protocol.dataReceived(b"b1 LOGIN alice secret\r\nb2 LOGIN bob hunter2\r\n")
        await deferLater(reactor, 0.02, lambda: None)
        self.assertIn(b"a1 OK", first.transport.value())
        self.assertIn(b"b1 NO [LIMIT] Too many connections for this user", second.transport.value())
        self.assertIn(b"b2 OK", second.transport.value())  # still usable, for someone else
        first.protocol.connectionLost(None)  # type: ignore[arg-type]
        third = opened(self, context)
        third.protocol.dataReceived(b"c1 LOGIN alice secret\r\n")
        await deferLater(reactor, 0.02, lambda: None)
        self.assertIn(b"c1 OK", third.transport.value())


class FailedLoginTests(TestCase):
    async def test_too_many_failed_logins_end_the_connection(self) -> None:
        conn = opened(self, context_for(MemoryStore()))
        conn.protocol.dataReceived(b"a1 LOGIN alice x\r\na2 LOGIN alice y\r\na3 LOGIN alice z\r\na4 NOOP\r\n")
        for _ in range(100):
            await deferLater(reactor, 0.01, lambda: None)
            if conn.transport.disconnecting:
                break
        out = conn.transport.value()
        self.assertEqual(out.count(b"NO [AUTHENTICATIONFAILED]"), 3)
        self.assertIn(b"* BYE Too many invalid authentication attempts\r\n", out)
        self.assertNotIn(b"a4 OK", out)
        self.assertTrue(conn.transport.disconnecting)


class _BrokenMailbox:
    """A mailbox whose records() fails like a buggy backend."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def records(self, uids: Any) -> Any:
        raise RuntimeError("disk on fire")


class BackendFailureTests(TestCase):
    async def test_backend_exception_is_serverbug_and_connection_lives(self) -> None:
        store = MemoryStore()
        account = await store.account("alice")
        inbox = await account.mailbox("INBOX")
        await inbox.append(message(1, 100), frozenset(), None)
        real_mailbox = account.mailbox
        account.mailbox = lambda name: real_mailbox(name).addCallback(_BrokenMailbox)  # type: ignore[method-assign]
        conn = opened(self, context_for(store))
        conn.protocol.dataReceived(b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\na3 FETCH 1 ENVELOPE\r\na4 NOOP\r\n")
        await deferLater(reactor, 0.01, lambda: None)
        out = conn.transport.value()
        self.assertIn(b"a3 NO [SERVERBUG]", out)
        self.assertIn(b"a4 OK NOOP completed", out)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class ArbitraryInputTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300).filter(lambda b: b"{" not in b))
    def test_any_bytes_get_answers_and_the_session_survives(self, junk: bytes) -> None:
        """Whatever arrives, the server answers and a following command
        still works (literals excluded: they legitimately swallow bytes)."""
        conn = opened(self, context_for(MemoryStore()))
        conn.protocol.dataReceived(b"a0 LOGIN alice secret\r\n" + junk + b"\r\nzz9 NOOP\r\n")
        out = conn.transport.value()
        if b"* BYE" in out:  # e.g. LOGOUT or too many failed logins in the junk
            return
        self.assertIn(b"zz9 OK NOOP completed\r\n", out)
        self.assertNotIn(b"SERVERBUG", out)



class EventTests(TestCase):
    async def test_flag_changes_and_expunges_are_reported(self) -> None:
        """What the webhook notifier receives from IMAP clients' changes."""
        events: list[dict[str, Any]] = []
        store = MemoryStore()
        inbox = await (await store.account("alice")).mailbox("INBOX")
        for i in range(3):
            await inbox.append(message(i, 100), frozenset(), None)
        conn = opened(self, context_for(store, config=ServerConfig(events=events.append)))
        conn.protocol.dataReceived(
            b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n"
            b"a3 STORE 1:2 +FLAGS (\\Deleted)\r\na4 STORE 1 +FLAGS (\\Deleted)\r\n"
            b"a5 FETCH 3 BODY[TEXT]\r\na6 EXPUNGE\r\n"
        )
        await deferLater(reactor, 0.02, lambda: None)
        self.assertIn(b"a6 OK", conn.transport.value())
        base = {"user": "alice", "mailbox": "INBOX"}
        self.assertEqual(
            events,
            [
                {**base, "event": "flags", "uid": 1, "flags": ["\\Deleted"]},
                {**base, "event": "flags", "uid": 2, "flags": ["\\Deleted"]},
                {**base, "event": "flags", "uid": 3, "flags": ["\\Seen"]},
                {**base, "event": "expunge", "uids": [1, 2]},
            ],
        )
