"""Search contexts kept up to date: RETURN (UPDATE) on SEARCH and SORT,
ADDTO / REMOVEFROM notifications and CANCELUPDATE (RFC 5267 §4).

A context is the criteria of a SEARCH or SORT whose result the client
asked to follow, and that result as UIDs.  Whenever the session catches
up with its mailbox and the view moved on, each context is searched
again and the difference is told, as Dovecot 2.3 tells it: position 0
(RFC 5267 §4.3.2 lets an unsorted or a server-chosen position be 0),
removals of expunged messages before the EXPUNGE responses (while their
sequence numbers still stand), everything else after.  Contexts belong to
the selected view and end with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mailframe.errors import CommandFailed
from mailframe.imap import serialize
from mailframe.imap.command import CancelUpdate
from mailframe.imap.commands.mailbox import uid_set
from mailframe.imap.registry import SELECTED, Reply, command
from mailframe.imap.serialize import Atom, Value
from mailframe.imap.types import SearchKey

__all__ = ["register", "before", "after", "expunging", "MAX_CONTEXTS"]

#: Contexts one session may keep updated; more get NOUPDATE (RFC 5267 §4.3.1).
MAX_CONTEXTS = 16


@dataclass
class Context:
    tag: str
    key: SearchKey
    uid: bool
    result: frozenset[int]
    stamp: tuple[int, int, int, int]


def _stamp(view: Any) -> tuple[int, int, int, int]:
    """What changes whenever a search result may have changed."""
    return (view.modseq, len(view.uids), len(view.ghosts), view.uids[-1] if view.uids else 0)


def _contexts(view: Any) -> dict[str, Context]:
    contexts: dict[str, Context] = view.contexts
    return contexts


def register(session: Any, tag: str, key: SearchKey, uid: bool, uids: Iterable[int]) -> None:
    """Follow the result of the command ``tag`` (RETURN (UPDATE))."""
    view = session.view
    contexts = _contexts(view)
    if tag not in contexts and len(contexts) >= MAX_CONTEXTS:
        code = 'NOUPDATE "' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"'
        session.io.write(serialize.status_line("*", "NO", "Too many contexts", code))
        return
    contexts[tag] = Context(tag, key, uid, frozenset(uids), _stamp(view))


def _esearch(session: Any, ctx: Context, name: str, numbers: Sequence[int]) -> None:
    out: list[Value] = [Atom("ESEARCH"), [Atom("TAG"), ctx.tag.encode()]]
    if ctx.uid:
        out.append(Atom("UID"))
    out += [Atom(name), [0, Atom(uid_set(sorted(numbers)))]]
    session.untagged(*out)


Pending = list[tuple[Context, frozenset[int], frozenset[int]]]

#: The search that re-evaluates a context, given by
#: :mod:`mailframe.imap.commands.search` when it loads (a hook rather than
#: an import, so the two modules do not import each other).
_searcher: list[Callable[[Any, SearchKey], Awaitable[list[tuple[int, int, int]]]]] = []


def use_searcher(search: Callable[[Any, SearchKey], Awaitable[list[tuple[int, int, int]]]]) -> None:
    """Install the function :func:`before` searches with."""
    _searcher[:] = [search]


async def before(session: Any, old_uids: Sequence[int]) -> Pending:
    """Search every context again on the caught-up view; tell at once
    the removal of messages that left the view (numbered as they were,
    before their EXPUNGE responses).  Returns what :func:`after` tells."""
    run_search = _searcher[0]
    view = session.view
    contexts = _contexts(view)
    if not contexts:
        return []
    stamp = _stamp(view)
    pending: Pending = []
    gone_at = {u: i + 1 for i, u in enumerate(old_uids)}
    present = set(view.uids)
    for ctx in list(contexts.values()):
        if ctx.stamp == stamp:
            continue
        found = frozenset(u for _, u, _ in await run_search(session, ctx.key))
        if session.view is not view:
            return []
        removed, added = ctx.result - found, found - ctx.result
        ctx.result, ctx.stamp = found, stamp
        left = [u for u in removed if u not in present]
        if left:
            _esearch(session, ctx, "REMOVEFROM", left if ctx.uid else [gone_at[u] for u in left if u in gone_at])
        pending.append((ctx, frozenset(removed - set(left)), added))
    return pending


def after(session: Any, pending: Pending) -> None:
    """Tell the rest of the changes (after EXPUNGE, EXISTS and FETCH)."""
    view = session.view
    if view is None:
        return
    for ctx, removed, added in pending:
        for name, uids in (("REMOVEFROM", removed), ("ADDTO", added)):
            if uids:
                _esearch(session, ctx, name, sorted(uids) if ctx.uid else [view.seq_of(u) for u in uids])


def expunging(session: Any, uids: Iterable[int]) -> None:
    """This session is about to send EXPUNGE for ``uids``: tell the
    contexts holding them first, while their sequence numbers stand."""
    view = session.view
    contexts = _contexts(view)
    if not contexts:
        return
    gone = set(uids)
    for ctx in contexts.values():
        left = ctx.result & gone
        if left:
            numbers = sorted(left) if ctx.uid else [view.seq_of(u) for u in left if view.has(u)]
            _esearch(session, ctx, "REMOVEFROM", numbers)
            ctx.result -= left


@command(CancelUpdate, SELECTED)
async def cancel_update(session: Any, cmd: CancelUpdate) -> Reply:
    """CANCELUPDATE (RFC 5267 §4.3.5): stop following those results."""
    contexts = _contexts(session.view)
    unknown = [t for t in cmd.tags if t not in contexts]
    if unknown:
        raise CommandFailed("Unknown tag")
    for t in cmd.tags:
        del contexts[t]
    return Reply("Cancelupdate completed")
