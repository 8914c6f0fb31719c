"""SEARCH keys added by extensions that need the mailbox to be answered
(OBJECTID's ``EMAILID``, RFC 8474 §6), resolved through one hook at the
start of :func:`mailframe.imap.commands.search.run_search`.

The grammar gives such a key as a :class:`mailframe.imap.types.SearchHeader`
whose name is a marker no header can have (it starts with NUL); a resolver
registered here replaces it by the UID set it matches before anything else
sees the key, so every matcher (the session's, a store's pushdown, SORT,
THREAD, CONTEXT updates) handles a plain key.  A leaf module: extensions
register here, the search handler looks here, no import cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mailframe.imap.types import SearchAnd, SearchHeader, SearchKey, SearchNot, SearchOr

__all__ = ["MARKER", "RESOLVERS", "resolve"]

#: Marker prefix of an extension key's name.
MARKER = "\x00"

#: marker name → ``async (session, value) -> SearchKey``.
RESOLVERS: dict[str, Callable[[Any, str], Awaitable[SearchKey]]] = {}


def _has_marker(key: SearchKey) -> bool:
    if isinstance(key, SearchHeader):
        return key.name.startswith(MARKER)
    if isinstance(key, SearchNot):
        return _has_marker(key.key)
    if isinstance(key, SearchOr):
        return _has_marker(key.left) or _has_marker(key.right)
    if isinstance(key, SearchAnd):
        return any(_has_marker(k) for k in key.keys)
    return False


async def resolve(session: Any, key: SearchKey) -> SearchKey:
    """``key`` with every extension key replaced by what it matches."""
    if not _has_marker(key):
        return key
    if isinstance(key, SearchHeader):
        return await RESOLVERS[key.name](session, key.value)
    if isinstance(key, SearchNot):
        return SearchNot(await resolve(session, key.key))
    if isinstance(key, SearchOr):
        return SearchOr(await resolve(session, key.left), await resolve(session, key.right))
    if isinstance(key, SearchAnd):
        return SearchAnd(tuple([await resolve(session, k) for k in key.keys]))
    return key
