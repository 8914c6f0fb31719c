"""Handing the ordering of SORT to a store (:class:`mailframe.interfaces.ISortableMailbox`).

The session still finds the messages (SEARCH, with the store's pushdown
where it has one) and owns the sequence numbers (a store never sees
them: DESIGN.md); the store orders the found UIDs from the sort keys it
keeps (RFC 5256 §3, RFC 5957 §3), ties by UID, which is mailbox order,
ascending also under REVERSE.  A store that cannot answer says ``None``
and :mod:`mailframe.imap.commands.sort` sorts as it always does; both
answers are the same (tests/store/sql/test_sort.py compares them).

When this process already caches every message's keys (an earlier THREAD
filled :mod:`mailframe.imap.commands.sortkeys_cache`), sorting them here
is quicker than a query, so the store is not asked (bench/bench_sql.py
``--sort``: 20 000 messages, database ~45 ms, framework with cold keys
~1 s, with warm keys ~2-18 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mailframe.imap.commands.search import run_search
from mailframe.imap.commands.sortkeys_cache import _cache
from mailframe.imap.types import SearchAll, SearchKey
from mailframe.interfaces import ISortableMailbox

__all__ = ["store_sorted"]


def _cached(mailbox: Any, view: Any) -> bool:
    """Whether this process holds the sort keys of every message of the
    view (:mod:`mailframe.imap.commands.sortkeys_cache`, filled by an
    earlier THREAD or framework SORT)."""
    cache = _cache(mailbox, view.uidvalidity)
    return bool(cache) and len(cache) >= len(view.uids) and all(u in cache for u in view.uids)


async def store_sorted(
    session: Any, key: SearchKey, criteria: tuple[tuple[str, bool], ...]
) -> tuple[list[int], list[int]] | None:
    """(UIDs, sequence numbers) of the messages matching ``key`` in
    ``criteria`` order, ordered by the store; ``None`` when the mailbox
    does not sort (or declines these criteria)."""
    mailbox = session.mailbox
    if not ISortableMailbox.providedBy(mailbox):
        return None
    view = session.view
    if _cached(mailbox, view):
        return None  # the keys are in this process already: sorting them is quicker
    uids: Sequence[int]
    seq_of: dict[int, int] | None = None
    if isinstance(key, SearchAll) and not view.ghosts:
        uids = list(view.uids)  # a copy: the store reads it in a thread
    else:
        if isinstance(key, SearchAll):
            found = [(i + 1, u) for i, u in enumerate(view.uids) if u not in view.ghosts]
        else:
            found = [(seq, uid) for seq, uid, _ in await run_search(session, key)]
        uids = [u for _, u in found]
        seq_of = dict((u, s) for s, u in found)
    ordered = await mailbox.sort_uids(criteria, uids)
    if ordered is None:
        return None
    if seq_of is None:  # every message of the view: seq = position + 1
        seq_of = {u: i + 1 for i, u in enumerate(uids)}
    # the store may hold messages the view has not heard of yet: left out
    ordered = [u for u in ordered if u in seq_of]
    return ordered, [seq_of[u] for u in ordered]
