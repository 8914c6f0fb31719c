"""REPLACE and UID REPLACE (RFC 8508): append a new message, then expunge
the one it replaces from the selected mailbox.

The append is APPEND's own handler (so every check APPEND makes, CATENATE
and UTF8 data included, applies alike); the source message is expunged
only once the new one is stored (§3.3: "If the append fails, the server
MUST NOT expunge the message"), and only that message, whatever other
messages are ``\\Deleted`` (§3.2).  Responses in RFC 8508 §3.4's order:
``* OK [APPENDUID ...]``, ``EXISTS`` when the target is the selected
mailbox, then ``EXPUNGE`` (or ``VANISHED`` where the session uses it).
"""

from __future__ import annotations

from mailframe.errors import CannotDo, CommandFailed
from mailframe.imap.command import Append, Replace
from mailframe.imap.commands.context import expunging
from mailframe.imap.commands.mailbox import append
from mailframe.imap.context import SelectedContext
from mailframe.imap.registry import SELECTED, Reply, command
from mailframe.records import StoreMode

__all__ = ["replace"]

DELETED = "\\Deleted"


@command(Replace, SELECTED)
async def replace(session: SelectedContext, cmd: Replace) -> Reply:
    """RFC 8508 §3.2."""
    view = session.view
    if view.readonly:
        raise CannotDo("Mailbox is read-only")
    pairs = view.resolve(cmd.numbers, cmd.uid)
    if not pairs:
        raise CommandFailed("No such message to replace")  # UID REPLACE of a UID not in use
    uid = pairs[0][1]
    source = session.mailbox
    if uid in view.ghosts or not await source.states([uid]):
        raise CommandFailed("The message to replace no longer exists", "EXPUNGEISSUED")
    reply = await append(session, Append(cmd.tag, cmd.mailbox, (cmd.message,)))
    session.untagged_ok("Replacement Message ready", reply.code)
    if cmd.mailbox == source.name:
        # The new message is in the selected mailbox: EXISTS first (§3.4).
        await session.catch_up(False, cmd.uid)
        if session.view is not view:
            return Reply("Replace completed")
    result = await source.store([uid], StoreMode.ADD, frozenset({DELETED}))
    for st in result.changed:
        view.set_flags(st)
    gone = await source.expunge([uid])
    session.expunged(gone)
    expunging(session, gone)
    for response in view.drop(gone):
        session.untagged(*response)
    return Reply("Replace completed")
