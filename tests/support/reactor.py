"""Run a coroutine to completion on the global reactor from a plain
(pytest) test: the reactor runs in a background thread for the whole test
session, and each call blocks until its coroutine finishes."""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.threads import blockingCallFromThread

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _ensure_running() -> None:
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(
                target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
            )
            _thread.start()


def run_on_reactor(coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Run ``coro`` in the reactor thread and return its result."""
    _ensure_running()
    return blockingCallFromThread(reactor, lambda: Deferred.fromCoroutine(coro))
