"""The selected-mailbox view: the only place that knows sequence numbers.

DESIGN.md: a backend knows UIDs and a log of changes; each session keeps a
sorted UID list of what *it* has told its client, plus what it has not told
yet.  :meth:`SelectedView.catch_up` folds a backend :class:`Changes` into the
view and returns the untagged responses RFC 3501 allows at that moment:

- ``EXPUNGE`` only when ``allow_expunge`` (never while answering FETCH,
  STORE or SEARCH by sequence number, nor outside a command — §7.4.1);
  until then the expunged message keeps its sequence number (a "ghost").
- ``EXISTS`` (and ``RECENT``) when new messages arrived (§7.3.1, §7.3.2).
- ``FETCH (FLAGS ...)`` for flag changes made by anyone else (§7.4.2).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

from mailframe.errors import ProtocolError
from mailframe.imap.fetch_response import flag_update
from mailframe.imap.serialize import Atom, Raw, Value, encode, flag_list
from mailframe.imap.types import STAR, SequenceSet
from mailframe.records import Changes, FlagState, Snapshot

RECENT = "\\Recent"
_SETTABLE = frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"})

_FLAGS_WIRE: dict[frozenset[str], bytes] = {}


class SelectedView:
    """One session's picture of its selected mailbox."""

    def __init__(self, snapshot: Snapshot, readonly: bool, recent: Iterable[int] = ()) -> None:
        self.readonly = readonly
        self.uidvalidity = snapshot.uidvalidity
        self.uidnext = snapshot.uidnext
        self.modseq = snapshot.highestmodseq
        # 4 bytes a message instead of a list slot and an int object: a
        # session's view of a 100 000-message mailbox stays small.
        self.uids = array("L", [m.uid for m in snapshot.messages])
        # Most messages share a handful of flag sets: keep one object each.
        shared: dict[frozenset[str], frozenset[str]] = {}
        # Flags sit beside the UIDs, index for index (a list, not a dict:
        # a third of the memory per selected connection).
        self._flags: list[frozenset[str]] = [shared.setdefault(m.flags, m.flags) for m in snapshot.messages]
        self.recent: set[int] = set(recent)
        #: The UID range ``[lo, hi)`` SELECT claimed as \\Recent: a message
        #: in it that arrived after the snapshot is this session's to show
        #: as \\Recent when it is told (RFC 3501 §2.3.2).
        self.claimed: tuple[int, int] = (0, 0)
        self.ghosts: set[int] = set()  # expunged in the store, not yet told
        # Keywords the client has been told of in FLAGS (RFC 3501 §7.2.6),
        # every flag known to be covered by that, and whether a flag set
        # outside ``_known`` entered the view since (see announce_keywords).
        self._told: set[str] = set()
        self._known: set[str] = set(_SETTABLE)
        self._unannounced = True
        self._announced_once = False
        #: OK [HIGHESTMODSEQ] was sent for CONDSTORE (RFC 7162 §3.1).
        self.condstore_announced = False
        #: the HIGHESTMODSEQ the client was last told (QRESYNC, RFC 7162
        #: §3.2.10: a tagged OK carries a newer one, as in Dovecot).
        self.told_modseq = self.modseq
        #: The highest MODSEQ a FETCH response carried since then (RFC 7162
        #: §3.1.4.1): with an expunge held back, a client may take it for
        #: the mailbox's (RFC 5162 errata 1810).
        self.fetched_modseq = 0
        #: UIDs of the result saved by RETURN (SAVE), read as ``$`` (RFC 5182).
        self.saved: frozenset[int] = frozenset()
        #: Results followed for RETURN (UPDATE), by tag (RFC 5267 §4).
        self.contexts: dict[str, object] = {}

    # --- numbers -------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int:
        """1-based sequence number of ``uid`` (which must be in the view)."""
        return bisect_left(self.uids, uid) + 1

    def _index(self, uid: int) -> int:
        """Position of ``uid`` in the view, or -1."""
        i = bisect_left(self.uids, uid)
        return i if i < len(self.uids) and self.uids[i] == uid else -1

    def has(self, uid: int) -> bool:
        i = bisect_left(self.uids, uid)
        return i < len(self.uids) and self.uids[i] == uid

    def resolve(self, numbers: SequenceSet, uid: bool) -> list[tuple[int, int]]:
        """(seq, uid) pairs for a sequence set, ascending.

        For sequence numbers, a number past EXISTS is an error (RFC 3501
        §9, seq-number: "a number ... greater than the number of messages
        ... is invalid"); ``*`` on an empty mailbox likewise.  For UIDs,
        numbers that are not in use simply match nothing (§6.4.8); ``*``
        is the largest UID in use.
        """
        if numbers.saved:  # "$": the saved result, less what is gone (RFC 5182 §2.2)
            return [(i + 1, u) for i, u in enumerate(self.uids) if u in self.saved]
        if uid:
            if not self.uids:
                return []
            largest = self.uids[-1]
            out: list[tuple[int, int]] = []
            for lo, hi in numbers.bounded(largest):
                i = bisect_left(self.uids, lo)
                while i < len(self.uids) and self.uids[i] <= hi:
                    out.append((i + 1, self.uids[i]))
                    i += 1
            return sorted(set(out))
        count = len(self.uids)
        if count == 0 and all(STAR in r for r in numbers.ranges):
            # "1:*" on an empty mailbox: clients send it right after SELECT;
            # answer with nothing rather than BAD.
            return []
        for lo, hi in numbers.ranges:
            for n in (lo, hi):
                if n == STAR and count == 0:
                    raise ProtocolError("No messages: * is invalid")
                if n != STAR and n > count:
                    raise ProtocolError("Invalid sequence number: message %d does not exist" % n)
        seqs = numbers.resolve(count)
        return [(s, self.uids[s - 1]) for s in seqs]

    # --- flags -------------------------------------------------------------

    def flags_of(self, uid: int) -> frozenset[str]:
        """Flags as the client sees them: stored flags plus ``\\Recent``."""
        stored = self.stored_flags(uid)
        return stored | {RECENT} if uid in self.recent else stored

    def uid_flags(self) -> Iterable[tuple[int, frozenset[str]]]:
        """(uid, stored flags) of every message, in sequence order."""
        return zip(self.uids, self._flags, strict=True)

    def flag_column(self) -> list[frozenset[str]]:
        """Stored flags of every message, in sequence order: the view's
        own list (read it, never change it), for SEARCH by flag set."""
        return self._flags

    def stored_flags(self, uid: int) -> frozenset[str]:
        """Flags as stored (no ``\\Recent``); empty for an unknown UID."""
        i = self._index(uid)
        return self._flags[i] if i >= 0 else frozenset()

    def flags_wire(self, uid: int) -> bytes:
        """``(\\Seen ...)`` for FETCH; most messages share a few flag sets,
        so their encodings are remembered."""
        flags = self.flags_of(uid)
        wire = _FLAGS_WIRE.get(flags)
        if wire is None:
            wire = encode(flag_list(flags))
            if len(_FLAGS_WIRE) < 4096:
                _FLAGS_WIRE[flags] = wire
        return wire

    def set_flags(self, state: FlagState) -> None:
        i = self._index(state.uid)
        if i >= 0:
            self._flags[i] = state.flags
            self._note(state.flags)

    def _note(self, flags: frozenset[str]) -> None:
        if not self._unannounced and not flags <= self._known:
            self._unannounced = True

    def keywords(self) -> set[str]:
        """Every keyword in use in the mailbox (for the FLAGS response)."""
        out: set[str] = set()
        for f in set(self._flags):
            out.update(k for k in f if not k.startswith("\\"))
        return out

    def announce_keywords(self) -> frozenset[str] | None:
        """The keywords to list in FLAGS when the client must hear FLAGS
        again, else None.  The first call (at SELECT) always answers; later
        ones only once a flag the client has not been told of is in the
        view, so the caller sends FLAGS and PERMANENTFLAGS before any FETCH
        shows it (RFC 3501 §7.2.6).  Keywords once announced stay, as in
        Dovecot."""
        if not self._unannounced:
            return None
        self._unannounced = False
        in_use: set[str] = set()
        for f in set(self._flags):
            in_use.update(f)
        keywords = {k for k in in_use if not k.startswith("\\")} | self._told
        first = not self._announced_once
        self._announced_once = True
        self._known |= in_use
        if not first and keywords <= self._told:
            return None
        self._told = keywords
        self._known |= keywords
        return frozenset(keywords)

    def first_unseen(self) -> int | None:
        for i, f in enumerate(self._flags):
            if "\\Seen" not in f:
                return i + 1
        return None

    # --- catching up -------------------------------------------------------

    def catch_up(
        self,
        changes: Changes,
        allow_expunge: bool,
        with_uid: bool = False,
        with_modseq: bool = False,
        vanished: bool = False,
        uidfetch: bool = False,
    ) -> tuple[list[list[Value] | tuple[Value, ...]], list[int]]:
        """Fold ``changes`` in; return (untagged responses, new UIDs).

        The caller claims \\Recent for the returned new UIDs and reports
        EXISTS/RECENT itself (:meth:`mailframe.imap.session.Session.catch_up`).
        """
        out: list[list[Value] | tuple[Value, ...]] = []
        for uid in changes.expunged:
            if self.has(uid):
                self.ghosts.add(uid)
        last = self.uids[-1] if self.uids else 0
        new: list[int] = []
        new_flags: list[frozenset[str]] = []
        for st in changes.changed:
            if st.uid > last:
                new.append(st.uid)
                new_flags.append(st.flags)
                continue
            i = self._index(st.uid)
            if i < 0 or st.uid in self.ghosts:
                continue
            if self._flags[i] != st.flags:
                self._flags[i] = st.flags
                self._note(st.flags)
                wire = self.flags_wire(st.uid)
                if with_modseq:
                    self.fetched_modseq = max(self.fetched_modseq, st.modseq)
                out.append((flag_update(st.uid if uidfetch else self.seq_of(st.uid), wire,
                                        st.uid if with_uid and not uidfetch else None,
                                        st.modseq if with_modseq else None,
                                        uidfetch=uidfetch),))  # RFC 9586 §3.1
        if allow_expunge:
            out.extend(self.drop(sorted(self.ghosts), vanished))
        self.uids.extend(new)
        self._flags.extend(new_flags)
        for f in set(new_flags):
            self._note(f)
        self.modseq = max(self.modseq, changes.highestmodseq)
        self.uidnext = max(self.uidnext, changes.uidnext)
        return out, new

    def drop(self, uids: Iterable[int], vanished: bool = False) -> list[tuple[Value, ...]]:
        """Remove ``uids`` from the view, returning the EXPUNGE responses
        highest number first, as Dovecot sends them (each number is then
        the message's number at its moment, as RFC 3501 §7.4.1 needs, and
        equal to its number before the expunge); or, once the client
        enabled QRESYNC (``vanished``), one ``VANISHED`` response of their
        UIDs (RFC 7162 §3.2.10)."""
        wanted = set(uids)
        gone = sorted(u for u in wanted if self.has(u))
        self.ghosts.difference_update(wanted)
        out: list[tuple[Value, ...]] = []
        if vanished and gone:
            text = ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in compact_ranges(gone))
            out.append((Atom("VANISHED"), Raw(text.encode())))
        for uid in reversed(gone if not vanished else ()):
            out.append((self.seq_of(uid), Atom("EXPUNGE")))
        if gone:
            drop = set(gone)
            keep = [(u, f) for u, f in zip(self.uids, self._flags, strict=True) if u not in drop]
            self.uids = array("L", [u for u, _ in keep])
            self._flags = [f for _, f in keep]
            self.recent.difference_update(drop)
        return out


def compact_ranges(uids: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending UIDs as (lo, hi) runs, for a compact ``sequence-set``."""
    out: list[tuple[int, int]] = []
    for u in uids:
        if out and u == out[-1][1] + 1:
            out[-1] = (out[-1][0], u)
        else:
            out.append((u, u))
    return out
