"""METADATA and METADATA-SERVER (RFC 5464): GETMETADATA, SETMETADATA.

Answers as Dovecot 2.3 gives them: values always as literals (a literal8
when a value holds NUL), an entry asked for without DEPTH that does not
exist is answered ``NIL`` (§4.2), with DEPTH only existing entries are
listed, and a request that finds nothing gets no METADATA response.
Unsolicited METADATA responses (§4.4.2) are not sent, so ``ENABLE
METADATA`` enables nothing.
"""

from __future__ import annotations

from typing import Any

from mailframe.errors import ProtocolError
from mailframe.imap.commands.mailbox import mailbox_value
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.grammar_metadata import INFINITY, GetMetadata, SetMetadata
from mailframe.imap.notify_state import metadata_changed, metadata_changing
from mailframe.imap.registry import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Literal, Raw, Value, astring
from mailframe.interfaces import IMetadataAccount

__all__ = ["select_entries"]


def _account(session: AuthenticatedContext) -> Any:
    account = session.account
    if not IMetadataAccount.providedBy(account):
        raise ProtocolError("Unknown command (no METADATA on this server)")
    return account


def _within(name: str, top: str, depth: int) -> bool:
    """Whether ``name`` is ``top`` or below it, at most ``depth`` levels
    down (RFC 5464 §4.2.2)."""
    if name == top:
        return True
    if not name.startswith(top + "/"):
        return False
    return depth == INFINITY or name[len(top) + 1 :].count("/") < depth


def select_entries(
    stored: dict[str, bytes], asked: tuple[str, ...], depth: int
) -> list[tuple[str, bytes | None]]:
    """The (entry, value) pairs GETMETADATA answers, in the order asked,
    each entry once; ``None`` for an entry asked for at DEPTH 0 that does
    not exist."""
    out: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    for top in asked:
        if depth == 0:
            if top not in seen:
                seen.add(top)
                out.append((top, stored.get(top)))
            continue
        for name in [top, *sorted(n for n in stored if n != top)]:
            if name in stored and name not in seen and _within(name, top, depth):
                seen.add(name)
                out.append((name, stored[name]))
    return out


def _value(data: bytes | None) -> Value:
    if data is None:
        return None
    return Literal(data, binary=b"\x00" in data)


def _mailbox(name: str) -> Value:
    return b"" if name == "" else mailbox_value(name)


@command(GetMetadata, AUTHENTICATED)
async def getmetadata(session: AuthenticatedContext, cmd: GetMetadata) -> Reply:
    """RFC 5464 §4.2 with MAXSIZE (§4.2.1) and DEPTH (§4.2.2)."""
    account = _account(session)
    stored = await account.get_metadata(cmd.mailbox)
    pairs = select_entries(stored, cmd.entries, cmd.depth)
    longest = 0
    values: list[Value] = []
    for name, data in pairs:
        if cmd.maxsize is not None and data is not None and len(data) > cmd.maxsize:
            longest = max(longest, len(data))
            continue
        values += [Raw(astring(name.encode("ascii"))), _value(data)]
    if values:
        session.untagged(Atom("METADATA"), _mailbox(cmd.mailbox), values)
    if longest:
        return Reply("Getmetadata completed", f"METADATA LONGENTRIES {longest}")
    return Reply("Getmetadata completed")


@command(SetMetadata, AUTHENTICATED)
async def setmetadata(session: AuthenticatedContext, cmd: SetMetadata) -> Reply:
    """RFC 5464 §4.3: every entry set or none."""
    account = _account(session)
    names = [name for name, _ in cmd.values]
    metadata_changing(session, cmd.mailbox, names)
    await account.set_metadata(cmd.mailbox, dict(cmd.values))
    metadata_changed(session, cmd.mailbox, names)  # RFC 5465 §5.6, §5.7
    return Reply("Setmetadata completed")
