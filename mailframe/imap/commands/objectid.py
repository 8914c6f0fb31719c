"""OBJECTID (RFC 8474): MAILBOXID, EMAILID, THREADID.

- MAILBOXID (§4) is derived from the account's user name and the
  mailbox's UIDVALIDITY: the stores keep UIDVALIDITY through RENAME and
  give a new one to a mailbox created again (RFC 3501 §2.3.1.1), and it is
  unique within an account, so the id is stable across restarts, follows
  RENAME, and is new after DELETE and CREATE (and for the mailbox a RENAME
  of INBOX makes, §4.3).
- EMAILID (§5.1) is a digest of the message's bytes, as Cyrus makes its
  EMAILID from the message GUID (a digest of the content): the same
  message keeps it through COPY and MOVE and across restarts, and stores
  never change a message's bytes.  It is computed once per message (read
  in chunks, never whole) and cached per mailbox object.
- THREADID (§5.2) is NIL, as Dovecot answers: the server does not group
  messages into threads across mailboxes, so SEARCH THREADID matches
  nothing.

Advertised where the account provides
:class:`mailframe.interfaces.IObjectIdAccount`
(:class:`mailframe.store.objectid.ObjectIdStore` gives it to any store).
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections import OrderedDict
from typing import Any

from mailframe.imap.fetch_items import EXTENSION_ITEMS
from mailframe.imap.search_keys import MARKER, RESOLVERS
from mailframe.imap.types import SearchKey, SearchSet, SequenceSet
from mailframe.interfaces import IObjectIdAccount

__all__ = ["mailbox_id", "email_id", "account_mailbox_id", "OBJECTID", "EMAILID_KEY",
           "THREADID_KEY", "CHUNK"]

#: ``objectid = 1*255(ALPHA / DIGIT / "_" / "-")`` (RFC 8474 §7).
OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")
#: The grammar's marker names for SEARCH EMAILID / THREADID.
EMAILID_KEY = MARKER + "EMAILID"
THREADID_KEY = MARKER + "THREADID"
#: Octets read at a time to digest a message.
CHUNK = 1 << 20
#: EMAILIDs kept per mailbox object.
CACHE_PER_MAILBOX = 100_000


def mailbox_id(username: str, uidvalidity: int) -> str:
    """MAILBOXID of the mailbox of ``username`` with ``uidvalidity``."""
    digest = hashlib.sha256(f"{username}\x00{uidvalidity}".encode()).hexdigest()
    return "F" + digest[:24]


def account_mailbox_id(account: Any, uidvalidity: int, mailbox: Any = None) -> str | None:
    """The MAILBOXID to show, or None where OBJECTID is not offered.  A
    mailbox of another user's (``store_user``, :mod:`mailframe.acl`) has
    its owner's id, the same for every reader (RFC 8474 §4: unique and
    stable per mailbox)."""
    if not IObjectIdAccount.providedBy(account):
        return None
    owner = getattr(mailbox, "store_user", None) if mailbox is not None else None
    return mailbox_id(str(owner or account.username), uidvalidity)


_caches: weakref.WeakKeyDictionary[Any, OrderedDict[int, str]] = weakref.WeakKeyDictionary()


def _cache(mailbox: Any) -> OrderedDict[int, str] | None:
    try:
        cache = _caches.get(mailbox)
        if cache is None:
            cache = _caches[mailbox] = OrderedDict()
        return cache
    except TypeError:  # no weak reference to this mailbox object: no cache
        return None


async def email_id(mailbox: Any, uid: int, size: int) -> str:
    """EMAILID of message ``uid`` (``size`` octets): ``M`` and 24 hex
    digits of the SHA-256 of its bytes."""
    cache = _cache(mailbox)
    if cache is not None and uid in cache:
        cache.move_to_end(uid)
        return cache[uid]
    h = hashlib.sha256()
    for start in range(0, size, CHUNK):
        h.update(await mailbox.read(uid, start, min(size, start + CHUNK)))
    found = "M" + h.hexdigest()[:24]
    if cache is not None:
        cache[uid] = found
        if len(cache) > CACHE_PER_MAILBOX:
            cache.popitem(last=False)
    return found


async def _emailid_item(att: Any, record: Any, msg: Any) -> bytes:
    """``EMAILID (objectid)`` (RFC 8474 §5.1)."""
    return b"EMAILID (%s)" % (await email_id(msg.mailbox, msg.uid, record.size)).encode()


async def _threadid_item(att: Any, record: Any, msg: Any) -> bytes:
    """``THREADID NIL`` (RFC 8474 §5.2: no thread grouping here)."""
    return b"THREADID NIL"


async def _search_emailid(session: Any, wanted: str) -> SearchKey:
    """SEARCH EMAILID (RFC 8474 §6): the UIDs of the selected mailbox whose
    EMAILID is ``wanted``."""
    view, mailbox = session.view, session.mailbox
    uids = [u for u in view.uids if u not in view.ghosts]
    matched: list[int] = []
    for i in range(0, len(uids), 256):
        if i:
            await session.io.pause()
        for st in await mailbox.states(uids[i : i + 256]):
            if await email_id(mailbox, st.uid, st.size) == wanted:
                matched.append(st.uid)
    return SearchSet(SequenceSet(tuple((u, u) for u in matched)), uid=True)


async def _search_threadid(session: Any, wanted: str) -> SearchKey:
    """SEARCH THREADID: every THREADID is NIL, so nothing matches."""
    return SearchSet(SequenceSet(()), uid=True)


EXTENSION_ITEMS["EMAILID"] = _emailid_item
EXTENSION_ITEMS["THREADID"] = _threadid_item
RESOLVERS[EMAILID_KEY] = _search_emailid
RESOLVERS[THREADID_KEY] = _search_threadid
