"""Sort keys of a mailbox's messages, computed once per message and kept
for every session that sorts or threads the same mailbox.

A message never changes under its (UIDVALIDITY, UID), so its
:class:`mailframe.message.sortkeys.SortKeys` stay valid until it is
expunged.  The cache hangs off the store object that outlives sessions
(a Maildir ``Folder``, a memory mailbox), held weakly; keys of expunged
messages are dropped when they outnumber the live ones.
"""

from __future__ import annotations

import weakref
from typing import Any

from mailframe.message.sortkeys import SortKeys, sort_keys

__all__ = ["keys_for"]

BATCH = 512
#: Keys kept over all mailboxes (a few hundred bytes each); past it the
#: other mailboxes' keys are dropped (recomputed when next needed).
MAX_CACHED = 250_000

#: owner -> UIDVALIDITY -> UID -> keys
_CACHES: weakref.WeakKeyDictionary[Any, dict[int, dict[int, SortKeys]]] = weakref.WeakKeyDictionary()


def _cache(mailbox: Any, validity: int) -> dict[int, SortKeys]:
    owner = getattr(mailbox, "folder", mailbox)
    try:
        by_validity = _CACHES.get(owner)
        if by_validity is None:
            by_validity = _CACHES[owner] = {}
    except TypeError:  # an owner that cannot be weakly referenced: no sharing
        return {}
    cache = by_validity.get(validity)
    if cache is None:
        by_validity.clear()  # a new UIDVALIDITY: the old UIDs mean nothing now
        cache = by_validity[validity] = {}
    return cache


async def keys_for(session: Any, uids: list[int]) -> list[SortKeys | None]:
    """The sort keys of ``uids`` of the selected mailbox, index for index
    (None for a message gone from the store); parses nothing twice."""
    mailbox = session.mailbox
    view = session.view
    cache = _cache(mailbox, view.uidvalidity)
    out: list[SortKeys | None] = list(map(cache.get, uids))
    missing = [uid for uid, k in zip(uids, out, strict=True) if k is None]
    for i in range(0, len(missing), BATCH):
        if i:
            await session.io.pause()  # other sessions run between batches
        for r in await mailbox.records(missing[i : i + BATCH]):
            cache[r.uid] = sort_keys(r.info, r.size, r.internaldate)
    if missing:
        _trim(cache)
        out = list(map(cache.get, uids))
        if len(cache) > 2 * len(view.uids) + 1024:
            live = set(view.uids)
            for uid in [uid for uid in cache if uid not in live]:
                del cache[uid]
    return out


def _trim(keep: dict[int, SortKeys]) -> None:
    """Hold the cache under :data:`MAX_CACHED` keys, sparing ``keep``."""
    caches = [c for by_validity in list(_CACHES.values()) for c in by_validity.values()]
    if sum(map(len, caches)) <= MAX_CACHED:
        return
    for c in caches:
        if c is not keep:
            c.clear()
