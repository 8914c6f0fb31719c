"""SORT and UID SORT (RFC 5256 §3), DISPLAYFROM / DISPLAYTO (RFC 5957),
ESORT return options (RFC 5267 §3) with PARTIAL (RFC 9394) and SAVE
(RFC 5182).

The messages are found as SEARCH finds them, their keys come from the
shared cache (:mod:`mailframe.imap.commands.sortkeys_cache`), and the sort is a chain of stable
sorts, last criterion first, over mailbox order: ties fall to the
sequence number, ascending even under REVERSE (RFC 5256 §3; Dovecot and
imaptest agree).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from mailframe.imap.command import Sort
from mailframe.imap.commands.context import register
from mailframe.imap.commands.results import ordered_set, partial_value, save_result
from mailframe.imap.commands.search import run_search
from mailframe.imap.commands.sort_store import store_sorted
from mailframe.imap.commands.sortkeys_cache import keys_for
from mailframe.imap.registry import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.serialize import Atom, Raw, Value
from mailframe.imap.types import SearchAll, SearchKey
from mailframe.message.sortkeys import SortKeys

__all__ = ["sort_order", "sort_messages", "found_with_keys", "Found", "SORT_ATTRS"]

#: The SortKeys attribute each sort key compares (RFC 5256 §3, RFC 5957).
SORT_ATTRS: dict[str, Callable[[SortKeys], Any]] = {
    "ARRIVAL": attrgetter("arrival"),
    "CC": attrgetter("cc"),
    "DATE": attrgetter("date"),
    "FROM": attrgetter("from_"),
    "SIZE": attrgetter("size"),
    "SUBJECT": attrgetter("subject"),
    "TO": attrgetter("to"),
    "DISPLAYFROM": attrgetter("displayfrom"),
    "DISPLAYTO": attrgetter("displayto"),
}


class Found:
    """The matching messages as parallel lists in mailbox order (no
    tuple per message: a SORT of a big mailbox then allocates a few lists,
    and the cyclic collector has nothing to walk)."""

    __slots__ = ("seqs", "uids", "keys")

    def __init__(self, seqs: Sequence[int], uids: Sequence[int], keys: list[SortKeys]) -> None:
        self.seqs = seqs
        self.uids = uids
        self.keys = keys


def sort_order(keys: list[SortKeys], criteria: tuple[tuple[str, bool], ...]) -> list[int]:
    """Indexes into ``keys`` (mailbox order) sorted by ``criteria``
    ((key, reverse) pairs, most significant first): stable sorts, last
    criterion first, so ties keep mailbox order."""
    order = list(range(len(keys)))
    for name, reverse in reversed(criteria):
        values = list(map(SORT_ATTRS[name], keys))
        order.sort(key=values.__getitem__, reverse=reverse)
    return order


def sort_messages(
    items: list[tuple[int, int, SortKeys]], criteria: tuple[tuple[str, bool], ...]
) -> list[tuple[int, int, SortKeys]]:
    """``items`` (seq, uid, keys) in mailbox order, sorted by ``criteria``."""
    return [items[i] for i in sort_order([k for _, _, k in items], criteria)]


async def found_with_keys(session: Any, key: SearchKey) -> Found:
    """The messages matching ``key`` with their sort keys; ALL skips the
    search."""
    view = session.view
    seqs: Sequence[int]
    uids: Sequence[int]
    if isinstance(key, SearchAll) and not view.ghosts:
        seqs, uids = range(1, len(view.uids) + 1), view.uids
    elif isinstance(key, SearchAll):
        ghosts = view.ghosts
        seqs = [i + 1 for i, u in enumerate(view.uids) if u not in ghosts]
        uids = [view.uids[i - 1] for i in seqs]
    else:
        found = await run_search(session, key)
        seqs, uids = [s for s, _, _ in found], [u for _, u, _ in found]
    keys = await keys_for(session, list(uids))
    if None in keys:  # gone from the store since the view last heard
        keep = [i for i, k in enumerate(keys) if k is not None]
        seqs, uids = [seqs[i] for i in keep], [uids[i] for i in keep]
        return Found(seqs, uids, [k for k in keys if k is not None])
    return Found(seqs, uids, keys)  # type: ignore[arg-type]


@command(Sort, SELECTED, expunge_ok=not_by_sequence)
async def sort(session: Any, cmd: Sort) -> Reply:
    view = session.view
    saving = cmd.returns is not None and "SAVE" in cmd.returns
    if saving:
        view.saved = frozenset()  # a failed SORT leaves $ empty (RFC 5182 §2.1)
    pushed = await store_sorted(session, cmd.key, cmd.criteria)  # ISortableMailbox
    if pushed is not None:
        ordered_uids, numbers = pushed[0], pushed[0] if cmd.uid else pushed[1]
    else:
        found = await found_with_keys(session, cmd.key)
        order = sort_order(found.keys, cmd.criteria)
        ordered_uids = [found.uids[i] for i in order]
        numbers = ordered_uids if cmd.uid else [found.seqs[i] for i in order]
    if cmd.returns is None:
        if numbers:
            session.untagged(Atom("SORT"), Raw(" ".join(map(str, numbers)).encode()))
        else:
            session.untagged(Atom("SORT"))
        return Reply("Sort completed")
    wanted = set(cmd.returns) - {"SAVE", "PARTIAL", "UPDATE", "CONTEXT"}
    update = "UPDATE" in cmd.returns  # RFC 5267 §4: follow the result
    if update:
        register(session, cmd.tag, cmd.key, cmd.uid, ordered_uids)
    if saving:
        save_result(view, ordered_uids, wanted)
        if not wanted and cmd.partial is None and not update:
            return Reply("Sort completed")  # SAVE alone: no ESEARCH (RFC 5182 §2.1)
    if not wanted and cmd.partial is None and not update:
        wanted = {"ALL"}  # an empty RETURN list means ALL (RFC 4731 §3.1)
    out: list[Value] = [Atom("ESEARCH"), [Atom("TAG"), cmd.tag.encode()]]
    if cmd.uid:
        out.append(Atom("UID"))
    if numbers:
        if "MIN" in wanted:
            out += [Atom("MIN"), numbers[0]]
        if "MAX" in wanted:
            out += [Atom("MAX"), numbers[-1]]
        if "ALL" in wanted:
            out += [Atom("ALL"), Atom(ordered_set(numbers))]
    if "COUNT" in wanted:
        out += [Atom("COUNT"), len(numbers)]
    if cmd.partial is not None:
        out += partial_value(numbers, cmd.partial)
    session.untagged(*out)
    return Reply("Sort completed")
