"""Change notification across frontends (PostgreSQL LISTEN/NOTIFY).

Each process keeps one listening connection in a thread of its own
(psycopg's ``notifies()`` blocks other queries on its connection, so it
cannot share one).  A notification ``mailbox:modseq`` wakes the watchers of
that mailbox in the reactor thread; they catch up with ``changes_since``.
After the connection is lost and comes back, every watched mailbox is
woken once (anything may have changed meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

__all__ = ["Listener"]

_log = Logger()


class Listener:
    """LISTEN on ``channel`` in a thread; ``deliver({mailbox: modseq})`` is
    called in the reactor thread (``None``: resync everything)."""

    def __init__(
        self,
        conninfo: str,
        channel: str,
        deliver: Callable[[dict[int, int] | None], None],
        reactor: Any = None,
        own: Callable[[int], bool] = lambda pid: False,
    ) -> None:
        """``own(pid)``: whether a notification sent by backend ``pid``
        came from this process's own store, whose watchers heard of it at
        commit (such a notification is not delivered again)."""
        if reactor is None:
            from twisted.internet import reactor as default

            reactor = default
        self.conninfo = conninfo
        self.channel = channel
        self.deliver = deliver
        self.reactor = reactor
        self.own = own
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mailframe-listen", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psycopg
        from psycopg import sql

        delay = 0.1
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    if not first:
                        self.reactor.callFromThread(self.deliver, None)
                    first, delay = False, 0.1
                    while not self._stop.is_set():
                        changed: dict[int, int] = {}
                        for note in conn.notifies(timeout=0.2, stop_after=1000):
                            if self.own(note.pid):
                                continue
                            box, _, modseq = note.payload.partition(":")
                            changed[int(box)] = max(int(modseq), changed.get(int(box), 0))
                        if changed:
                            self.reactor.callFromThread(self.deliver, changed)
            except Exception as exc:
                self.listening.clear()
                if self._stop.is_set():
                    break
                _log.warn("change listener lost its connection ({exc}); retrying", exc=exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def stop(self) -> None:
        """Stop listening (blocks until the thread ends: call it in a thread)."""
        self._stop.set()
        self._thread.join(timeout=5)
