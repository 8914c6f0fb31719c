"""``--stall-warn``: a reactor kept busy past the threshold is reported
with the stack it was busy in (issue 16: find what delays NOOPs)."""

from __future__ import annotations

import time
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from mailframe.server.stallwatch import StallWatch


def hold_the_reactor_for_a_while() -> None:
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # Python code: the watcher can sample it
        sum(range(1000))


class StallWatchTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_a_blocked_reactor_is_reported_with_its_stack(self):  # type: ignore[no-untyped-def]
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        watch = StallWatch(reactor, threshold=0.05, interval=0.01)
        watch.start()
        self.addCleanup(watch.stop)
        yield deferLater(reactor, 0.1, lambda: None)
        yield deferLater(reactor, 0, hold_the_reactor_for_a_while)
        for _ in range(500):  # until the watcher has seen the reactor answer (a hang guard)
            if watch.stalls:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertGreaterEqual(watch.stalls, 1)
        texts = [e.get("where", "") for e in events if e.get("log_namespace") == "mailframe.stall"]
        self.assertTrue(any("hold_the_reactor_for_a_while" in t for t in texts), texts)
