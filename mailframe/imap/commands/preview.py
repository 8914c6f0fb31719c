"""PREVIEW (RFC 8970): the FETCH item ``PREVIEW`` and ``PREVIEW (LAZY)``.

The text (:mod:`mailframe.message.preview`) is made once per message and
kept in a per-mailbox cache for as long as the mailbox object lives, so
a client that fetches PREVIEW on every sync costs one read of the first
text part per message and process.  It is cheap enough that ``LAZY``
(§4.1: "the server MAY return NIL ... if not readily available") is
answered with the text as well, never NIL.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

from mailframe.imap.fetch_items import EXTENSION_ITEMS
from mailframe.message.preview import make_preview, preview_range
from mailframe.wire import string

__all__ = ["preview_of", "CACHE_PER_MAILBOX"]

#: Previews kept per mailbox object (about 200 octets each).
CACHE_PER_MAILBOX = 50_000

_caches: weakref.WeakKeyDictionary[Any, OrderedDict[int, str]] = weakref.WeakKeyDictionary()


def _cache(mailbox: Any) -> OrderedDict[int, str] | None:
    try:
        cache = _caches.get(mailbox)
        if cache is None:
            cache = _caches[mailbox] = OrderedDict()
        return cache
    except TypeError:  # a mailbox object that takes no weak reference: no cache
        return None


async def preview_of(mailbox: Any, uid: int, record: Any) -> str:
    """The preview of message ``uid`` (its ``record`` gives the part)."""
    cache = _cache(mailbox)
    if cache is not None and uid in cache:
        cache.move_to_end(uid)
        return cache[uid]
    rng = preview_range(record.info)
    body = b"" if rng is None else await mailbox.read(uid, rng[0], rng[1])
    text = make_preview(record.info, body)
    if cache is not None:
        cache[uid] = text
        if len(cache) > CACHE_PER_MAILBOX:
            cache.popitem(last=False)
    return text


async def _preview_item(att: Any, record: Any, msg: Any) -> bytes:
    """``PREVIEW nstring`` (RFC 8970 §5), as a quoted string or, for
    8-bit text, a literal."""
    text = await preview_of(msg.mailbox, msg.uid, record)
    return b"PREVIEW " + string(text.encode("utf-8"))


EXTENSION_ITEMS["PREVIEW"] = _preview_item
