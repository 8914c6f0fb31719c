"""Large APPEND literals spooled to a temporary file, off the reactor
(issue 16, "Never block the reactor": a 50 MB APPEND must not delay
another client's NOOP).

The framer (:class:`mailframe.imap.framing.Framer`) hands the octets of
an APPEND literal of at least ``--spool-literal`` octets (RFC 3501 §6.3.11:
the message is one literal, up to ``--max-literal``) to a
:class:`FileSpool` as they arrive, instead of growing a buffer and copying
it into one ``bytes`` on the reactor thread.  The spool queues them and
one thread-pool job at a time writes what has queued (``os.writev``, the
GIL released) to an anonymous temporary file; the connection stops
reading while more than :data:`BACKLOG` octets wait to be written, so a
fast client cannot make the server hold its literal in memory.  When the
command is complete, :meth:`FileSpool.read` brings the literal back as
one ``bytes`` object in the thread pool (a single ``pread``, the GIL
released) and closes the file.  The reactor thread never touches the
literal's octets beyond the receive buffer it already had.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

__all__ = ["FileSpool", "BACKLOG", "in_thread_pool", "read_back"]

#: Octets of a literal queued for the writer before the connection stops
#: reading from its socket.
BACKLOG = 8 << 20

#: Most buffers ``os.writev`` takes at once (Linux IOV_MAX).
_IOV_MAX = 1024

Run = Callable[..., "Deferred[Any]"]


class FileSpool:
    """One literal of ``size`` octets on its way to a temporary file in
    ``directory`` (None: the system's).  ``run(f, *args)`` runs ``f`` in a
    thread and gives its result as a Deferred (the reactor's pool)."""

    def __init__(self, size: int, run: Run, directory: str | None = None,
                 on_drain: Callable[[], None] | None = None) -> None:
        self.size = size
        self.directory = directory
        self.on_drain = on_drain
        self._run = run
        self._queue: list[bytes] = []
        #: octets given to :meth:`write` and not yet in the file
        self.backlog = 0
        self.written = 0
        self._fd: int | None = None
        self._busy = False
        self._failure: Failure | None = None
        self._discarded = False
        self._reading = False
        self._idle: list[Deferred[None]] = []

    # --- LiteralSink --------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._discarded or self._failure is not None:
            return
        self._queue.append(data)
        self.backlog += len(data)
        self._kick()

    def discard(self) -> None:
        """Forget the literal: the file is closed (by the thread pool) once
        no write is under way."""
        if self._discarded:
            return
        self._discarded = True
        self._queue = []
        self.backlog = 0
        if not self._busy:
            self._close_file()

    # --- the writer ---------------------------------------------------------

    def _kick(self) -> None:
        if self._busy or not self._queue:
            return
        chunks, self._queue = self._queue, []
        self._busy = True
        d = self._run(self._write_chunks, chunks)
        d.addCallbacks(self._written, self._failed)

    def _write_chunks(self, chunks: list[bytes]) -> int:
        """In a thread: append ``chunks`` to the file (created on first use)."""
        if self._fd is None:
            fd, path = tempfile.mkstemp(prefix="mailframe-literal-", dir=self.directory)
            os.unlink(path)  # anonymous: gone with the descriptor, whatever happens
            self._fd = fd
        total = 0
        for start in range(0, len(chunks), _IOV_MAX):
            batch = chunks[start : start + _IOV_MAX]
            want = sum(len(c) for c in batch)
            done = os.writev(self._fd, batch)
            while done < want:  # a short write: the rest, from where it stopped
                rest = memoryview(b"".join(batch))[done:]
                done += os.write(self._fd, rest)
            total += want
        return total

    def _written(self, count: int) -> None:
        self._busy = False
        self.backlog -= count
        self.written += count
        if self._discarded:
            self._close_file()
            return
        self._kick()
        if not self._busy:
            self._settled()

    def _failed(self, failure: Failure) -> None:
        self._busy = False
        self._failure = failure
        self._queue = []
        self.backlog = 0
        self._settled()

    def _settled(self) -> None:
        """Nothing queued or being written: wake whoever waits for that."""
        idle, self._idle = self._idle, []
        for d in idle:
            d.callback(None)
        if self.on_drain is not None:
            self.on_drain()

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._run(os.close, fd).addErrback(lambda _: None)

    # --- back to bytes --------------------------------------------------------

    def read(self) -> Deferred[bytes]:
        """The whole literal, once every octet is in the file; the file
        is closed afterwards.  Fails if writing failed (a full disk)."""
        if self._discarded or self._reading:
            return fail(RuntimeError("the spooled literal is gone"))
        self._reading = True
        waiting: Deferred[None]
        if self._busy or self._queue:
            waiting = Deferred()
            self._idle.append(waiting)
        else:
            waiting = succeed(None)

        def read_back(_: object) -> Deferred[bytes]:
            if self._failure is not None:
                self._discarded = True
                self._close_file()
                return fail(self._failure)
            fd, self._fd = self._fd, None
            self._discarded = True  # nothing more to write or read
            if fd is None:
                return succeed(b"")
            return self._run(_read_and_close, fd, self.written)

        return waiting.addCallback(read_back)


def _read_and_close(fd: int, size: int) -> bytes:
    """In a thread: the ``size`` octets of ``fd`` from its start (one
    ``pread`` on Linux for anything up to 2 GB), then close it."""
    try:
        data = os.pread(fd, size, 0)
        if len(data) < size:  # a short read: the rest, joined once
            parts = [data]
            got = len(data)
            while got < size:
                more = os.pread(fd, size - got, got)
                if not more:
                    raise OSError(f"spooled literal truncated at {got} of {size} octets")
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data
    finally:
        os.close(fd)


def in_thread_pool(reactor: Any) -> Run:
    """``run`` for :class:`FileSpool`: the reactor's thread pool (the
    global reactor when ``reactor`` has none, a test clock)."""
    from twisted.internet import reactor as global_reactor
    from twisted.internet.threads import deferToThreadPool

    if not hasattr(reactor, "getThreadPool"):
        reactor = global_reactor

    def run(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)

    return run


def read_back(parts: tuple[bytes | object, ...]) -> Deferred[tuple[bytes, ...]]:
    """A command's parts with each :class:`FileSpool` replaced by the
    literal read back from it (one after the other: one literal in memory
    at a time is read; a MULTIAPPEND has several)."""
    out: list[bytes] = []
    spools = [p for p in parts if isinstance(p, FileSpool)]
    result: Deferred[tuple[bytes, ...]] = Deferred()

    def step(data: bytes | None = None) -> None:
        if data is not None:
            out.append(data)
        if len(out) < len(spools):
            spools[len(out)].read().addCallbacks(step, result.errback)
            return
        texts = iter(out)
        result.callback(tuple(p if isinstance(p, bytes) else next(texts) for p in parts))

    step()
    return result
