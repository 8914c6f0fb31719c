"""Maildir disk work off the reactor thread, one folder at a time.

Every Maildir operation reads or writes files: ``dovecot-uidlist`` and the
index, directory listings of ``new/`` and ``cur/``, renames for flags,
fsyncs for appends, message files for FETCH.  Done on the reactor thread
each of them keeps every other client waiting (issue 16 measured 84–168 ms
of NOOP latency under an 8-session load).  A :class:`SerialWorker` runs a
folder's jobs in the reactor's thread pool, **one at a time, in the order
they were submitted**: the folder's in-memory state (its
:class:`mailframe.store._log.MailboxLog`, index and uidlist readers, the
re-entrant ``dovecot-uidlist.lock``) is therefore only ever touched by one
thread, and commands on one mailbox keep the order they had on the wire.
Different folders (and the preparation of APPENDs, which touches no folder
state) run in parallel.

The worker hands results back to the reactor thread as Deferreds; a
folder posts its watcher notifications there with :meth:`SerialWorker.post`,
so a session only ever runs on the reactor thread.

``SerialWorker(None)`` runs every job at once on the calling thread and
returns fired Deferreds: the store's synchronous mode.  A worker given a
reactor also does so while that reactor is not running (a command-line
tool before it starts the reactor, a test that drives the store by hand),
where no thread could hand a result back.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from mailframe.errors import NonexistentMailbox
from mailframe.store._maildir_files import LockGone

__all__ = ["SerialWorker", "guarded"]

T = TypeVar("T")


def guarded(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn``; a lock whose folder vanished means the mailbox was
    deleted (by anyone): NonexistentMailbox, as RFC 3501 §6.3.1 has it."""
    try:
        return fn(*args)
    except LockGone:
        raise NonexistentMailbox("the mailbox has been deleted") from None


class SerialWorker:
    """Jobs run in the reactor's thread pool one after another (FIFO).

    ``reactor`` is None for the synchronous mode (each job runs at once);
    ``always`` sends jobs to threads even before the reactor runs.
    """

    def __init__(self, reactor: Any | None, always: bool = False) -> None:
        self._reactor = reactor
        self._always = always
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...], defer.Deferred[Any]]] = (
            deque()
        )
        self._running = False
        self._job_thread: int | None = None
        #: what the running job posted, called once its result is handed over
        self._posted: list[Callable[[], object]] = []

    @property
    def threaded(self) -> bool:
        """Jobs go to threads now (a reactor that runs, or queued work)."""
        return self._reactor is not None and (self._always or self._reactor.running or self.busy)

    @property
    def busy(self) -> bool:
        """A job is running or waiting (reactor thread only)."""
        return self._running or bool(self._queue)

    def submit(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run ``fn(*args)`` after every job submitted before it; its
        result (or failure) fires the returned Deferred on the reactor
        thread."""
        if not self.threaded:
            return now(fn, *args)
        d: defer.Deferred[T] = defer.Deferred()
        self._queue.append((fn, args, d))
        if not self._running:
            self._start_next()
        return d

    def _start_next(self) -> None:
        fn, args, d = self._queue.popleft()
        self._running = True
        reactor: Any = self._reactor
        job = deferToThreadPool(reactor, reactor.getThreadPool(), self._job, fn, *args)
        job.addBoth(self._finished, d)

    def _job(self, fn: Callable[..., T], *args: Any) -> T:
        self._job_thread = threading.get_ident()
        try:
            return guarded(fn, *args)
        finally:
            self._job_thread = None

    def _finished(self, result: object, d: defer.Deferred[Any]) -> None:
        posted, self._posted = self._posted, []
        if self._queue:
            self._start_next()
        else:
            self._running = False
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)
        for fn in posted:
            fn()

    def run_free(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run ``fn(*args)`` in the thread pool without waiting for the
        queue: for work that touches no folder state (an APPEND's parsing
        and fsynced write into ``tmp/``)."""
        if not self.threaded:
            return now(fn, *args)
        reactor: Any = self._reactor
        return deferToThreadPool(reactor, reactor.getThreadPool(), guarded, fn, *args)

    def post(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` on the reactor thread (at once in synchronous mode).
        From a job of this worker: just after the job's own result is
        handed over, so the session whose command made a change carries
        on first (as with a synchronous store) and watchers hear of it
        after; they can read the change by then."""
        if self._reactor is None or not (self._always or self._reactor.running):
            fn()
        elif self._job_thread == threading.get_ident():
            self._posted.append(fn)
        else:
            self._reactor.callFromThread(fn)


def now(fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
    """Run ``fn`` on this thread; its result or failure as a fired Deferred."""
    try:
        return defer.succeed(guarded(fn, *args))
    except Exception:
        return defer.fail()
