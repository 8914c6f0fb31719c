"""The IMAP connection's side of large APPEND literals
(:mod:`mailframe.server.spool`): the framer's sinks, and commands queued
until their literals are read back, in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailframe.imap._chars import read_tag
from mailframe.imap.framing import Frame, FrameError, LiteralSink, SpooledFrame
from mailframe.server.spool import FileSpool, in_thread_pool, read_back

__all__ = ["Spooled", "SpoolingMixin"]

log = Logger(namespace="mailframe.server.protocol")


@dataclass
class Spooled:
    """A queued command whose large literals are still in their spools:
    ``event`` is set once they are read back (or reading failed)."""

    parts: tuple[bytes | LiteralSink, ...]
    event: Frame | FrameError | None = None


class SpoolingMixin:
    """For :class:`mailframe.server.protocol.IMAPServerProtocol`."""

    if TYPE_CHECKING:
        queue: deque[Frame | FrameError | Spooled]
        _spools: set[FileSpool]
        clock: Any
        context: Any
        waiter: Deferred[Any] | None
        _update_reading: Callable[[], None]
        next_event: Callable[[], Deferred[Any]]

    def _new_spool(self, size: int) -> LiteralSink:
        """The framer's sink for an APPEND literal of ``size`` octets."""
        spool = FileSpool(size, in_thread_pool(self.clock), self.context.spool_dir,
                          on_drain=self._update_reading)
        self._spools.add(spool)
        return spool

    def _read_spooled(self, event: SpooledFrame) -> None:
        """Queue the command; read its spooled literals back in the thread
        pool, then let the session have it (commands stay in order: later
        ones queue behind it)."""
        entry = Spooled(event.parts)
        self.queue.append(entry)

        def failed(failure: Failure) -> FrameError:
            log.failure("reading back a spooled literal", failure)
            for part in event.parts:
                if isinstance(part, FileSpool):
                    part.discard()
            tag = event.parts[0]
            return FrameError(read_tag(tag) if isinstance(tag, bytes) else None, "NO",
                              "Cannot store the message now", "SERVERBUG")

        def done(result: Frame | FrameError) -> None:
            entry.event = result
            self._spools.difference_update(p for p in event.parts if isinstance(p, FileSpool))
            self._update_reading()
            if self.waiter is not None and self.queue and self.queue[0] is entry:
                w, self.waiter = self.waiter, None
                self.next_event().chainDeferred(w)

        d: Deferred[Frame | FrameError] = read_back(event.parts).addCallback(Frame)
        d.addErrback(failed).addCallback(done)

    def _head_unread(self) -> bool:
        head = self.queue[0] if self.queue else None
        return isinstance(head, Spooled) and head.event is None

    def _clear_queue(self) -> None:
        """Drop every queued command, forgetting their spooled literals."""
        for entry in self.queue:
            if isinstance(entry, Spooled):
                for part in entry.parts:
                    if isinstance(part, FileSpool):
                        part.discard()
        self.queue.clear()
        for spool in self._spools:
            spool.discard()
        self._spools.clear()
