"""FETCH items added by extensions (PREVIEW, RFC 8970; OBJECTID's,
RFC 8474), answered through one hook of :mod:`mailframe.imap.commands.fetch`.

A leaf module (it imports nothing of the handlers), so extension modules
register here and the FETCH handler looks here without an import cycle.
Each entry takes ``(att, record, message)`` -- the FetchAtt asked for, the
message's :class:`mailframe.records.MessageRecord`, and an object with
``mailbox``, ``uid`` and ``async read(start, end)`` -- and returns the
item's wire form (``PREVIEW "..."``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["EXTENSION_ITEMS", "FetchItem"]

FetchItem = Callable[[Any, Any, Any], Awaitable[bytes]]

#: Item name (as the grammar produces it) → its answer.
EXTENSION_ITEMS: dict[str, FetchItem] = {}
