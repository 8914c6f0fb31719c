"""Waiting for a reply in tests that drive the protocol through a string
transport: the stores answer asynchronously (Maildir from a worker
thread), so a test waits until the reply it needs has been written, with
a generous bound that only guards against a hang (no timing is asserted)."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater

__all__ = ["until_written"]


async def until_written(transport: Any, marker: bytes, seconds: float = 30.0) -> bytes:
    """The transport's bytes once ``marker`` is among them (or after
    ``seconds``, for the caller's assertion to report what came)."""
    step = 0.005
    for _ in range(int(seconds / step)):
        if marker in transport.value():
            break
        await deferLater(reactor, step, lambda: None)
    out: bytes = transport.value()
    return out
