"""Direct delivery (RFC 5321 §5.1) against a DNS server the test runs on
loopback (twisted.names) whose MX records point at a local SMTP sink."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from twisted.internet import defer, reactor
from twisted.names import client, common, dns, error, server
from twisted.trial import unittest

from mailframe.auth.checkers import InMemoryChecker
from mailframe.server.tls import CertificateAuthority, ReloadableContextFactory
from mailframe.smtp.delivery import Delivery
from mailframe.smtp.outbound import MXTransport, mx_hosts
from mailframe.smtp.queue import OutboundQueue
from mailframe.store.memory import MemoryStore
from tests.smtp._sink import Sink
from tests.smtp._support import read_mailbox


class Zone(common.ResolverBase):
    """An authority answering from a dict {(name, type): [payload, ...]}."""

    def __init__(self, records: dict[tuple[str, int], list[Any]]) -> None:
        common.ResolverBase.__init__(self)
        self.records = records

    def _lookup(self, name: Any, cls: Any, type: int, timeout: Any) -> Any:
        key = name.decode() if isinstance(name, bytes) else str(name)
        key = key.lower().rstrip(".")
        if not any(k[0] == key for k in self.records):
            return defer.fail(error.DomainError(key))
        answers = [dns.RRHeader(name=key, type=type, payload=p, auth=True, ttl=60)
                   for p in self.records.get((key, type), [])]
        return defer.succeed((answers, [], []))


class MXTests(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="mailframe-mx-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        ca = CertificateAuthority()
        cert, key = ca.issue(self.dir + "/mx", ["mx2.remote.test"])
        self.sink = Sink(tls=ReloadableContextFactory(cert, key))
        sink_port = self.sink.listen()
        self.addCleanup(sink_port.stopListening)
        self.mx_port = sink_port.getHost().port
        zone = Zone({
            ("remote.test", dns.MX): [dns.Record_MX(20, b"mx2.remote.test"),
                                      dns.Record_MX(10, b"mx1.remote.test")],
            # the preferred host does not answer on the SMTP port
            ("mx1.remote.test", dns.A): [dns.Record_A("127.0.0.3")],
            # AAAA first (nothing listens on ::1 there), then A
            ("mx2.remote.test", dns.AAAA): [dns.Record_AAAA("::1")],
            ("mx2.remote.test", dns.A): [dns.Record_A("127.0.0.1")],
            ("implicit.test", dns.A): [dns.Record_A("127.0.0.1")],
            ("nullmx.test", dns.MX): [dns.Record_MX(0, b"")],
        })
        factory = server.DNSServerFactory(authorities=[zone])
        udp = reactor.listenUDP(0, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")
        self.addCleanup(udp.stopListening)
        self.resolver = client.Resolver(servers=[("127.0.0.1", udp.getHost().port)])
        self.store = MemoryStore()
        self.delivery = Delivery(self.store, InMemoryChecker({"alice": "x"}))
        transport = MXTransport(reactor, self.resolver, "mail.example.org", port=self.mx_port)
        self.queue = OutboundQueue(self.dir + "/queue", transport, bounce=self.delivery.deliver,
                                   hostname="mail.example.org", retry_initial=0.05,
                                   retry_max=0.05, lifetime=3600, poll=0.1)
        self.queue.startService()  # type: ignore[no-untyped-call]
        self.addCleanup(self.queue.stopService)
        self.addCleanup(self.idle)

    def idle(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()

        def check() -> None:
            if self.queue.idle():
                d.callback(None)
            else:
                reactor.callLater(0.02, check)

        check()
        return d

    async def _order(self) -> None:
        hosts = await mx_hosts(self.resolver, "remote.test")
        self.assertEqual(hosts, ["mx1.remote.test", "mx2.remote.test"])
        self.assertEqual(await mx_hosts(self.resolver, "implicit.test"), ["implicit.test"])

    def test_mx_order_and_implicit_mx(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._order())

    async def _deliver(self) -> None:
        message = b"From: alice@example.org\r\nSubject: direct\r\n\r\nbody\r\n"
        await self.queue.enqueue("alice@example.org", ["carol@remote.test", "dan@implicit.test"],
                                 message, owner="alice")
        await self.sink.wait_for(2)
        await self.idle()
        got = {m.recipients[0]: m for m in self.sink.messages}
        self.assertEqual(set(got), {"carol@remote.test", "dan@implicit.test"})
        self.assertTrue(all(m.tls for m in self.sink.messages))  # opportunistic STARTTLS
        self.assertEqual(got["carol@remote.test"].data, message)
        self.assertEqual(await read_mailbox(self.store, "alice"), [])

    def test_direct_delivery_with_fallback(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._deliver())

    async def _undeliverable(self) -> None:
        await self.queue.enqueue("alice@example.org", ["x@nullmx.test", "y@nowhere.test"],
                                 b"Subject: lost\r\n\r\nbody\r\n", owner="alice")
        await self.idle()
        bounces = await read_mailbox(self.store, "alice")
        self.assertEqual(len(bounces), 2)  # one entry per domain, one bounce each
        text = b"".join(bounces)
        self.assertIn(b"Final-Recipient: rfc822; x@nullmx.test\r\nAction: failed\r\n"
                      b"Status: 5.1.10", text)  # RFC 7505 null MX
        self.assertIn(b"Final-Recipient: rfc822; y@nowhere.test\r\nAction: failed\r\n"
                      b"Status: 5.1.2", text)
        self.assertEqual(self.sink.messages, [])

    def test_null_mx_and_nxdomain_bounce(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._undeliverable())
