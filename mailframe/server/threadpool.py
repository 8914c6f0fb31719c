"""A lighter thread pool for the reactor (issue 16, "Never block the
reactor": every Maildir read, fsync and rename is a thread-pool job).

Twisted's ``twisted.python.threadpool.ThreadPool`` hands each job
through a coordinator (``Team``, ``LockWorker``) to a per-thread
``queue.Queue``, whose ``put`` wakes the thread with a pure-Python
``threading.Condition``; measured under the mixed benchmark load this
dispatch was 9-14 % of the server's CPU, on the reactor thread.
:class:`FastThreadPool` keeps the same interface (``callInThread``,
``callInThreadWithCallback``, ``start``, ``stop``, ``adjustPoolsize``) on
one ``queue.SimpleQueue`` (C, no Python-level lock) that idle threads
block on, starting threads as jobs find none idle, up to ``maxthreads``.

:func:`install` makes it the reactor's pool (``reactor.getThreadPool()``,
so ``deferToThread`` and ``deferToThreadPool(reactor,
reactor.getThreadPool(), ...)`` use it), stopped at reactor shutdown as
Twisted stops its own: each thread finishes the job it has, then ends.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["FastThreadPool", "install"]

log = Logger()

_STOP = object()


class FastThreadPool:
    """Up to ``maxthreads`` daemon threads running jobs in FIFO order."""

    def __init__(self, minthreads: int = 0, maxthreads: int = 10,
                 name: str = "mailframe.pool") -> None:
        self.min = minthreads
        self.max = maxthreads
        self.name = name
        self.started = False
        self.joined = False
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []

    # --- Twisted's ThreadPool interface ---------------------------------------

    def start(self) -> None:
        self.started = True
        self.joined = False
        with self._lock:
            while len(self._threads) < self.min:
                self._spawn(claimed=False)

    def callInThread(self, func: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.callInThreadWithCallback(None, func, *args, **kw)

    def callInThreadWithCallback(self, onResult: Callable[[bool, Any], Any] | None,
                                 func: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Run ``func(*args, **kw)`` in a thread; then ``onResult(True,
        result)`` or ``onResult(False, Failure)`` in that thread."""
        if self.joined:
            raise RuntimeError("the thread pool is stopped")
        self._jobs.put((onResult, func, args, kw))
        with self._lock:
            if self._idle:
                self._idle -= 1  # that thread will take the job
            elif len(self._threads) < self.max:
                self._spawn()

    def adjustPoolsize(self, minthreads: int | None = None, maxthreads: int | None = None) -> None:
        if minthreads is not None:
            self.min = minthreads
        if maxthreads is not None:
            self.max = max(maxthreads, self.min, 1)
        if self.started:
            with self._lock:
                while len(self._threads) < self.min:
                    self._spawn(claimed=False)

    def stop(self) -> None:
        """Each thread finishes its job and ends; wait for them."""
        self.joined = True
        self.started = False
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads:
            thread.join()

    # --- inside ---------------------------------------------------------------

    def _spawn(self, claimed: bool = True) -> None:
        """A new thread (the lock is held): for the job just queued
        (``claimed``), or idle."""
        if not claimed:
            self._idle += 1
        thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}",
                                  daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            onResult, func, args, kw = job
            del job
            try:
                result = func(*args, **kw)
                ok = True
            except BaseException:
                result = Failure()
                ok = False
            del func, args, kw
            with lock:
                self._idle += 1  # free for the next job (which onResult may queue at once)
            if onResult is not None:
                try:
                    onResult(ok, result)
                except BaseException:
                    log.failure("thread-pool result callback failed")
            elif not ok:
                log.failure("thread-pool job failed", result)
            del onResult, result

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)


#: Seconds a thread computing in Python keeps the GIL while another
#: waits for it (``sys.setswitchinterval``; CPython's default is 5 ms).
#: The reactor thread gives the GIL up at every ``epoll_wait``, ``send``
#: and ``stat`` and must get it back from a pool thread checking or
#: parsing a large APPEND: with 5 ms, each NOOP answered during a 50 MB
#: APPEND waited for it two or three times (issue 16: NOOP p99 ~20-35 ms).
SWITCH_INTERVAL = 0.001


def install(
    reactor: Any, maxthreads: int = 10, switch_interval: float | None = SWITCH_INTERVAL
) -> FastThreadPool:
    """Make a :class:`FastThreadPool` ``reactor``'s thread pool (before
    anything asked for the old one), started when the reactor runs and
    stopped during its shutdown; set the process's GIL switch interval
    to ``switch_interval`` seconds (None: leave it)."""
    if switch_interval is not None and switch_interval > 0:
        sys.setswitchinterval(switch_interval)
    current = getattr(reactor, "threadpool", None)
    if isinstance(current, FastThreadPool):
        return current
    if current is not None:  # Twisted's, already made: stop it first
        reactor._stopThreadPool()
    pool = FastThreadPool(0, maxthreads)
    reactor.threadpool = pool
    reactor._threadpoolStartupID = reactor.callWhenRunning(pool.start)
    reactor.threadpoolShutdownID = reactor.addSystemEventTrigger(
        "during", "shutdown", reactor._stopThreadPool)
    return pool
