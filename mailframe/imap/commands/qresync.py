"""QRESYNC (RFC 7162 §3.2): what SELECT/EXAMINE (QRESYNC ...) and
UID FETCH ... (CHANGEDSINCE n VANISHED) add to their answers.

Both tell the client which of the UIDs it knows were expunged after the
mod-sequence it gives, in one ``VANISHED (EARLIER)`` response sent before
any FETCH (§3.2.5.1, §3.2.6, §7.2).  The store's expunge tombstones answer
that; when a store has pruned tombstones that old
(:class:`mailframe.interfaces.IExpungeHistory` answers ``None``), the
client is told every UID of its known range that no longer exists, as
§3.2.6 asks ("MUST behave as if it was requested to report all expunged
messages from the provided UID set"), narrowed by the seq-match-data of
SELECT when the client sent some (§3.2.5.2).  Either way the client ends
up exactly in sync, the second way at the price of a longer UID list.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from mailframe.imap.serialize import Atom, Raw, Value
from mailframe.imap.types import SequenceSet
from mailframe.imap.view import SelectedView, compact_ranges
from mailframe.interfaces import IExpungeHistory
from mailframe.records import Snapshot

__all__ = ["expunged_since", "select_resync", "fetch_vanished", "MAX_SEQ_MATCH"]

#: seq-match-data longer than this is ignored (it only saves bandwidth).
MAX_SEQ_MATCH = 100_000


async def expunged_since(mailbox: Any, modseq: int) -> list[int] | None:
    """UIDs expunged after ``modseq`` (ascending), or None when the store
    no longer knows them all (:class:`IExpungeHistory`); a store without
    that interface keeps every tombstone, so its ``changes_since`` is
    complete (the seam's contract)."""
    if IExpungeHistory.providedBy(mailbox):
        found: list[int] | None = await mailbox.expunged_since(modseq)
        return found
    changes = await mailbox.changes_since(modseq)
    return list(changes.expunged)


def _merged(numbers: SequenceSet, largest: int) -> list[tuple[int, int]]:
    """The set's ranges (``*`` = ``largest``), sorted and merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in numbers.bounded(largest):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def _in_set(uids: list[int], numbers: SequenceSet, largest: int) -> list[tuple[int, int]]:
    """``uids`` (ascending) that lie in ``numbers``, as ranges;
    O(uids log ranges)."""
    ranges = _merged(numbers, largest)
    starts = [lo for lo, _ in ranges]
    kept = []
    for u in uids:
        i = bisect_right(starts, u) - 1
        if i >= 0 and u <= ranges[i][1]:
            kept.append(u)
    return compact_ranges(kept)


def _gone(view: SelectedView, numbers: SequenceSet, largest: int, floor: int) -> list[tuple[int, int]]:
    """Ranges of UIDs in ``numbers`` (``*`` = ``largest``), above
    ``floor`` and at most ``largest``, that are not in the view: every
    UID the client may know that no longer exists.  O(ranges + view)."""
    present = view.uids
    out: list[tuple[int, int]] = []
    for lo, hi in _merged(numbers, largest):
        lo, hi = max(lo, floor + 1, 1), min(hi, largest)
        if lo > hi:
            continue
        i = bisect_left(present, lo)
        cur = lo
        while cur <= hi:
            if i < len(present) and present[i] <= hi:
                if present[i] > cur:
                    out.append((cur, present[i] - 1))
                cur = present[i] + 1
                i += 1
            else:
                out.append((cur, hi))
                break
    return out


def _seq_match_floor(view: SelectedView, seq_match: tuple[SequenceSet, SequenceSet] | None) -> int:
    """The largest UID below which the client provably missed no expunge
    (RFC 7162 §3.2.5.2): walking the client's (sequence number, UID)
    pairs in order, each pair whose message still has that sequence
    number moves the floor up; the first that does not stops the walk.
    0 when there is no usable seq-match-data."""
    if seq_match is None:
        return 0
    seqs, uids = seq_match
    count = view.exists
    seq_list = seqs.resolve(count) if _size(seqs, count) <= MAX_SEQ_MATCH else []
    largest = view.uids[-1] if view.uids else 0
    uid_list = uids.resolve(largest) if _size(uids, largest) <= MAX_SEQ_MATCH else []
    if not seq_list or len(seq_list) != len(uid_list):
        return 0
    floor = 0
    for seq, uid in zip(seq_list, uid_list, strict=True):
        if seq > count or view.uids[seq - 1] != uid:
            break
        floor = uid
    return floor


def _size(numbers: SequenceSet, largest: int) -> int:
    return sum(hi - lo + 1 for lo, hi in numbers.bounded(largest))


def _vanished_line(ranges: list[tuple[int, int]]) -> tuple[Value, ...]:
    text = ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges)
    return (Atom("VANISHED"), Raw(b"(EARLIER) " + text.encode()))


async def select_resync(
    session: Any,
    view: SelectedView,
    snapshot: Snapshot,
    qresync: tuple[int, int, SequenceSet | None],
    seq_match: tuple[SequenceSet, SequenceSet] | None,
) -> None:
    """The resynchronisation part of SELECT/EXAMINE (QRESYNC (...))
    (RFC 7162 §3.2.5.1), after the usual SELECT responses: nothing when
    the UIDVALIDITY differs; else ``VANISHED (EARLIER)`` for the known
    UIDs expunged after the client's modseq, then ``FETCH (UID FLAGS
    MODSEQ)`` for the known messages changed after it, as Dovecot orders
    them.  Known UIDs default to ``1:<UIDNEXT-1>``."""
    uidvalidity, modseq, known = qresync
    if uidvalidity != snapshot.uidvalidity:
        return
    top = max(snapshot.uidnext - 1, view.uids[-1] if view.uids else 0)
    numbers = known if known is not None else SequenceSet(((1, max(top, 1)),))
    if top >= 1:
        expunged = await expunged_since(session.mailbox, modseq)
        if expunged is None:
            ranges = _gone(view, numbers, top, _seq_match_floor(view, seq_match))
        else:
            ranges = _in_set([u for u in expunged if not view.has(u)], numbers, top)
        if ranges:
            session.untagged(*_vanished_line(ranges))
    largest = view.uids[-1] if view.uids else 0
    for state in snapshot.messages:
        if state.modseq > modseq and numbers.contains(state.uid, largest) and view.has(state.uid):
            items: list[Value] = [
                Atom("FLAGS"), Raw(view.flags_wire(state.uid)),
                Atom("MODSEQ"), [state.modseq],
            ]
            if "UIDONLY" in session.enabled:  # RFC 9586 §3.1
                session.untagged(state.uid, Atom("UIDFETCH"), items)
            else:
                session.untagged(view.seq_of(state.uid), Atom("FETCH"), [Atom("UID"), state.uid, *items])


async def fetch_vanished(session: Any, numbers: SequenceSet, changedsince: int) -> None:
    """``VANISHED (EARLIER)`` for UID FETCH ... (CHANGEDSINCE n VANISHED):
    the UIDs of the command's set expunged after ``n``, before any FETCH
    (RFC 7162 §3.2.6).  ``*`` reaches UIDNEXT-1, so ``1:*`` covers
    every UID the mailbox ever gave.  UIDs still in the view (expunged,
    not yet told) are left to the VANISHED that follows."""
    view: SelectedView = session.view
    top = max(view.uidnext - 1, view.uids[-1] if view.uids else 0)
    if top < 1:
        return
    expunged = await expunged_since(session.mailbox, changedsince)
    if expunged is None:
        ranges = _gone(view, numbers, top, 0)  # ghosts are in the view: not here
    else:
        ranges = _in_set([u for u in expunged if not view.has(u)], numbers, top)
    if ranges:
        session.untagged(*_vanished_line(ranges))
