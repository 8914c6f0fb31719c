"""The "mailbox is a log" bookkeeping every backend shares (DESIGN.md).

:class:`MailboxLog` keeps, for one mailbox, everything the IMAP session
needs apart from the message bytes and their parsed structure:

- ``uidvalidity``, ``uidnext`` and ``highestmodseq`` (RFC 3501 §2.3.1.1,
  RFC 7162 §3.1);
- the flags and modseq of every message (:class:`mailframe.records.FlagState`),
  by UID;
- expunge tombstones ``(modseq, uid)`` so that :meth:`MailboxLog.changes_since`
  can report VANISHED UIDs (RFC 7162 §3.2.5);
- which new messages are still ``\\Recent`` (RFC 3501 §2.3.2);
- the watchers to tell after each committed change.

It holds no message content and does no I/O, so the memory store, the
Maildir store (which persists :meth:`MailboxLog.to_state`) and a user's own
backend can all build on it.  A backend first makes its change durable, then
records it here; the log notifies watchers at once (synchronously), so a
watcher never hears of a change it cannot yet read.

Costs: UIDs are kept in an ascending list (bisect for ranges); live states in
a dict ordered by modseq (a changed message moves to the end), so
``changes_since(m)`` walks only the messages changed after ``m``; tombstones
are appended in modseq order and found by bisect.  Status counters (messages,
unseen, deleted, size, recent) are maintained incrementally.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.logger import Logger

from mailframe.records import Changes, FlagState, MailboxStatus, Snapshot, StoreMode, StoreResult
from mailframe.store._watchers import Watchers

__all__ = [
    "MailboxLog",
    "RECENT",
    "SEEN",
    "DELETED",
    "STORE_MODES",
    "new_uidvalidity",
    "apply_mode",
]

RECENT = "\\Recent"
SEEN = "\\Seen"
DELETED = "\\Deleted"

#: The three ways STORE changes flags (RFC 3501 §6.4.6: FLAGS, +FLAGS, -FLAGS).
STORE_MODES = tuple(StoreMode)

_MAX_UID = 2**32 - 1
_log = Logger()


def new_uidvalidity(previous: int = 0) -> int:
    """A fresh UIDVALIDITY: the current time in seconds, but always larger
    than ``previous`` so a recreated or renamed-over name never repeats one
    (RFC 3501 §2.3.1.1: "the unique identifier validity value ... MUST NOT
    be reused").  Fits the nz-number 32-bit range."""
    value = max(int(time.time()), previous + 1)
    if value > _MAX_UID:  # pragma: no cover - after year 2106
        value = 1
    return value


def apply_mode(old: frozenset[str], mode: StoreMode | str, flags: frozenset[str]) -> frozenset[str]:
    """The flags after a STORE of ``flags`` in ``mode`` onto ``old``.

    ``\\Recent`` is never stored (RFC 3501 §2.3.2: it cannot be altered by
    the client), whatever the mode.
    """
    flags = flags - {RECENT}
    if mode == "set":
        new = flags
    elif mode == "add":
        new = old | flags
    elif mode == "remove":
        new = old - flags
    else:
        raise ValueError(f"unknown store mode {mode!r}")
    return frozenset(new)


class MailboxLog:
    """One mailbox's log: UIDs, flags, modseqs, tombstones, \\Recent, watchers.

    All mutating methods notify the watchers after they change anything
    (unless inside :meth:`batch`, which notifies once at its end).  Every
    mutating call takes exactly one new modseq, shared by the messages it
    changes (RFC 7162 §3.1: a larger modseq than any earlier change; several
    messages changed by one command may share one).  A new mailbox starts at
    ``highestmodseq`` 1, since a mod-sequence-value is positive (RFC 7162
    §7), so ``changes_since(0)`` and ``changes_since(1)`` both start from
    the empty mailbox.
    """

    def __init__(self, uidvalidity: int, uidnext: int = 1, highestmodseq: int = 1) -> None:
        if not 0 < uidvalidity <= _MAX_UID:
            raise ValueError("uidvalidity must be a positive 32-bit number")
        self.uidvalidity = uidvalidity
        self.uidnext = uidnext
        self.highestmodseq = highestmodseq
        #: live states, ordered by ascending modseq (insertion order).
        self._live: dict[int, FlagState] = {}
        #: live UIDs, ascending.
        self._uids: list[int] = []
        #: tombstones: parallel lists, ascending modseq.
        self._tomb_modseq: list[int] = []
        self._tomb_uid: list[int] = []
        #: tombstones with a modseq <= this have been forgotten (0: none):
        #: ``changes_since`` below it misses expunges (RFC 7162 §3.2.5.2).
        self.tombstone_floor = 0
        self._sizes: dict[int, int] = {}
        self._size = 0
        self._unseen = 0
        self._deleted = 0
        #: UIDs >= this are \Recent for whoever claims them next.
        self._recent_floor = uidnext
        self._watchers = Watchers()
        self._batch_depth = 0
        self._dirty = False

    # ------------------------------------------------------------------ reads

    def __len__(self) -> int:
        return len(self._uids)

    def __contains__(self, uid: object) -> bool:
        return uid in self._live

    def size_of(self, uid: int) -> int:
        """The size recorded for ``uid`` at :meth:`append` (0 if unknown)."""
        return self._sizes.get(uid, 0)

    def get(self, uid: int) -> FlagState | None:
        """The state of ``uid``, or ``None`` if it does not exist (now)."""
        return self._live.get(uid)

    @property
    def uids(self) -> tuple[int, ...]:
        """Every live UID, ascending (a copy: O(n))."""
        return tuple(self._uids)

    @property
    def largest_uid(self) -> int:
        """The largest live UID, 0 for an empty mailbox (``*`` in a UID set)."""
        return self._uids[-1] if self._uids else 0

    def uid_range(self, lo: int, hi: int) -> list[int]:
        """Live UIDs in ``lo..hi`` inclusive, ascending; O(log n + result)."""
        if lo > hi:
            lo, hi = hi, lo
        return self._uids[bisect_left(self._uids, lo) : bisect_right(self._uids, hi)]

    def existing(self, uids: Iterable[int]) -> list[int]:
        """Those of ``uids`` that exist, ascending, de-duplicated.

        O(k log k) for k asked UIDs; a ``range`` (step 1) is answered by
        bisection, so ``range(1, 2**32)`` costs only what exists.
        """
        if isinstance(uids, range) and uids.step == 1:
            return self.uid_range(uids.start, uids.stop - 1) if uids else []
        live = self._live
        return [u for u in sorted(set(uids)) if u in live]

    def states(self, uids: Iterable[int]) -> list[FlagState]:
        """States of those of ``uids`` that exist, in UID order."""
        live = self._live
        return [live[u] for u in self.existing(uids)]

    def snapshot(self) -> Snapshot:
        """The whole mailbox at ``highestmodseq``: what SELECT starts from."""
        live = self._live
        return Snapshot(
            uidvalidity=self.uidvalidity,
            uidnext=self.uidnext,
            highestmodseq=self.highestmodseq,
            messages=tuple(live[u] for u in self._uids),
        )

    def changes_since(self, modseq: int) -> Changes:
        """Messages appended or changed, and UIDs expunged, after ``modseq``.

        O(changes after ``modseq``), not O(mailbox).  A message appended and
        expunged after ``modseq`` is reported as expunged only; the session
        view ignores expunged UIDs it never knew.
        """
        changed: list[FlagState] = []
        if modseq < self.highestmodseq:
            for state in reversed(self._live.values()):
                if state.modseq <= modseq:
                    break
                changed.append(state)
            changed.sort(key=_uid_of)
            start = bisect_right(self._tomb_modseq, modseq)
            expunged = tuple(sorted(self._tomb_uid[start:]))
        else:
            expunged = ()
        return Changes(
            highestmodseq=self.highestmodseq,
            uidnext=self.uidnext,
            changed=tuple(changed),
            expunged=expunged,
        )

    def expunged_since(self, modseq: int) -> list[int]:
        """UIDs expunged after ``modseq``, ascending (tombstones)."""
        return sorted(self._tomb_uid[bisect_right(self._tomb_modseq, modseq) :])

    def complete_since(self, modseq: int) -> bool:
        """Whether every expunge after ``modseq`` still has its tombstone
        (none older than ``modseq`` was forgotten)."""
        return modseq >= self.tombstone_floor

    def deleted_uids(self, uids: Iterable[int] | None = None) -> list[int]:
        """Live UIDs flagged ``\\Deleted`` (among ``uids`` when given),
        ascending: what EXPUNGE / UID EXPUNGE remove (RFC 3501 §6.4.3,
        RFC 4315 §2.1)."""
        live = self._live
        if uids is None:
            if not self._deleted:
                return []
            return [u for u in self._uids if DELETED in live[u].flags]
        return [u for u in self.existing(uids) if DELETED in live[u].flags]

    @property
    def recent_count(self) -> int:
        """Messages not yet claimed as \\Recent by any session."""
        return len(self._uids) - bisect_left(self._uids, self._recent_floor)

    def status(self) -> MailboxStatus:
        """Counters for STATUS (RFC 3501 §6.3.10) in O(log n)."""
        return MailboxStatus(
            uidvalidity=self.uidvalidity,
            uidnext=self.uidnext,
            highestmodseq=self.highestmodseq,
            messages=len(self._uids),
            unseen=self._unseen,
            recent=self.recent_count,
            size=self._size,
            deleted=self._deleted,
        )

    # ----------------------------------------------------------------- writes

    def append(self, flags: Iterable[str] = frozenset(), size: int = 0) -> FlagState:
        """Record a new message: the next UID, a new modseq.  ``\\Recent``
        in ``flags`` is dropped (the log tracks recency itself)."""
        modseq = self._next_modseq()
        state = self._add(self.uidnext, frozenset(flags) - {RECENT}, modseq, size)
        self.uidnext += 1
        self._committed()
        return state

    def store(
        self,
        uids: Iterable[int],
        mode: StoreMode | str,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> StoreResult:
        """STORE (RFC 3501 §6.4.6) with optional UNCHANGEDSINCE (RFC 7162
        §3.1.3).

        UIDs that do not exist are ignored.  A message whose modseq is
        greater than ``unchangedsince`` is left alone and listed in
        ``failed``.  A message whose flags would not change keeps its modseq
        and is not in ``changed``; ``changed`` holds the new states of the
        messages that did change (all with one new modseq), in UID order.
        """
        if mode not in STORE_MODES:
            raise ValueError(f"unknown store mode {mode!r}")
        failed: list[int] = []
        updates: list[tuple[FlagState, frozenset[str]]] = []
        for uid in self.existing(uids):
            old = self._live[uid]
            if unchangedsince is not None and old.modseq > unchangedsince:
                failed.append(uid)
                continue
            new = apply_mode(old.flags, mode, flags)
            if new != old.flags:
                updates.append((old, new))
        if not updates:
            return StoreResult(changed=(), failed=tuple(failed))
        modseq = self._next_modseq()
        changed = [self._replace(old, new, modseq) for old, new in updates]
        self._committed()
        return StoreResult(changed=tuple(changed), failed=tuple(failed))

    def set_flags(self, uid: int, flags: frozenset[str]) -> FlagState | None:
        """Record that ``uid`` now has ``flags`` (e.g. a Maildir file renamed
        by another program).  No-op (and no new modseq) if unchanged;
        ``None`` if ``uid`` does not exist."""
        old = self._live.get(uid)
        if old is None:
            return None
        new = frozenset(flags) - {RECENT}
        if new == old.flags:
            return old
        state = self._replace(old, new, self._next_modseq())
        self._committed()
        return state

    def expunge(self, uids: Iterable[int]) -> list[int]:
        """Remove ``uids`` (whatever their flags; the caller chose them,
        e.g. with :meth:`deleted_uids`), leaving tombstones at one new
        modseq.  Returns the UIDs actually removed, ascending."""
        gone = self.existing(uids)
        if not gone:
            return []
        modseq = self._next_modseq()
        for uid in gone:
            state = self._live.pop(uid)
            self._count(state.flags, -1)
            self._size -= self._sizes.pop(uid, 0)
            self._tomb_modseq.append(modseq)
            self._tomb_uid.append(uid)
        if len(gone) > 32:
            dead = set(gone)
            self._uids = [u for u in self._uids if u not in dead]
        else:
            for uid in gone:
                del self._uids[bisect_left(self._uids, uid)]
        self._committed()
        return gone

    def claim_recent(self) -> tuple[int, int]:
        """RFC 3501 §2.3.2: the half-open UID range ``[lo, hi)`` that is
        ``\\Recent`` for the caller alone.  The first caller after new mail
        gets every UID appended since the previous claim; later callers get
        an empty range ``(uidnext, uidnext)``.  Not a change: no modseq, no
        notification."""
        lo, hi = self._recent_floor, self.uidnext
        self._recent_floor = hi
        return (lo, hi) if lo < hi else (hi, hi)

    def peek_recent(self) -> tuple[int, int]:
        """The range :meth:`claim_recent` would give, without claiming it:
        what EXAMINE shows as ``\\Recent`` (RFC 3501 §6.3.2)."""
        lo, hi = self._recent_floor, self.uidnext
        return (lo, hi) if lo < hi else (hi, hi)

    def forget_tombstones(self, upto_modseq: int) -> int:
        """Drop tombstones with modseq <= ``upto_modseq`` (a backend's
        housekeeping); returns how many went.  ``changes_since`` for an older
        modseq then misses those expunges, so keep them as long as sessions
        may ask (the memory store never calls this)."""
        cut = bisect_right(self._tomb_modseq, upto_modseq)
        del self._tomb_modseq[:cut]
        del self._tomb_uid[:cut]
        self.tombstone_floor = max(self.tombstone_floor, upto_modseq)
        return cut

    # --------------------------------------------------------------- watchers

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call ``callback()`` after each committed change; returns the
        unregister function (safe to call twice)."""
        return self._watchers.add(callback)

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def clear_watchers(self) -> None:
        """Forget every watcher (the store is closing)."""
        self._watchers.clear()

    def notify(self) -> None:
        """Call every watcher now.  An exception from one is logged
        (twisted.logger) and does not stop the others or the change."""
        self._watchers.notify()

    @contextmanager
    def batch(self) -> Iterator[MailboxLog]:
        """Group several changes so watchers hear once, at the end (even if
        the block raises after changing something)."""
        self._batch_depth += 1
        try:
            yield self
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._dirty:
                self._dirty = False
                self.notify()

    # ------------------------------------------------------------ persistence

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict of the whole log (watchers excluded), for
        backends that persist it; :meth:`from_state` restores it."""
        return {
            "uidvalidity": self.uidvalidity,
            "uidnext": self.uidnext,
            "highestmodseq": self.highestmodseq,
            "recent_floor": self._recent_floor,
            "messages": [
                [s.uid, sorted(s.flags), s.modseq, self._sizes.get(s.uid, 0)]
                for s in self._live.values()
            ],
            "tombstones": [list(t) for t in zip(self._tomb_modseq, self._tomb_uid, strict=True)],
            "tombstone_floor": self.tombstone_floor,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MailboxLog:
        """Rebuild a log saved by :meth:`to_state`."""
        log = cls(int(state["uidvalidity"]), int(state["uidnext"]), int(state["highestmodseq"]))
        log._recent_floor = int(state.get("recent_floor", log.uidnext))
        for uid, flags, modseq, size in sorted(state["messages"], key=lambda m: (m[2], m[0])):
            log._add(int(uid), frozenset(flags), int(modseq), int(size), ordered=False)
        log._uids.sort()
        for modseq, uid in state.get("tombstones", ()):
            log._tomb_modseq.append(int(modseq))
            log._tomb_uid.append(int(uid))
        log.tombstone_floor = int(state.get("tombstone_floor", 0))
        return log

    # ---------------------------------------------------------------- private

    def _next_modseq(self) -> int:
        self.highestmodseq += 1
        return self.highestmodseq

    def _add(
        self, uid: int, flags: frozenset[str], modseq: int, size: int, ordered: bool = True
    ) -> FlagState:
        state = FlagState(uid=uid, flags=flags, modseq=modseq)
        self._live[uid] = state
        if not ordered or not self._uids or uid > self._uids[-1]:
            self._uids.append(uid)
        else:
            self._uids.insert(bisect_left(self._uids, uid), uid)
        self._count(flags, +1)
        if size:
            self._sizes[uid] = size
            self._size += size
        return state

    def _replace(self, old: FlagState, flags: frozenset[str], modseq: int) -> FlagState:
        state = FlagState(uid=old.uid, flags=flags, modseq=modseq)
        self._count(old.flags, -1)
        self._count(flags, +1)
        del self._live[old.uid]  # re-insert at the end: dict order is modseq order
        self._live[old.uid] = state
        return state

    def _count(self, flags: frozenset[str], sign: int) -> None:
        if SEEN not in flags:
            self._unseen += sign
        if DELETED in flags:
            self._deleted += sign

    def _committed(self) -> None:
        if self._batch_depth:
            self._dirty = True
        else:
            self.notify()


def _uid_of(state: FlagState) -> int:
    return state.uid
