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

Modseqs (RFC 7162 §3.1): a private change moves the reader's modseq, as
Dovecot's private index does (its own modseqs, the user seeing the
larger).  So that the reader's modseqs stay one ascending sequence
without touching the owner's counter, the reader sees each shared modseq
``s`` as ``s * SCALE`` and a private change made while the mailbox stood
at ``s`` as ``s * SCALE + j`` (``j`` counting from 1): every later shared
change (``s + 1`` or more) comes after it, every earlier one before.  A
message's modseq is then the larger of its shared one (scaled) and that of
its last private change; the mailbox's HIGHESTMODSEQ the larger of the
shared one (scaled) and the reader's last private modseq.  CHANGEDSINCE,
UNCHANGEDSINCE, the MODSEQ search key and SEARCH/SORT contexts kept up to
date (RFC 5267) all hear of private changes, and the owner's view is
untouched.  (More than ``SCALE - 1`` private changes while no shared one
happens would reach the next shared modseq: about a million commands.)

The reader's other sessions hear of their private changes at once: in
this process through :meth:`PrivateSeen.listen`, in other processes
through the store's watch of the private file where it has one
(``watch_seen``: inotify on the Maildir folder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailframe.vocabulary import SEEN

__all__ = ["PrivateSeen", "SeenState", "MODES", "SCALE", "applies", "with_seen", "without_seen",
           "parse_uids", "format_uids", "parse_state", "format_state", "shared_modseq"]

#: ``--acl-private-seen`` values.
MODES = ("off", "public", "shared")

#: A shared modseq ``s`` is ``s * SCALE`` to a reader with a private
#: \Seen; private changes take the values in between (module docstring).
SCALE = 1 << 20


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


@dataclass(frozen=True)
class SeenState:
    """One reader's private state on one mailbox: the seen UIDs, the
    modseq of each UID's last private change, and the last private modseq
    given (all in the reader's scale, :data:`SCALE`)."""

    uidvalidity: int
    seen: frozenset[int]
    highest: int = 0
    modseqs: Mapping[int, int] = field(default_factory=dict)

    def message_modseq(self, uid: int, shared: int) -> int:
        """The modseq the reader sees for ``uid`` at shared ``shared``."""
        return max(shared * SCALE, self.modseqs.get(uid, 0))

    def highest_modseq(self, shared: int) -> int:
        """The HIGHESTMODSEQ the reader sees at shared ``shared``."""
        return max(shared * SCALE, self.highest)

    def changed_after(self, modseq: int) -> set[int]:
        """UIDs whose private change came after ``modseq``."""
        return {uid for uid, m in self.modseqs.items() if m > modseq}


def shared_modseq(modseq: int) -> int:
    """The owner's modseq a reader's ``modseq`` stands at: a shared change
    ``s`` is after the reader's ``modseq`` iff ``s > shared_modseq(modseq)``,
    and unchanged since it iff ``s <= shared_modseq(modseq)``."""
    return modseq // SCALE


def format_state(state: SeenState) -> str:
    """The private file: UIDVALIDITY, the seen UIDs, the last private
    modseq, then one ``MODSEQ UIDS`` line per private change still
    standing."""
    by_modseq: dict[int, list[int]] = {}
    for uid, m in state.modseqs.items():
        by_modseq.setdefault(m, []).append(uid)
    lines = [str(state.uidvalidity), format_uids(state.seen), str(state.highest)]
    lines += [f"{m} {format_uids(uids)}" for m, uids in sorted(by_modseq.items())]
    return "\n".join(lines) + "\n"


def parse_state(text: str) -> SeenState:
    """:func:`format_state` read back (a file of two lines, written before
    private modseqs, has none)."""
    lines = text.split("\n")
    validity = int(lines[0])
    seen = frozenset(parse_uids(lines[1] if len(lines) > 1 else ""))
    highest = int(lines[2]) if len(lines) > 2 and lines[2].strip() else 0
    modseqs: dict[int, int] = {}
    for line in lines[3:]:
        if line.strip():
            m, _, uids = line.partition(" ")
            modseqs.update((uid, int(m)) for uid in parse_uids(uids))
    return SeenState(validity, seen, highest, modseqs)


#: Sessions watching a reader's private \\Seen on a mailbox, in this
#: process: (owner's store user, mailbox name, reader) → callbacks.
_listeners: dict[tuple[str, str, str], set[Callable[[], object]]] = {}


class PrivateSeen:
    """One reader's ``\\Seen`` set on one mailbox, through the ACL
    storage's ``get_seen``/``set_seen`` (:class:`SeenState`)."""

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
        catch up), in this process and, where the store can watch the
        private file (``watch_seen``), in others; returns the unregister."""
        key = self._key()
        _listeners.setdefault(key, set()).add(callback)
        watch = getattr(self.acls, "watch_seen", None)
        unwatch: Callable[[], None] | None = None
        if watch is not None:
            try:
                unwatch = watch(self.store_user, str(self.inner.name), self.reader, callback)
            except Exception:  # no watch: the next command still sees the change
                unwatch = None

        def stop() -> None:
            callbacks = _listeners.get(key)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del _listeners[key]
            if unwatch is not None:
                unwatch()

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

    async def state(self, uidvalidity: int | None = None) -> SeenState:
        """The reader's state (for ``uidvalidity``: another one stored
        means an empty one)."""
        if uidvalidity is not None:
            self.uidvalidity = uidvalidity
        current = await self._uidvalidity()
        stored: SeenState | None = await self.acls.get_seen(self.store_user, str(self.inner.name), self.reader)
        if stored is None or stored.uidvalidity != current:
            return SeenState(current, frozenset())
        return stored

    async def load(self, uidvalidity: int | None = None) -> set[int]:
        """The reader's seen UIDs."""
        return set((await self.state(uidvalidity)).seen)

    async def update(self, add: Iterable[int] = (), remove: Iterable[int] = (),
                     uidvalidity: int | None = None) -> tuple[set[int], set[int]]:
        """Change the set; (the set now, the UIDs whose membership changed).
        The changed UIDs take a new private modseq, after the reader's last
        one and after the mailbox's shared modseq now (read first: a
        shared change after that read is ``s + 1`` or more, so after it).
        The read-change-write is one step against the reader's other
        sessions (the store's ``update_seen``)."""
        current = await self._uidvalidity() if uidvalidity is None else uidvalidity
        self.uidvalidity = current
        shared = (await self.inner.status()).highestmodseq
        added, removed = set(add), set(remove)
        result: dict[str, set[int]] = {}

        def change(stored: SeenState | None) -> SeenState | None:
            state = stored if stored is not None and stored.uidvalidity == current else SeenState(current, frozenset())
            seen = (set(state.seen) | added) - removed
            flips = seen ^ state.seen
            result["seen"], result["flips"] = seen, set(flips)
            if not flips:
                return None
            modseq = state.highest_modseq(shared) + 1
            modseqs = dict(state.modseqs)
            modseqs.update((uid, modseq) for uid in flips)
            return SeenState(current, frozenset(seen), modseq, modseqs)

        name = str(self.inner.name)
        if hasattr(self.acls, "update_seen"):
            await self.acls.update_seen(self.store_user, name, self.reader, change)
        else:
            after = change(await self.acls.get_seen(self.store_user, name, self.reader))
            if after is not None:
                await self.acls.set_seen(self.store_user, name, self.reader, after)
        if result["flips"]:
            self._changed()
        return result["seen"], result["flips"]
