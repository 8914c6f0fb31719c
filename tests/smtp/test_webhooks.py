"""Webhooks: a local twisted.web server receives the JSON; a dead endpoint
does not slow delivery; retries with backoff; the queue is bounded."""

from __future__ import annotations

import json
import smtplib
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from mailframe.smtp import Delivery, WebhookNotifier, smtp_factory
from mailframe.smtp.webhooks import expunge_event, flags_event
from mailframe.store.memory import MemoryStore
from tests.smtp._support import Users, in_thread, listen

MESSAGE = (
    b"From: =?utf-8?q?B=C3=B6b?= <bob@example.net>\r\n"
    b"Subject: Hello hooks\r\nMessage-ID: <m1@example.net>\r\n\r\nbody\r\n"
)


class Recorder(Resource):
    """Records POSTed JSON; answers ``codes`` in turn (then 200)."""

    isLeaf = True

    def __init__(self, codes: list[int] | None = None) -> None:
        super().__init__()
        self.codes = list(codes or [])
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[Any] = []
        self.waiters: list[tuple[int, Deferred[None]]] = []

    def render_POST(self, request: Any) -> bytes:
        code = self.codes.pop(0) if self.codes else 200
        request.setResponseCode(code)
        if code == 200:
            self.bodies.append(json.loads(request.content.read()))
            self.headers.append(request.requestHeaders)
            for n, d in list(self.waiters):
                if len(self.bodies) >= n:
                    self.waiters.remove((n, d))
                    d.callback(None)
        return b"ok"

    def wait_for(self, n: int) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if len(self.bodies) >= n:
            d.callback(None)
        else:
            self.waiters.append((n, d))
        return d


class BlackHole(Protocol):
    """Accepts the connection and never answers (a hung endpoint)."""


class WebhookTests(unittest.TestCase):
    def start_web(self, resource: Resource) -> str:
        site = Site(resource)
        site.noisy = False
        port, n = listen(site)
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{n}/hook"

    def start_smtp(self, notifier: WebhookNotifier) -> int:
        self.store = MemoryStore()
        delivery = Delivery(self.store, Users("alice"), [notifier])
        port, n = listen(smtp_factory(delivery, ["example.org"], hostname="mx.test"))
        self.addCleanup(port.stopListening)
        return n

    def notifier(self, urls: list[str], **kw: Any) -> WebhookNotifier:
        n = WebhookNotifier(urls, **kw)
        self.addCleanup(n.stop)
        return n

    def send(self, port: int, count: int = 1) -> Deferred[None]:
        def run() -> None:
            # each reply within 10 s, or smtplib raises
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                for _ in range(count):
                    s.sendmail("bob@example.net", ["alice@example.org"], MESSAGE)

        return in_thread(run)

    async def _arrives(self) -> None:
        rec = Recorder()
        url = self.start_web(rec)
        notifier = self.notifier([url], secret=b"k")
        port = self.start_smtp(notifier)
        await self.send(port)
        await rec.wait_for(1)
        self.assertEqual(
            rec.bodies,
            [
                {
                    "event": "new",
                    "user": "alice",
                    "mailbox": "INBOX",
                    "uid": 1,
                    "from": "Böb <bob@example.net>",
                    "subject": "Hello hooks",
                    "size": rec.bodies[0]["size"],
                    "message_id": "<m1@example.net>",
                }
            ],
        )
        self.assertGreater(rec.bodies[0]["size"], len(MESSAGE))  # trace headers
        self.assertEqual(rec.headers[0].getRawHeaders("content-type"), ["application/json"])
        [sig] = rec.headers[0].getRawHeaders("x-mailframe-signature")
        self.assertTrue(sig.startswith("sha256=") and len(sig) == 71)

    def test_webhook_arrives_with_json(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._arrives())

    async def _dead(self) -> None:
        # one endpoint refuses connections, one accepts and never answers
        refused_port, n = listen(Site(Resource()))
        await refused_port.stopListening()
        hole, m = listen(Factory.forProtocol(BlackHole))
        self.addCleanup(hole.stopListening)
        notifier = self.notifier(
            [f"http://127.0.0.1:{n}/", f"http://127.0.0.1:{m}/"], timeout=600, backoff=0.05
        )
        port = self.start_smtp(notifier)
        # every message is accepted (a delivery that waited for the hung
        # webhook would not answer within smtplib's 10 s and fail the send)
        await self.send(port, count=20)
        self.assertEqual(len(await self._inbox()), 20)
        self.assertGreater(notifier.pending, 0)  # still trying, in the background

    async def _inbox(self) -> list[int]:
        account = await self.store.account("alice")
        box = await account.mailbox("INBOX")
        return [m.uid for m in (await box.snapshot()).messages]

    def test_dead_endpoint_does_not_slow_delivery(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._dead())

    async def _retries(self) -> None:
        rec = Recorder(codes=[500, 503])
        notifier = self.notifier([self.start_web(rec)], backoff=0.01)
        notifier.notify(flags_event("alice", "INBOX", 3, {"\\Seen", "$Work"}))
        await rec.wait_for(1)
        await notifier.when_idle()
        self.assertEqual(
            rec.bodies,
            [
                {
                    "event": "flags",
                    "user": "alice",
                    "mailbox": "INBOX",
                    "uid": 3,
                    "flags": ["$Work", "\\Seen"],
                }
            ],
        )
        self.assertEqual((notifier.sent, notifier.failed), (1, 0))

    def test_retries_with_backoff_until_accepted(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._retries())

    async def _gives_up(self) -> None:
        rec = Recorder(codes=[500] * 10)
        notifier = self.notifier([self.start_web(rec)], backoff=0.01, max_attempts=3)
        notifier.notify(expunge_event("alice", "INBOX", [2, 1]))
        await notifier.when_idle()
        self.assertEqual((notifier.sent, notifier.failed, len(rec.codes)), (0, 1, 7))

    def test_gives_up_after_max_attempts(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._gives_up())

    def test_bounded_queue_drops_oldest(self) -> None:
        notifier = self.notifier(["http://127.0.0.1:9/"], max_queue=3, concurrency=1)
        results = [notifier.notify({"n": i}) for i in range(6)]
        self.assertEqual(results, [True, True, True, True, False, False])
        self.assertEqual(notifier.dropped, 2)
        queued = [json.loads(j.body)["n"] for j in notifier._queue]
        self.assertEqual(queued, [3, 4, 5])  # 0 is in flight; 1, 2 dropped


del reactor, NOT_DONE_YET
