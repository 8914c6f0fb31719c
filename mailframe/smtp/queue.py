"""The outbound queue: durable entries (:mod:`mailframe.smtp.queue_store`)
and the service that delivers them.

- :meth:`OutboundQueue.enqueue` splits a message into one entry per
  recipient domain and fires only once every entry is on disk (fsync'ed):
  the submission server answers 250 after that (RFC 5321 §6.1).
- Each entry is tried at once, then after a 4xx reply or a connection
  failure again with exponential backoff (``retry_initial`` · 2^(n-1),
  capped at ``retry_max``; RFC 5321 §4.5.4.1 asks for at least 30 minutes
  between tries in production — the delays are options, and a clock can be
  given, so tests need not wait).
- A 5xx for a recipient, or an entry older than ``lifetime`` (RFC 5321
  §4.5.4.1: "at least 4-5 days"), ends that recipient; once no recipient is
  left pending, one bounce (RFC 3464) for every failed recipient is
  delivered to the submitting user's INBOX, unless the sender was the null
  path (RFC 5321 §6.1: never bounce a bounce).
- Delivered recipients are recorded durably before anything else happens,
  and an entry is marked done before it is removed: what a remote server
  acknowledged is never sent again, even across a crash.
- Every ``poll`` seconds the queue looks for the ``flush`` marker left by
  ``mailframe queue flush`` and then re-reads the directory (picking up
  deletions) and tries every entry now.

File work runs in the reactor's thread pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from twisted.application import service
from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from mailframe.smtp.client import PermanentFailure, RcptResult, TemporaryFailure
from mailframe.smtp.dsn import Bounced, build_bounce
from mailframe.smtp.outbound import ITransport
from mailframe.smtp.queue_store import Entry, Failure, QueueStore, new_id

__all__ = ["OutboundQueue", "DEFAULT_LIFETIME", "DEFAULT_RETRY", "DEFAULT_RETRY_MAX"]

_log = Logger()
DEFAULT_LIFETIME = 5 * 24 * 3600.0
DEFAULT_RETRY = 300.0
DEFAULT_RETRY_MAX = 4 * 3600.0

Bouncer = Callable[[str, bytes], Deferred[Any]]  # (username, message) → delivered


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


class OutboundQueue(service.Service):
    """The queue service (see module docs).

    ``transport`` delivers an entry (:class:`mailframe.smtp.outbound.ITransport`);
    ``bounce(username, message)`` stores a bounce in that user's INBOX.
    """

    def __init__(
        self,
        directory: str,
        transport: ITransport,
        *,
        bounce: Bouncer | None = None,
        hostname: str = "localhost",
        clock: IReactorTime | None = None,
        retry_initial: float = DEFAULT_RETRY,
        retry_max: float = DEFAULT_RETRY_MAX,
        lifetime: float = DEFAULT_LIFETIME,
        poll: float = 5.0,
        parallel: int = 20,
        stop_grace: float = 30.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.store = QueueStore(directory)
        self.transport = transport
        self.bounce = bounce
        self.hostname = hostname
        self.clock: Any = clock
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.lifetime = lifetime
        self.poll = poll
        self.now = now
        self.stop_grace = stop_grace
        self.entries: dict[str, Entry] = {}
        self._calls: dict[str, IDelayedCall] = {}
        self._busy: set[str] = set()
        self._limit = DeferredSemaphore(max(1, parallel))
        self._loop: LoopingCall | None = None
        self._running_work: set[Deferred[Any]] = set()
        self._ready = True  # False while the start-up load runs
        self._ready_waiters: list[Deferred[None]] = []
        self._loading: Deferred[Any] | None = None  # the start-up scan, while it runs
        #: False in a --workers worker other than the primary: entries are
        #: written to the directory for the primary to deliver, never tried here.
        self.deliver = True
        #: Start-up cleanup spares leftovers younger than this (seconds):
        #: set under --workers, where they may be another worker's writes.
        self.orphan_age = 0.0

    # -- lifecycle -------------------------------------------------------------

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        if not self.deliver:
            return
        self._ready = False  # enqueue waits: the start-up cleanup must run alone
        d = deferToThread(self._load_sync)
        d.addCallback(self._loaded)
        d.addErrback(lambda f: _log.failure("cannot load the outbound queue", f))
        d.addBoth(self._now_ready)
        self._loading = d
        self._loop = LoopingCall(self._check_flush)
        self._loop.clock = self.clock
        self._loop.start(self.poll, now=False).addErrback(
            lambda f: _log.failure("queue poll failed", f))

    def _load_sync(self) -> tuple[list[Entry], bool]:
        self.store.ensure()
        flush = self.store.take_flush()
        return self.store.load(cleanup=True, orphan_age=self.orphan_age), flush

    def _loaded(self, loaded: tuple[list[Entry], bool]) -> None:
        entries, flush = loaded
        for entry in entries:
            self.entries[entry.id] = entry
            delay = 0.0 if flush else max(0.0, entry.next_attempt - self.now())
            self._schedule(entry.id, delay)
        if entries:
            _log.info("outbound queue: {n} entries loaded", n=len(entries))

    def stopService(self) -> Any:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        for call in self._calls.values():
            if call.active():
                call.cancel()
        self._calls.clear()
        pending: list[Deferred[Any]] = list(self._running_work)
        if not self._ready and self._loading is not None:
            pending.append(self._loading)  # the start-up scan still runs in its thread
        if not pending:
            return None
        # let attempts in flight record their outcome (a delivery the
        # remote side acknowledged must be written down), and the start-up
        # scan finish before the directory may go away, for a while
        done: Deferred[None] = Deferred()

        def finished(_: object = None) -> None:
            if not done.called:
                if timer.active():
                    timer.cancel()
                done.callback(None)

        timer = self.clock.callLater(self.stop_grace, finished)
        DeferredList(pending, consumeErrors=True).addBoth(finished)
        return done

    # -- enqueue -------------------------------------------------------------

    def enqueue(self, sender: str, recipients: Iterable[str], content: bytes, *,
                owner: str | None = None, smtputf8: bool = False) -> Deferred[list[Entry]]:
        """Durably queue ``content`` for ``recipients`` (one entry per
        domain); fires with the entries once they are on disk."""
        by_domain: dict[str, list[str]] = {}
        for rcpt in recipients:
            by_domain.setdefault(domain_of(rcpt), []).append(rcpt)
        now = self.now()
        entries = [
            Entry(id=new_id(), sender=sender, domain=domain, recipients=rcpts, owner=owner,
                  created=now, next_attempt=now, smtputf8=smtputf8, size=len(content))
            for domain, rcpts in sorted(by_domain.items())
        ]
        d = Deferred.fromCoroutine(self._add(entries, content))

        def added(_: None) -> list[Entry]:
            if not self.deliver:
                return entries
            for entry in entries:
                self.entries[entry.id] = entry
                self._schedule(entry.id, 0)
            return entries

        return d.addCallback(added)

    def _now_ready(self, _: object) -> None:
        self._ready = True
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    async def _add(self, entries: list[Entry], content: bytes) -> None:
        if not self._ready:
            waiter: Deferred[None] = Deferred()
            self._ready_waiters.append(waiter)
            await waiter
        await deferToThread(self.store.add, entries, content)
        if not self.deliver:
            await deferToThread(self.store.request_load)

    # -- scheduling --------------------------------------------------------------

    def _schedule(self, entry_id: str, delay: float) -> None:
        """The next attempt of ``entry_id`` in ``delay`` seconds; a time
        already past (the attempt and the save outlasted the backoff, as
        under load) means at once, never a refused ``callLater``."""
        delay = max(0.0, delay)
        old = self._calls.pop(entry_id, None)
        if old is not None and old.active():
            old.cancel()
        if not self.running:
            return
        self._calls[entry_id] = self.clock.callLater(delay, self._start_attempt, entry_id)

    def _check_flush(self) -> Deferred[None]:
        d = deferToThread(self._flush_sync)
        return d.addCallback(self._flushed)

    def _flush_sync(self) -> list[Entry] | tuple[list[Entry]] | None:
        if self.store.take_flush():
            return self.store.load()
        return (self.store.load(),) if self.store.take_load() else None

    def _flushed(self, entries: list[Entry] | tuple[list[Entry]] | None) -> None:
        if entries is None:
            return
        if isinstance(entries, tuple):  # other workers' new entries
            for entry in entries[0]:
                if entry.id not in self.entries and entry.id not in self._busy:
                    self.entries[entry.id] = entry
                    self._schedule(entry.id, max(0.0, entry.next_attempt - self.now()))
            return
        live = {e.id: e for e in entries}
        for entry_id in list(self.entries):
            if entry_id not in live and entry_id not in self._busy:
                self._forget(entry_id)
        for entry_id, entry in live.items():
            if entry_id not in self._busy:
                self.entries[entry_id] = entry
                self._schedule(entry_id, 0)
        _log.info("outbound queue flushed: {n} entries", n=len(live))

    def flush(self) -> None:
        """Try every entry now (in this process)."""
        for entry_id in list(self.entries):
            if entry_id not in self._busy:
                self._schedule(entry_id, 0)

    def _forget(self, entry_id: str) -> None:
        self.entries.pop(entry_id, None)
        call = self._calls.pop(entry_id, None)
        if call is not None and call.active():
            call.cancel()

    def backoff(self, attempts: int) -> float:
        return float(min(self.retry_max, self.retry_initial * 2 ** max(0, attempts - 1)))

    # -- one attempt -----------------------------------------------------------------

    def _start_attempt(self, entry_id: str) -> None:
        self._calls.pop(entry_id, None)
        if entry_id in self._busy or entry_id not in self.entries:
            return
        self._busy.add(entry_id)
        d = self._limit.run(lambda: Deferred.fromCoroutine(self._attempt(entry_id)))
        self._running_work.add(d)

        def done(result: Any) -> None:
            self._busy.discard(entry_id)
            self._running_work.discard(d)
            if hasattr(result, "getTraceback"):
                _log.failure("queue entry {id} failed", result, id=entry_id)
                entry = self.entries.get(entry_id)
                if entry is not None:
                    self._schedule(entry_id, self.backoff(entry.attempts + 1))

        d.addBoth(done)

    async def _attempt(self, entry_id: str) -> None:
        entry = self.entries[entry_id]
        content = await deferToThread(self.store.content, entry_id)
        if content is None:  # deleted by `mailframe queue delete`
            self._forget(entry_id)
            return
        if entry.recipients:
            await self._send(entry, content)
        if entry.recipients:
            if self.now() - entry.created >= self.lifetime:
                for rcpt in entry.recipients:
                    entry.failed.append(Failure(rcpt, "4.4.7", "delivery time expired; last "
                                                f"error: {entry.last_error}"))
                entry.recipients = []
            else:
                entry.next_attempt = self.now() + self.backoff(entry.attempts)
                if not await deferToThread(self.store.save, entry):
                    self._forget(entry_id)
                    return
                self._schedule(entry_id, entry.next_attempt - self.now())
                return
        if entry.failed and entry.sender and entry.owner and self.bounce is not None:
            if not await deferToThread(self.store.save, entry):
                self._forget(entry_id)
                return
            await self.bounce(entry.owner, self._bounce_message(entry, content))
            _log.info("queue {id}: bounced {n} recipients to {owner}", id=entry.id,
                      n=len(entry.failed), owner=entry.owner)
        elif entry.failed:
            _log.warn("queue {id}: {n} recipients failed, no one to bounce to", id=entry.id,
                      n=len(entry.failed))
        await deferToThread(self.store.finish, entry)
        self._forget(entry_id)

    async def _send(self, entry: Entry, content: bytes) -> None:
        entry.attempts += 1
        try:
            results = await self.transport.deliver(entry, content)
        except PermanentFailure as e:
            results = [RcptResult(r, 550, e.status, e.text) for r in entry.recipients]
        except TemporaryFailure as e:
            results = [RcptResult(r, 451, e.status, e.text) for r in entry.recipients]
        except Exception as e:
            _log.failure("queue {id}: delivery attempt crashed", id=entry.id)
            results = [RcptResult(r, 451, "4.0.0", f"local error: {e.__class__.__name__}")
                       for r in entry.recipients]
        pending: list[str] = []
        errors: list[str] = []
        for result in results:
            if result.ok:
                entry.delivered.append(result.recipient)
            elif result.permanent:
                entry.failed.append(Failure(result.recipient, result.status, result.text,
                                            _remote_of(result.text)))
            else:
                pending.append(result.recipient)
                errors.append(result.text)
        entry.recipients = pending
        entry.last_error = errors[0] if errors else ""
        for result in results:
            _log.info("queue {id}: <{rcpt}> {code} {text}", id=entry.id, rcpt=result.recipient,
                      code=result.code, text=result.text)
        # what was accepted is recorded before anything else can happen
        if not await deferToThread(self.store.save, entry):
            self._forget(entry.id)

    def _bounce_message(self, entry: Entry, content: bytes) -> bytes:
        failures = [Bounced(f.recipient, f.status, f.diagnostic, f.remote) for f in entry.failed]
        report = build_bounce(
            reporting_mta=self.hostname, sender=entry.sender, failures=failures,
            original=content, arrival=datetime.fromtimestamp(entry.created, UTC))
        return b"Return-Path: <>\r\n" + report

    def idle(self) -> bool:
        """No entry in memory: everything delivered or bounced."""
        return not self.entries


def _remote_of(text: str) -> str:
    """The host in a result text such as ``"(mx.example.org[192.0.2.1]) 550 ..."``."""
    if text.startswith("(") and ")" in text:
        return text[1 : text.index(")")].split("[", 1)[0]
    for word in text.split():
        if word.startswith("(") and word.endswith("):"):
            return word[1:-2].split("[", 1)[0]
    return ""
