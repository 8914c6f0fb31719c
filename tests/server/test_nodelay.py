"""The IMAP server turns Nagle's algorithm off on every connection, plain
and TLS: without it the tagged reply written after a command's untagged
data waited for the client's delayed ACK, about 40 ms a command (found by
bench/profile_phases.py: SEARCH took 47 ms of which 2 ms were CPU)."""

from __future__ import annotations

import imaplib
import socket
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import LoginThrottle
from mailframe.imap.session import ServerConfig
from mailframe.server.protocol import IMAPFactory, ServerContext
from mailframe.server.tls import CertificateAuthority, ReloadableContextFactory, tls_server_endpoint
from mailframe.store.memory import MemoryStore
from tests.auth.helpers import temp_path


class _Recording(IMAPFactory):
    """The factory, keeping the protocols it builds."""

    def __init__(self, context: ServerContext) -> None:
        super().__init__(context)
        self.built: list[Any] = []

    def buildProtocol(self, addr: Any) -> Any:
        proto = super().buildProtocol(addr)
        self.built.append(proto)
        return proto


def _socket_of(proto: Any) -> socket.socket:
    transport = proto.transport
    while not hasattr(transport, "getHandle") or hasattr(transport, "wrappedProtocol"):
        transport = transport.transport
    handle: socket.socket = transport.getHandle()
    return handle


class NoDelayTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self):  # type: ignore[no-untyped-def]
        ca = CertificateAuthority()
        cert, key = ca.issue(temp_path(self))
        self.ca_pem = ca.cert_pem.decode()
        auth = Authenticator(Portal(MailRealm(MemoryStore()), [InMemoryChecker({"alice": "secret"})]),
                             throttle=LoginThrottle(reactor, base=0.05, maximum=0.1))
        context = ServerContext(auth, ServerConfig(), ReloadableContextFactory(cert, key), None)
        self.plain = _Recording(context)
        self.port = yield reactor.listenTCP(0, self.plain, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.tls = _Recording(context)
        self.tls_port = yield tls_server_endpoint(reactor, 0, ReloadableContextFactory(cert, key),
                                                  "127.0.0.1").listen(self.tls)
        self.addCleanup(self.tls_port.stopListening)

    @inlineCallbacks
    def test_plain_connection_has_no_delay(self):  # type: ignore[no-untyped-def]
        client = yield deferToThread(imaplib.IMAP4, "127.0.0.1", self.port.getHost().port, timeout=20)
        self.addCleanup(lambda: deferToThread(client.logout))
        sock = _socket_of(self.plain.built[-1])
        self.assertTrue(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    @inlineCallbacks
    def test_tls_connection_has_no_delay(self):  # type: ignore[no-untyped-def]
        import ssl

        ctx = ssl.create_default_context(cadata=self.ca_pem)
        client = yield deferToThread(imaplib.IMAP4_SSL, "localhost", self.tls_port.getHost().port,
                                     ssl_context=ctx, timeout=20)
        proto = self.tls.built[-1]
        sock = _socket_of(proto)
        self.assertTrue(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        yield deferToThread(client.logout)
        for _ in range(2000):  # the TLS close finishes a little later (a hang guard only)
            if proto.lost:
                break
            yield deferLater(reactor, 0.005, lambda: None)


class SendWindowTests(TestCase):
    """A plain connection's transport holds and sends
    ``protocol.SEND_WINDOW`` bytes at a time (Twisted's default, 64 KiB
    before a FETCH pauses, cost a reactor turn per 64 KiB); a FETCH of
    more than the window arrives byte for byte."""

    timeout = 60
    setUp = NoDelayTests.setUp

    @inlineCallbacks
    def test_plain_connection_window_and_big_fetch(self):  # type: ignore[no-untyped-def]
        from mailframe.server.protocol import SEND_WINDOW

        client = yield deferToThread(imaplib.IMAP4, "127.0.0.1", self.port.getHost().port, timeout=20)
        self.addCleanup(lambda: deferToThread(client.logout))
        transport = self.plain.built[-1].transport
        self.assertEqual((transport.bufferSize, transport.SEND_LIMIT), (SEND_WINDOW, SEND_WINDOW))
        messages = [b"Subject: m%d\r\n\r\n" % i + (b"%d line of text\r\n" % i) * (20_000 + 7_000 * i)
                    for i in range(6)]
        self.assertGreater(sum(map(len, messages)), 2 * SEND_WINDOW)

        def run() -> list[bytes]:
            client.login("alice", "secret")
            for m in messages:
                client.append("INBOX", "", imaplib.Time2Internaldate(0), m)
            client.select("INBOX")
            typ, data = client.fetch("1:*", "(BODY.PEEK[])")
            assert typ == "OK"
            return [part[1] for part in data if isinstance(part, tuple)]

        got = yield deferToThread(run)
        self.assertEqual(got, messages)
