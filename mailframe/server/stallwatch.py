"""``--stall-warn MS``: log what the reactor thread was doing whenever it
kept every connection of its process waiting longer than ``MS``
milliseconds (issue 16, "Never block the reactor").

A daemon thread asks the reactor, through ``callFromThread``, to answer;
while no answer comes within the threshold it samples the reactor
thread's Python stack every millisecond or so (``sys._current_frames``).
When the answer comes, one warning names how long the reactor was away,
the stack it was seen in most often, and what the other threads held
(a thread computing in Python keeps the GIL from the reactor for up to
``sys.getswitchinterval()`` at a time).  The answer is queued behind
whatever the reactor is running, so one figure covers one reactor turn:
a single slow call, or many short ones served back to back.

Off by default: the probe wakes the reactor ``1 / interval`` times a
second, cheap but not free.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import Counter
from typing import Any

from twisted.logger import Logger

__all__ = ["StallWatch"]

log = Logger(namespace="mailframe.stall")

#: Frames of a stack kept in a report (innermost last).
DEPTH = 14


def _stack(frame: Any) -> str:
    entries = traceback.extract_stack(frame, limit=DEPTH)
    return " <- ".join(f"{e.name} ({_short(e.filename)}:{e.lineno})" for e in reversed(entries))


def _short(path: str) -> str:
    for marker in ("/mailframe/", "/twisted/", "/lib/python"):
        at = path.rfind(marker)
        if at >= 0:
            return path[at + 1 :]
    return path


class StallWatch:
    """Watch ``reactor`` from a daemon thread; warn about turns longer than
    ``threshold`` seconds, probing every ``interval`` seconds."""

    def __init__(self, reactor: Any, threshold: float, interval: float = 0.05) -> None:
        self.reactor = reactor
        self.threshold = threshold
        self.interval = interval
        self.stalls = 0
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reactor_thread: int | None = None
        self._schedstat = ""

    def start(self) -> None:
        """Start watching (call from the reactor thread)."""
        self._reactor_thread = threading.get_ident()
        self._schedstat = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self._thread = threading.Thread(target=self._run, name="mailframe-stallwatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            answered = threading.Event()
            sent = time.monotonic()
            try:
                self.reactor.callFromThread(answered.set)
            except RuntimeError:  # the reactor is gone
                return
            if answered.wait(self.threshold):
                continue
            queued = self._run_delay()
            seen: Counter[str] = Counter()
            others: Counter[str] = Counter()
            while not answered.wait(0.001):
                frames = sys._current_frames()
                frame = frames.get(self._reactor_thread or 0)
                if frame is not None:
                    seen[_stack(frame)] += 1
                for ident, other in frames.items():
                    if ident not in (self._reactor_thread, threading.get_ident()):
                        top = traceback.extract_stack(other, limit=1)
                        if top and not top[-1].name.startswith(("wait", "_worker", "get")):
                            others[f"{top[-1].name} ({_short(top[-1].filename)}:{top[-1].lineno})"] += 1
                if self._stop.is_set():
                    return
            took = time.monotonic() - sent
            queued = self._run_delay() - queued
            self.stalls += 1
            self.worst = max(self.worst, took)
            common = seen.most_common(3)
            log.warn("reactor stalled {ms:.0f} ms ({queued:.0f} ms of it waiting for a CPU after "
                     "the first {threshold:.0f}; {samples} samples); mostly in: {where}; "
                     "other threads: {others}", ms=took * 1000, queued=queued * 1000,
                     threshold=self.threshold * 1000, samples=sum(seen.values()),
                     where=" || ".join(f"[{n}] {s}" for s, n in common) or "?",
                     others=", ".join(f"[{n}] {s}" for s, n in others.most_common(3)) or "idle")

    def _run_delay(self) -> float:
        """Seconds the reactor thread has spent runnable but waiting for a
        CPU (Linux schedstat; 0 elsewhere): a loaded machine, not the
        server, made it late."""
        try:
            with open(self._schedstat) as f:
                return int(f.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0
