"""Handing SEARCH to a store (:class:`mailframe.interfaces.ISearchableMailbox`).

A store never sees sequence numbers or ``\\Recent`` (DESIGN.md: "a backend
never sees sequence numbers, tags or sessions"), so before a key goes down
the session rewrites it against its view: sequence sets become UID sets
(RFC 3501 §6.4.4 ``sequence-set``), ``*`` in UID sets becomes the view's
largest UID, and ``\\Recent`` (RECENT, NEW, OLD) becomes the set of UIDs
that are recent for this session (§2.3.2).  The store's answer must equal
the framework matcher's; ``tests/store/test_search_pushdown.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from mailframe.imap.types import (
    SearchAll,
    SearchAnd,
    SearchFlag,
    SearchKey,
    SearchNot,
    SearchOr,
    SearchSet,
    SequenceSet,
)
from mailframe.vocabulary import RECENT

__all__ = ["for_store", "uid_ranges"]

_NOTHING: SearchKey = SearchNot(SearchAll())


class _View(Protocol):
    uids: Sequence[int]
    recent: set[int]


def uid_ranges(uids: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Ascending UIDs as compact ``(lo, hi)`` ranges."""
    out: list[tuple[int, int]] = []
    for uid in sorted(set(uids)):
        if out and out[-1][1] == uid - 1:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return tuple(out)


def _uid_set(uids: Iterable[int]) -> SearchKey:
    ranges = uid_ranges(uids)
    return SearchSet(SequenceSet(ranges), uid=True) if ranges else _NOTHING


def for_store(key: SearchKey, view: _View) -> SearchKey:
    """``key`` with sequence numbers and ``\\Recent`` resolved against
    ``view`` (its ``uids`` in sequence order and its ``recent`` set)."""
    if isinstance(key, SearchNot):
        return SearchNot(for_store(key.key, view))
    if isinstance(key, SearchOr):
        return SearchOr(for_store(key.left, view), for_store(key.right, view))
    if isinstance(key, SearchAnd):
        return SearchAnd(tuple(for_store(k, view) for k in key.keys))
    if isinstance(key, SearchFlag) and key.flag == RECENT:
        recent = _uid_set(view.recent)
        return recent if key.present else SearchNot(recent)
    if isinstance(key, SearchSet) and not key.numbers.saved:
        uids = view.uids
        if key.uid:
            largest = uids[-1] if uids else 0
            return SearchSet(SequenceSet(tuple(key.numbers.bounded(largest))), uid=True)
        picked: list[int] = []
        for lo, hi in key.numbers.bounded(len(uids)):
            picked.extend(uids[max(lo, 1) - 1 : min(hi, len(uids))])
        return _uid_set(picked)
    return key
