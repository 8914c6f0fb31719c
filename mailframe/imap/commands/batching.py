"""Messages in consecutive groups bounded by bytes.

FETCH of bodies and SEARCH BODY/TEXT read message bytes a group at a time
(one store call per group, :class:`mailframe.interfaces.IBatchReadMailbox`),
so that the per-message cost stays small and the memory held is bounded by
the group, never by the mailbox.  Each command says how much a message
weighs: what it will read of it ahead of time.  FETCH starts the read of
the next group (:func:`read_ahead`) while it encodes the one before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from mailframe.errors import ExpungeIssued

__all__ = ["byte_groups", "forget", "read_ahead", "read_done"]

E = TypeVar("E")


def byte_groups(entries: Sequence[E], limit: int, weight: Callable[[E], int]) -> list[list[E]]:
    """``entries`` in order, cut into groups whose weights add up to at most
    ``limit`` (a group always holds at least one entry)."""
    out: list[list[E]] = [[]]
    total = 0
    for entry in entries:
        size = weight(entry)
        if out[-1] and total + size > limit:
            out.append([])
            total = 0
        out[-1].append(entry)
        total += size
    return out


def read_ahead(batch: Any, group: list[tuple[int, int, Any]], limit: int) -> Awaitable[dict[int, bytes]] | None:
    """Start reading the whole messages of ``group`` (``(seq, uid,
    record)`` entries) up to ``limit`` bytes each, in one
    :meth:`mailframe.interfaces.IBatchReadMailbox.read_many` call; None
    when there are none."""
    small = [u for _, u, r in group if r.size <= limit]
    if batch is None or not small:
        return None
    try:
        reading: Awaitable[dict[int, bytes]] = batch.read_many(small)
    except ExpungeIssued:  # a store that answers at once: read one by one
        return None
    return reading


async def read_done(reading: Awaitable[dict[int, bytes]]) -> dict[int, bytes]:
    """What :func:`read_ahead` read; nothing when one of the messages
    went meanwhile (they are then read one by one)."""
    try:
        return await reading
    except ExpungeIssued:
        return {}


def forget(reading: Awaitable[Any] | None) -> None:
    """A read ahead no longer wanted (the FETCH failed): its failure, if
    any, is not an unhandled error; a coroutine that never ran is closed."""
    if reading is None:
        return
    errback = getattr(reading, "addErrback", None)
    if callable(errback):
        errback(lambda _failure: None)
    close = getattr(reading, "close", None)
    if callable(close):
        close()
