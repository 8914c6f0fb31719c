"""Mailbox commands (RFC 3501 §6.3): SELECT, EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS, APPEND; NAMESPACE (RFC 2342)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailframe.errors import (
    CannotDo,
    MailboxExists,
    NonexistentMailbox,
    ProtocolError,
    TryCreate,
)
from mailframe.imap import mutf7
from mailframe.imap.command import (
    Append,
    Create,
    Delete,
    Namespace,
    Rename,
    Select,
    Status,
    Subscribe,
    Unsubscribe,
)
from mailframe.imap.commands import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Raw, Value, astring, flag_list
from mailframe.imap.view import SelectedView
from mailframe.message import binary_to_base64
from mailframe.records import NewMessage

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def mailbox_value(name: str) -> Value:
    """A mailbox name for a response: modified UTF-7, as an atom when it
    can be one (as Dovecot does), else a string."""
    return Raw(astring(mutf7.encode(name)))


def uid_set(uids: list[int]) -> str:
    """Compact ``sequence-set`` text for ascending UIDs (``1:3,7``)."""
    parts: list[str] = []
    i = 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        parts.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        i = j + 1
    return ",".join(parts)


def storable(flags: frozenset[str]) -> frozenset[str]:
    """Flags a client may set: ``\\Recent`` is the server's alone
    (RFC 3501 §2.3.2)."""
    return frozenset(f for f in flags if f.lower() != "\\recent")


@command(Select, AUTHENTICATED)
async def select(session: Any, cmd: Select) -> Reply:
    """RFC 3501 §6.3.1/§6.3.2, with the untagged data in Dovecot's order."""
    if session.view is not None:
        session.deselect()
        session.untagged_ok("Previous mailbox closed.", "CLOSED")
    mailbox = await session.account.mailbox(cmd.mailbox)
    snapshot = await mailbox.snapshot()
    recent: list[int] = []
    if not cmd.readonly:
        lo, hi = await mailbox.claim_recent()
        recent = [m.uid for m in snapshot.messages if lo <= m.uid < hi]
    view = SelectedView(snapshot, cmd.readonly, recent)
    session.select(mailbox, view)
    if cmd.condstore or cmd.qresync is not None:
        session.enabled.add("CONDSTORE")
    keywords = sorted(view.keywords())
    session.untagged(Atom("FLAGS"), flag_list(frozenset(SYSTEM_FLAGS) | frozenset(keywords)))
    if cmd.readonly:
        session.untagged_ok("Read-only mailbox.", "PERMANENTFLAGS ()")
    else:
        perm = " ".join([*SYSTEM_FLAGS, *keywords, "\\*"])
        session.untagged_ok("Flags permitted.", f"PERMANENTFLAGS ({perm})")
    session.untagged(view.exists, Atom("EXISTS"))
    session.untagged(len(view.recent), Atom("RECENT"))
    unseen = view.first_unseen()
    if unseen is not None:
        session.untagged_ok("First unseen.", f"UNSEEN {unseen}")
    session.untagged_ok("UIDs valid", f"UIDVALIDITY {view.uidvalidity}")
    session.untagged_ok("Predicted next UID", f"UIDNEXT {view.uidnext}")
    if session.config.condstore:
        session.untagged_ok("Highest", f"HIGHESTMODSEQ {view.modseq}")
    if cmd.readonly:
        return Reply("Examine completed", "READ-ONLY")
    return Reply("Select completed", "READ-WRITE")


@command(Create, AUTHENTICATED)
async def create(session: Any, cmd: Create) -> Reply:
    """RFC 3501 §6.3.3: a trailing separator only says "will have
    children"; INBOX always exists."""
    name = cmd.mailbox.rstrip("/") if cmd.mailbox != "/" else cmd.mailbox
    if name.upper() == "INBOX":
        raise MailboxExists("Mailbox already exists")
    if not name:
        raise ProtocolError("Empty mailbox name")
    await session.account.create_mailbox(name, cmd.special_use)
    return Reply("Create completed")


