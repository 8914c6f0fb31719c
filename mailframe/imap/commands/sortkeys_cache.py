"""Sort keys of a mailbox's messages, computed once per message and kept
for every session that sorts or threads the same mailbox.

A message never changes under its (UIDVALIDITY, UID), so its
:class:`~mailframe.message.sortkeys.SortKeys` stay valid until it is
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

_CACHES: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], SortKeys]] = weakref.WeakKeyDictionary()


def _cache(mailbox: Any) -> dict[tuple[int, int], SortKeys]:
    owner = getattr(mailbox, "folder", mailbox)
    try:
        cache = _CACHES.get(owner)
        if cache is None:
            cache = _CACHES[owner] = {}
        return cache
    except TypeError:  # an owner that cannot be weakly referenced: no sharing
        return {}


async def keys_for(session: Any, uids: list[int]) -> dict[int, SortKeys]:
    """The sort keys of ``uids`` of the selected mailbox (those still in
    the store); parses nothing twice."""
    mailbox = session.mailbox
    view = session.view
    validity = view.uidvalidity
    cache = _cache(mailbox)
    out: dict[int, SortKeys] = {}
    missing: list[int] = []
    get = cache.get
    for uid in uids:
        k = get((validity, uid))
        if k is None:
            missing.append(uid)
        else:
            out[uid] = k
    for i in range(0, len(missing), BATCH):
        if i:
            await session.io.pause()  # other sessions run between batches
        for r in await mailbox.records(missing[i : i + BATCH]):
            k = sort_keys(r.info, r.size, r.internaldate)
            cache[(validity, r.uid)] = out[r.uid] = k
    if missing and len(cache) > 2 * len(view.uids) + 1024:
        live = set(view.uids)
        for key in [key for key in cache if key[0] != validity or key[1] not in live]:
            del cache[key]
    return out
