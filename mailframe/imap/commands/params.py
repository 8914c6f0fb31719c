"""Parameters the grammar reads but this server does not offer.

The grammar parses the full syntax of the extensions it knows (so that a
command is never misread), including parts of extensions a session has
not enabled: QRESYNC (RFC 7162 §3.2) before ``ENABLE QRESYNC``, and the
CONDSTORE ones when the server runs with CONDSTORE off.  Every parameter is
either applied by its handler or refused here with ``BAD`` and a reason,
before the handler runs: never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mailframe.imap import command as c
from mailframe.imap.types import (
    SearchAnd,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SequenceSet,
)


def _keys(key: SearchKey) -> Iterator[SearchKey]:
    """``key`` and every key nested in it."""
    stack = [key]
    while stack:
        k = stack.pop()
        yield k
        if isinstance(k, SearchAnd):
            stack.extend(k.keys)
        elif isinstance(k, SearchOr):
            stack.extend((k.left, k.right))
        elif isinstance(k, SearchNot):
            stack.append(k.key)


def _sets(cmd: c.Command) -> Iterator[SequenceSet]:
    numbers = getattr(cmd, "numbers", None)
    if isinstance(numbers, SequenceSet):
        yield numbers
    uids = getattr(cmd, "uids", None)
    if isinstance(uids, SequenceSet):
        yield uids
    if isinstance(cmd, c.Search):
        for k in _keys(cmd.key):
            if isinstance(k, SearchSet):
                yield k.numbers


def refusal(session: Any, cmd: c.Command) -> str | None:
    """Why ``cmd`` asks for something this session does not offer, or
    None when every parameter it carries will be applied."""
    if isinstance(cmd, c.Select) and cmd.qresync is not None and "QRESYNC" not in session.enabled:
        return "QRESYNC not enabled"  # RFC 7162 §3.2.5, Dovecot's words
    if isinstance(cmd, c.Fetch) and cmd.vanished and "QRESYNC" not in session.enabled:
        return "VANISHED needs QRESYNC enabled"  # RFC 7162 §3.2.6
    if isinstance(cmd, c.Search) and cmd.charset is not None and "UTF8=ACCEPT" in session.enabled:
        # RFC 6855 §3: after ENABLE UTF8=ACCEPT a client "MUST NOT issue a
        # SEARCH command that contains a charset specification"; the
        # server "SHOULD reject the command with a BAD response".
        return "SEARCH CHARSET is not allowed after ENABLE UTF8=ACCEPT"
    if not session.config.condstore and _uses_condstore(cmd):
        return "CONDSTORE is not offered"  # RFC 7162 §3
    return None


def _uses_condstore(cmd: c.Command) -> bool:
    if isinstance(cmd, c.Select):
        return cmd.condstore
    if isinstance(cmd, c.Fetch):
        return cmd.changedsince is not None or any(a.name == "MODSEQ" for a in cmd.items)
    if isinstance(cmd, c.Store):
        return cmd.unchangedsince is not None
    if isinstance(cmd, c.Search):
        return any(isinstance(k, SearchModSeq) for k in _keys(cmd.key))
    if isinstance(cmd, c.Status):
        return "HIGHESTMODSEQ" in cmd.items
    if isinstance(cmd, c.List):
        return "HIGHESTMODSEQ" in cmd.options.status_items
    return False
