"""Maildir disk work off the reactor thread, one folder at a time.

Every Maildir operation reads or writes files: ``dovecot-uidlist`` and the
index, directory listings of ``new/`` and ``cur/``, renames for flags,
fsyncs for appends, message files for FETCH.  Done on the reactor thread
each of them keeps every other client waiting (issue 16 measured 84–168 ms
of NOOP latency under an 8-session load).  A :class:`SerialWorker` runs a
folder's jobs in the reactor's thread pool: **writes one at a time, in the
order they were submitted**, and reads (FETCH's records and bodies,
SEARCH, the catch-up after a command) beside each other between writes.
The folder's files and its in-memory state (its
:class:`mailframe.store._log.MailboxLog`, index and uidlist readers, the
re-entrant ``dovecot-uidlist.lock``) are therefore changed by one thread
at a time — a write, or one read's refresh under the folder's refresh
lock (``Folder.reading``) — and commands on one mailbox keep
the order they had on the wire.  Different folders (and the preparation
of APPENDs, which touches no folder state) run in parallel.

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
import time
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


#: Read jobs of one folder that may run at once (each in its own thread).
#: Two: a long read (a FETCH of many bodies, a SEARCH) no longer holds up
#: a short one, but most reads are Python work under the GIL, and more
#: threads at once only take turns with the reactor thread (with 64
#: sessions on one mailbox, four cost more CPU per command than one).
MAX_READERS = 2


class _Job:
    __slots__ = ("fn", "args", "d", "write")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], d: defer.Deferred[Any], write: bool
    ) -> None:
        self.fn = fn
        self.args = args
        self.d = d
        self.write = write


class SerialWorker:
    """A folder's jobs in the reactor's thread pool: writes one at a time
    in the order submitted, reads beside each other between them.

    ``reactor`` is None for the synchronous mode (each job runs at once);
    ``always`` sends jobs to threads even before the reactor runs.

    A thread that finishes a job takes the next one that may start from
    the queue itself, handing the finished job's result to the reactor
    without waiting for it (one thread hop for a queue of jobs, not one
    each: with eight sessions on one mailbox, jobs waited ~7 ms in the
    queue for 0.1-0.3 ms of work).  Ordering, which the folder's index
    and the sessions rely on:

    - a write (:meth:`submit`) starts once every job submitted before it
      has finished, and no job submitted after it starts before it ends;
    - a read (:meth:`submit_read`) starts once every write submitted
      before it has finished; reads run at once (up to
      :data:`MAX_READERS`), each doing its own refresh under the folder's
      ``reading`` lock (refresh and looks at the log) and file reads beside;
    - results reach the reactor thread in the order the jobs finished,
      so a write's result (and what it posted) comes before anything
      submitted after it.
    """

    def __init__(self, reactor: Any | None, always: bool = False) -> None:
        self._reactor = reactor
        self._always = always
        self._queue: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._writing = False
        self._reading = 0
        #: jobs submitted whose result the reactor has not had yet
        self._pending = 0
        #: thread ident -> what the job running there posted, called once
        #: its result is handed over
        self._posted: dict[int, list[Callable[[], object]]] = {}
        #: ``time.monotonic()`` of the last job submitted (reactor thread)
        self.last_job = time.monotonic()

    @property
    def threaded(self) -> bool:
        """Jobs go to threads now (a reactor that runs, or queued work)."""
        return self._reactor is not None and (self._always or self._reactor.running or self.busy)

    @property
    def busy(self) -> bool:
        """A job is running or waiting, or its result is on the way
        (reactor thread only)."""
        return self._pending > 0

    def submit(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run ``fn(*args)`` alone, after every job submitted before it;
        its result (or failure) fires the returned Deferred on the
        reactor thread."""
        return self._submit(fn, args, True)

    def submit_read(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run ``fn(*args)`` after every write submitted before it, maybe
        beside other reads: ``fn`` changes no folder state but what a
        refresh brings in (see the class docstring)."""
        return self._submit(fn, args, False)

    def _submit(self, fn: Callable[..., T], args: tuple[Any, ...], write: bool) -> defer.Deferred[T]:
        if not self.threaded:
            return now(fn, *args)
        d: defer.Deferred[T] = defer.Deferred()
        self._pending += 1
        self.last_job = time.monotonic()
        with self._lock:
            self._queue.append(_Job(fn, args, d, write))
            ready = self._ready()
        self._start(ready)
        return d

    def _ready(self) -> list[_Job]:
        """The queued jobs that may start now, taken off the queue and
        counted as running (:attr:`_lock` held)."""
        out: list[_Job] = []
        queue = self._queue
        while queue and not self._writing:
            if queue[0].write:
                if not self._reading:
                    self._writing = True
                    out.append(queue.popleft())
                break
            if self._reading >= MAX_READERS:
                break
            self._reading += 1
            out.append(queue.popleft())
        return out

    def _start(self, jobs: list[_Job]) -> None:
        if jobs:
            reactor: Any = self._reactor
            pool = reactor.getThreadPool()
            for job in jobs:
                pool.callInThread(self._run, job)

    def _run(self, job: _Job | None) -> None:
        """In a pool thread: ``job``, then whatever may start next."""
        ident = threading.get_ident()
        reactor: Any = self._reactor
        while job is not None:
            self._posted[ident] = []
            try:
                result: object = guarded(job.fn, *job.args)
            except BaseException:
                result = Failure()
            posted = self._posted.pop(ident)
            reactor.callFromThread(self._deliver, job.d, result, posted)
            with self._lock:
                if job.write:
                    self._writing = False
                else:
                    self._reading -= 1
                ready = self._ready()
            job = ready.pop(0) if ready else None
            del result, posted
            self._start(ready)

    def _deliver(
        self, d: defer.Deferred[Any], result: object, posted: list[Callable[[], object]]
    ) -> None:
        self._pending -= 1
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
            return
        mine = self._posted.get(threading.get_ident())
        if mine is not None:
            mine.append(fn)
        else:
            self._reactor.callFromThread(fn)


def now(fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
    """Run ``fn`` on this thread; its result or failure as a fired Deferred."""
    try:
        return defer.succeed(guarded(fn, *args))
    except Exception:
        return defer.fail()