@command(Delete, AUTHENTICATED)
async def delete(session: Any, cmd: Delete) -> Reply:
    if cmd.mailbox == "INBOX":
        raise CannotDo("INBOX can not be deleted")
    if session.mailbox is not None and session.mailbox.name == cmd.mailbox:
        session.deselect()
        session.untagged_ok("Selected mailbox was deleted.", "CLOSED")
    await session.account.delete_mailbox(cmd.mailbox)
    return Reply("Delete completed")


@command(Rename, AUTHENTICATED)
async def rename(session: Any, cmd: Rename) -> Reply:
    new = cmd.new.rstrip("/")
    if new.upper() == "INBOX":
        raise MailboxExists("Target mailbox already exists")
    await session.account.rename_mailbox(cmd.old, new)
    return Reply("Rename completed")


@command(Subscribe, AUTHENTICATED)
async def subscribe(session: Any, cmd: Subscribe) -> Reply:
    await session.account.subscribe(cmd.mailbox)
    return Reply("Subscribe completed")


@command(Unsubscribe, AUTHENTICATED)
async def unsubscribe(session: Any, cmd: Unsubscribe) -> Reply:
    await session.account.unsubscribe(cmd.mailbox)
    return Reply("Unsubscribe completed")


@command(Namespace, AUTHENTICATED)
async def namespace(session: Any, cmd: Namespace) -> Reply:
    """RFC 2342: one personal namespace with no prefix, "/" separator."""
    session.untagged(Atom("NAMESPACE"), [[b"", b"/"]], None, None)
    return Reply("Namespace completed")


STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED")


def status_values(status: Any, items: tuple[str, ...]) -> list[Value]:
    """The parenthesised STATUS list (RFC 3501 §7.2.4)."""
    out: list[Value] = []
    for item in items:
        item = item.upper()
        value = {
            "MESSAGES": status.messages,
            "RECENT": status.recent,
            "UIDNEXT": status.uidnext,
            "UIDVALIDITY": status.uidvalidity,
            "UNSEEN": status.unseen,
            "HIGHESTMODSEQ": status.highestmodseq,
            "SIZE": status.size,
            "DELETED": status.deleted,
        }.get(item)
        if value is None:
            raise ProtocolError(f"Unknown STATUS item {item}")
        out += [Atom(item), value]
    return out


@command(Status, AUTHENTICATED)
async def status(session: Any, cmd: Status) -> Reply:
    for item in cmd.items:
        if item.upper() not in STATUS_ITEMS:
            raise ProtocolError(f"Unknown STATUS item {item}")
    mailbox = await session.account.mailbox(cmd.mailbox)
    st = await mailbox.status()
    session.untagged(Atom("STATUS"), mailbox_value(cmd.mailbox), status_values(st, cmd.items))
    return Reply("Status completed")


@command(Append, AUTHENTICATED)
async def append(session: Any, cmd: Append) -> Reply:
    """RFC 3501 §6.3.11, MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315)."""
    try:
        mailbox = await session.account.mailbox(cmd.mailbox)
    except NonexistentMailbox as e:
        raise TryCreate("Mailbox does not exist") from e
    for msg in cmd.messages:
        if not msg.content:
            raise ProtocolError("Empty message")
    # All or none (RFC 3502 §6.3.11): one batch, stored entirely or not at all.
    result = await mailbox.append_many(
        [
            NewMessage(
                binary_to_base64(msg.content) if msg.binary else msg.content,  # RFC 3516 §4.4
                storable(msg.flags),
                msg.internaldate or datetime.now().astimezone(),
            )
            for msg in cmd.messages
        ]
    )
    uids = list(result.uids)
    return Reply("Append completed", f"APPENDUID {result.uidvalidity} {uid_set(sorted(uids))}")
