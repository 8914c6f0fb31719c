"""Messages in consecutive groups bounded by bytes.

FETCH of bodies and SEARCH BODY/TEXT read message bytes a group at a time
(one store call per group, :class:`mailframe.interfaces.IBatchReadMailbox`),
so that the per-message cost stays small and the memory held is bounded by
the group, never by the mailbox.  Each command says how much a message
weighs: what it will read of it ahead of time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["byte_groups"]

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
