"""SORT and UID SORT (RFC 5256 §3), DISPLAYFROM / DISPLAYTO (RFC 5957),
ESORT return options (RFC 5267 §3) with PARTIAL (RFC 9394) and SAVE
(RFC 5182).

The messages are found as SEARCH finds them, their keys come from the
shared cache (:mod:`.sortkeys_cache`), and the sort is a chain of stable
sorts, last criterion first, over mailbox order: ties fall to the
sequence number, ascending even under REVERSE (RFC 5256 §3; Dovecot and
imaptest agree).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from mailframe.imap.command import Sort
from mailframe.imap.commands import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.commands.context import register
from mailframe.imap.commands.results import ordered_set, partial_value, save_result
from mailframe.imap.commands.search import run_search
from mailframe.imap.commands.sortkeys_cache import keys_for
from mailframe.imap.serialize import Atom, Raw, Value
from mailframe.imap.types import SearchAll, SearchKey
from mailframe.message.sortkeys import SortKeys

__all__ = ["sort_messages", "found_with_keys", "SORT_ATTRS"]

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


def sort_messages(
    items: list[tuple[int, int, SortKeys]], criteria: tuple[tuple[str, bool], ...]
) -> list[tuple[int, int, SortKeys]]:
    """``items`` (seq, uid, keys) in mailbox order, sorted by ``criteria``
    ((key, reverse) pairs, most significant first)."""
    order = list(range(len(items)))
    for name, reverse in reversed(criteria):
        values = list(map(SORT_ATTRS[name], (k for _, _, k in items)))
        order.sort(key=values.__getitem__, reverse=reverse)
    return [items[i] for i in order]


async def found_with_keys(session: Any, key: SearchKey) -> list[tuple[int, int, SortKeys]]:
    """(seq, uid, keys) of the messages matching ``key``, in mailbox
    order; ALL skips the search."""
    view = session.view
    if isinstance(key, SearchAll):
        ghosts = view.ghosts
        pairs = [(i + 1, u) for i, u in enumerate(view.uids) if not ghosts or u not in ghosts]
    else:
        pairs = [(s, u) for s, u, _ in await run_search(session, key)]
    keys = await keys_for(session, [u for _, u in pairs])
    return [(s, u, k) for (s, u), k in zip(pairs, keys, strict=True) if k is not None]


@command(Sort, SELECTED, expunge_ok=not_by_sequence)
async def sort(session: Any, cmd: Sort) -> Reply:
    view = session.view
    saving = cmd.returns is not None and "SAVE" in cmd.returns
    if saving:
        view.saved = frozenset()  # a failed SORT leaves $ empty (RFC 5182 §2.1)
    ordered = sort_messages(await found_with_keys(session, cmd.key), cmd.criteria)
    numbers = [u if cmd.uid else s for s, u, _ in ordered]
    if cmd.returns is None:
        if numbers:
            session.untagged(Atom("SORT"), Raw(" ".join(map(str, numbers)).encode()))
        else:
            session.untagged(Atom("SORT"))
        return Reply("Sort completed")
    wanted = set(cmd.returns) - {"SAVE", "PARTIAL", "UPDATE", "CONTEXT"}
    update = "UPDATE" in cmd.returns  # RFC 5267 §4: follow the result
    if update:
        register(session, cmd.tag, cmd.key, cmd.uid, [u for _, u, _ in ordered])
    if saving:
        save_result(view, [u for _, u, _ in ordered], wanted)
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
