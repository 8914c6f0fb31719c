"""One helper the store and protocol tests used to copy into each file."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer


def result(d: defer.Deferred[Any]) -> Any:
    """The result of an already-fired Deferred (the memory and Maildir
    stores' are); its failure is raised."""
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "Deferred did not fire"
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]
