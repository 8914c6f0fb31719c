"""Per-user ``\\Seen`` in shared mailboxes (RFC 4314 §5.2: ``\\Seen``
need not be a shared flag; Dovecot keeps it per user with ``INDEXPVT``).

Where it applies (``--acl-private-seen``: ``public`` for the ``Public/``
mailboxes, a team inbox every reader reads on their own; ``shared`` for
every mailbox a user does not own; ``off``, the default, as Dovecot's
without ``INDEXPVT``), a reader's
``\\Seen`` is theirs alone: what they set or clear, by STORE, by FETCH of
a body or by APPEND, changes their own set, and they see their own set
in FLAGS, SEARCH, STATUS UNSEEN and SELECT's UNSEEN.  The other flags stay
shared.  The set is kept per reader beside the mailbox (so it follows a
RENAME and goes with a DELETE) with the UIDVALIDITY it belongs to (a new
UIDVALIDITY starts it empty).

The reader's other sessions in this process hear of their private
changes at once (IDLE is woken; each session reports what changed since
it last told its client, as FETCH FLAGS).  Limitation (why it is not on by
default): a private change does not move the mailbox's modseq, so
CONDSTORE clients see no new MODSEQ for it, SEARCH/SORT contexts kept up
to date (RFC 5267) are not told of it, and sessions in other processes
hear of it at their next SELECT.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mailframe.vocabulary import SEEN

__all__ = ["PrivateSeen", "MODES", "applies", "with_seen", "without_seen", "parse_uids", "format_uids"]

#: ``--acl-private-seen`` values.
MODES = ("off", "public", "shared")


def applies(mode: str, owner: str | None, reader: str) -> bool:
    """Whether ``reader`` keeps their own ``\\Seen`` on a mailbox of
    ``owner`` (None: the public namespace)."""
    if mode == "shared":
        return owner != reader
    if mode == "public":
        return owner is None
    return False


def without_seen(flags: Iterable[str]) -> frozenset[str]:
    return frozenset(f for f in flags if f.lower() != SEEN.lower())


def with_seen(flags: Iterable[str], seen: bool) -> frozenset[str]:
    rest = without_seen(flags)
    return rest | {SEEN} if seen else rest


def format_uids(uids: Iterable[int]) -> str:
    """``1:3,7`` for {1, 2, 3, 7}."""
    ordered = sorted(uids)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_uids(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition(":")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


#: Sessions watching a reader's private \\Seen on a mailbox, in this
#: process: (owner's store user, mailbox name, reader) → callbacks.
_listeners: dict[tuple[str, str, str], set[Callable[[], object]]] = {}


class PrivateSeen:
    """One reader's ``\\Seen`` set on one mailbox, through the ACL
    storage's ``get_seen``/``set_seen``."""

    def __init__(self, acls: Any, store_user: str, inner: Any, reader: str) -> None:
        self.acls = acls
        self.store_user = store_user
        self.inner = inner
        self.reader = reader
        self.uidvalidity: int | None = None

    def _key(self) -> tuple[str, str, str]:
        return (self.store_user, str(self.inner.name), self.reader)

    def listen(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call ``callback`` after any private change of this reader's on
        this mailbox (so the reader's other sessions, IDLE ones first,
        catch up); returns the unregister."""
        key = self._key()
        _listeners.setdefault(key, set()).add(callback)

        def stop() -> None:
            callbacks = _listeners.get(key)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del _listeners[key]

        return stop

    def _changed(self) -> None:
        for callback in list(_listeners.get(self._key(), ())):
            try:
                callback()
            except Exception:  # a listener must not break the change
                pass

    async def _uidvalidity(self) -> int:
        if self.uidvalidity is None:
            self.uidvalidity = (await self.inner.status()).uidvalidity
        return self.uidvalidity

    async def load(self, uidvalidity: int | None = None) -> set[int]:
        """The reader's seen UIDs (for ``uidvalidity``: another one stored
        means none)."""
        if uidvalidity is not None:
            self.uidvalidity = uidvalidity
        current = await self._uidvalidity()
        stored = await self.acls.get_seen(self.store_user, str(self.inner.name), self.reader)
        if stored is None or stored[0] != current:
            return set()
        return set(stored[1])

    async def update(self, add: Iterable[int] = (), remove: Iterable[int] = (),
                     uidvalidity: int | None = None) -> tuple[set[int], set[int]]:
        """Change the set; (the set now, the UIDs whose membership changed)."""
        seen = await self.load(uidvalidity)
        before = set(seen)
        seen.update(add)
        seen.difference_update(remove)
        if seen != before:
            await self.acls.set_seen(self.store_user, str(self.inner.name), self.reader,
                                     await self._uidvalidity(), frozenset(seen))
            self._changed()
        return seen, seen ^ before
