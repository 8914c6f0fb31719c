"""Push notifications: POST a small JSON document to configured URLs.

A :class:`WebhookNotifier` is a delivery hook (new mail) and has a public
:meth:`WebhookNotifier.notify` for other events (the IMAP side calls it for
flag changes and expunges).  Nothing here ever blocks or fails a delivery:
``notify`` only appends to a bounded in-memory queue (when full, the oldest
pending event is dropped and counted); a few workers POST with treq, each
attempt with a timeout; a failed attempt (connection error, timeout, non-2xx)
is retried after an exponential backoff with jitter, up to ``max_attempts``.

The document (``Content-Type: application/json``)::

    {"event": "new", "user": "alice", "mailbox": "INBOX", "uid": 7,
     "from": "Bob <bob@example.org>", "subject": "hi", "size": 1234,
     "message_id": "<...>"}

Other events (see :func:`flags_event`, :func:`expunge_event`)::

    {"event": "flags", "user": "alice", "mailbox": "INBOX", "uid": 7,
     "flags": ["\\Seen"]}
    {"event": "expunge", "user": "alice", "mailbox": "INBOX", "uids": [7, 8]}

With ``secret`` set, ``X-Mailframe-Signature: sha256=<hex HMAC of body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool

from mailframe.smtp.hooks import DeliveredMessage, DeliveryHook

__all__ = ["WebhookNotifier", "expunge_event", "flags_event", "new_message_event"]

_log = Logger()


def new_message_event(message: DeliveredMessage) -> dict[str, Any]:
    """The ``"new"`` event for a stored copy."""
    return {
        "event": "new",
        "user": message.username,
        "mailbox": message.mailbox,
        "uid": message.uid,
        "from": message.from_,
        "subject": message.subject,
        "size": message.size,
        "message_id": message.message_id,
    }


def flags_event(user: str, mailbox: str, uid: int, flags: Iterable[str]) -> dict[str, Any]:
    """The ``"flags"`` event: a message's flags are now ``flags``."""
    return {"event": "flags", "user": user, "mailbox": mailbox, "uid": uid, "flags": sorted(flags)}


def expunge_event(user: str, mailbox: str, uids: Iterable[int]) -> dict[str, Any]:
    """The ``"expunge"`` event: these UIDs are gone."""
    return {"event": "expunge", "user": user, "mailbox": mailbox, "uids": sorted(uids)}


@dataclass
class _Job:
    url: str
    body: bytes
    attempt: int = 0


class WebhookNotifier(DeliveryHook):
    """POST events to ``urls``; see the module docstring for the rules."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        max_queue: int = 1000,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        timeout: float = 10.0,
        concurrency: int = 4,
        secret: bytes | None = None,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        from treq.client import HTTPClient

        self.urls = list(urls)
        self.max_queue = max_queue
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.concurrency = concurrency
        self.secret = secret
        self._reactor = reactor
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = concurrency
        self._http = HTTPClient(Agent(reactor, connectTimeout=timeout, pool=self._pool))
        self._queue: deque[_Job] = deque()
        self._retrying: dict[int, tuple[_Job, IDelayedCall]] = {}
        self._in_flight: set[Deferred[Any]] = set()
        self._idle_waiters: list[Deferred[None]] = []
        self._stopped = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    # -- hook --------------------------------------------------------------

    def delivered(self, message: DeliveredMessage) -> None:
        """Delivery hook: queue a ``"new"`` event (never blocks)."""
        if self.urls:
            self.notify(new_message_event(message))

    # -- public ------------------------------------------------------------

    def notify(self, event: dict[str, Any]) -> bool:
        """Queue ``event`` (JSON-serialisable) for every URL; returns at
        once.  False when the notifier is stopped or an event had to be
        dropped to make room."""
        if self._stopped:
            return False
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        ok = True
        for url in self.urls:
            while len(self._queue) + len(self._retrying) >= self.max_queue:
                ok = False
                self.dropped += 1
                if self._queue:
                    self._queue.popleft()
                else:  # only retries pending: drop the oldest retry
                    key = next(iter(self._retrying))
                    self._retrying.pop(key)[1].cancel()
            self._queue.append(_Job(url, body))
        self._pump()
        return ok

    @property
    def pending(self) -> int:
        """Events queued, waiting to retry, or being sent."""
        return len(self._queue) + len(self._retrying) + len(self._in_flight)

    def when_idle(self) -> Deferred[None]:
        """Fires once nothing is queued, retrying or in flight."""
        if not self.pending:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle_waiters.append(d)
        return d

    def stop(self) -> Deferred[None]:
        """Drop what is pending, cancel in-flight requests, close the pool."""
        self._stopped = True
        self._queue.clear()
        for _job, call in self._retrying.values():
            call.cancel()
        self._retrying.clear()
        for d in list(self._in_flight):
            d.cancel()
        self._check_idle()
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed

    # -- workers -------------------------------------------------------------

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self.concurrency and not self._stopped:
            job = self._queue.popleft()
            d = Deferred.fromCoroutine(self._post(job))
            self._in_flight.add(d)
            d.addBoth(self._done, d)

    def _done(self, result: object, d: Deferred[Any]) -> None:
        self._in_flight.discard(d)
        self._pump()
        self._check_idle()

    def _check_idle(self) -> None:
        if not self.pending:
            waiters, self._idle_waiters = self._idle_waiters, []
            for w in waiters:
                w.callback(None)

    async def _post(self, job: _Job) -> None:
        job.attempt += 1
        headers: dict[bytes | str, list[bytes | str]] = {
            b"Content-Type": [b"application/json"],
            b"User-Agent": [b"mailframe-webhook"],
        }
        if self.secret is not None:
            mac = hmac.new(self.secret, job.body, hashlib.sha256).hexdigest()
            headers[b"X-Mailframe-Signature"] = [b"sha256=" + mac.encode()]
        try:
            response = await self._http.post(
                job.url, data=job.body, headers=headers, timeout=self.timeout
            )
            await response.content()  # drain, so the connection can be reused
            if 200 <= response.code < 300:
                self.sent += 1
                return
            reason = f"HTTP {response.code}"
        except Exception as e:
            if self._stopped:
                return
            reason = f"{type(e).__name__}: {e}"
        self._retry(job, reason)

    def _retry(self, job: _Job, reason: str) -> None:
        if self._stopped:
            return
        if job.attempt >= self.max_attempts:
            self.failed += 1
            _log.warn(
                "webhook {url} gave up after {n} attempts: {reason}",
                url=job.url,
                n=job.attempt,
                reason=reason,
            )
            return
        delay = min(self.max_backoff, self.backoff * 2 ** (job.attempt - 1))
        delay *= 0.5 + random.random() / 2  # jitter: spread retries out
        key = id(job)

        def again() -> None:
            self._retrying.pop(key, None)
            self._queue.append(job)
            self._pump()

        self._retrying[key] = (job, self._reactor.callLater(delay, again))
