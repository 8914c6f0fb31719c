"""SEARCH over the cheap per-message state: what a store can answer from
its index alone (flags, UIDs, sizes, internal dates, modseqs).

:func:`answerable` says whether a key needs nothing else; :func:`match`
evaluates one. Both follow the framework's matcher in
:mod:`mailframe.imap.commands.search` rule for rule (RFC 3501 §6.4.4), so a
store that answers through them gives the same results
(``tests/store/test_search_pushdown.py`` checks it).  The key reaching a
store has sequence numbers already turned into UID sets and ``\\Recent``
resolved (:class:`mailframe.interfaces.ISearchableMailbox`).
"""

from __future__ import annotations

from mailframe.imap.types import (
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    search_leaves,
)
from mailframe.records import MessageState
from mailframe.vocabulary import RECENT

__all__ = ["answerable", "match", "flag_in"]


def flag_in(flags: frozenset[str], flag: str) -> bool:
    """System flags are stored in their RFC spelling; keywords compare
    without regard to case (RFC 3501 §2.3.2 names them atoms)."""
    if flag in flags:
        return True
    if flag.startswith("\\") or not flags:
        return False
    want = flag.lower()
    return any(f.lower() == want for f in flags)


def answerable(key: SearchKey) -> bool:
    """True when ``key`` needs only :class:`MessageState` (no header, no
    body, no sent date, no clock, no sequence numbers, no ``\\Recent``)."""
    return all(_state_leaf(k) for k in search_leaves(key))


def _state_leaf(key: SearchKey) -> bool:
    if isinstance(key, SearchFlag):
        return key.flag != RECENT
    if isinstance(key, SearchSet):
        return key.uid and not key.numbers.saved
    if isinstance(key, SearchDate):
        return not key.sent and not key.saved  # the Date: header, SAVEDATE: not state
    return isinstance(key, (SearchAll, SearchSize, SearchModSeq))


def match(key: SearchKey, state: MessageState, largest_uid: int) -> bool:
    """Evaluate an :func:`answerable` key for one message; ``largest_uid``
    stands for ``*`` in UID sets."""
    if isinstance(key, SearchAll):
        return True
    if isinstance(key, SearchFlag):
        return flag_in(state.flags, key.flag) == key.present
    if isinstance(key, SearchSet):
        return key.numbers.contains(state.uid, largest_uid)
    if isinstance(key, SearchAnd):
        return all(match(k, state, largest_uid) for k in key.keys)
    if isinstance(key, SearchOr):
        return match(key.left, state, largest_uid) or match(key.right, state, largest_uid)
    if isinstance(key, SearchNot):
        return not match(key.key, state, largest_uid)
    if isinstance(key, SearchModSeq):
        return state.modseq >= key.modseq
    if isinstance(key, SearchSize):
        return state.size > key.size if key.op == "larger" else state.size < key.size
    if isinstance(key, SearchDate) and not key.sent and not key.saved:
        day = state.internaldate.date()
        if key.op == "before":
            return day < key.when
        if key.op == "on":
            return day == key.when
        return day >= key.when
    raise ValueError(f"not answerable from state: {key!r}")
