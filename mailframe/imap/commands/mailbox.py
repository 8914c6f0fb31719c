"""Mailbox commands (RFC 3501 §6.3): SELECT, EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS, APPEND; NAMESPACE (RFC 2342)."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from operator import attrgetter
from typing import Any

from mailframe import vocabulary
from mailframe.errors import (
    CannotDo,
    CommandFailed,
    InvalidMailboxName,
    MailboxExists,
    NonexistentMailbox,
    ProtocolError,
    TryCreate,
)
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
from mailframe.imap.commands import qresync
from mailframe.imap.commands.catenate import resolve_messages
from mailframe.imap.commands.objectid import account_mailbox_id
from mailframe.imap.context import AnyContext, AuthenticatedContext
from mailframe.imap.registry import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Raw, Value, flag_list
from mailframe.imap.utf8 import mailbox_name
from mailframe.imap.view import SelectedView
from mailframe.interfaces import IObjectIdAccount
from mailframe.message import binary_to_base64
from mailframe.quota import crlf_size, ensure_room
from mailframe.records import NewMessage

SYSTEM_FLAGS = vocabulary.SYSTEM_FLAGS


def mailbox_value(name: str, utf8: bool = False) -> Value:
    """A mailbox name for a response: modified UTF-7, as an atom when it
    can be one (as Dovecot does), else a string; UTF-8 once the client
    has enabled IMAP4rev2 or UTF8=ACCEPT (``utf8``, RFC 9051 §5.1, RFC 6855 §3)."""
    return Raw(mailbox_name(name, utf8))


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


def announce_flags(session: AnyContext, keywords: frozenset[str], readonly: bool) -> None:
    """Untagged FLAGS and PERMANENTFLAGS for the selected mailbox
    (RFC 3501 §7.2.6, §6.3.1): at SELECT, and again whenever a keyword the
    client has not been told of appears, before any FETCH shows it."""
    ordered = sorted(keywords)
    session.untagged(Atom("FLAGS"), flag_list(frozenset(SYSTEM_FLAGS) | frozenset(ordered)))
    if readonly:
        session.untagged_ok("Read-only mailbox.", "PERMANENTFLAGS ()")
    else:
        perm = " ".join([*SYSTEM_FLAGS, *ordered, "\\*"])
        permitted = getattr(getattr(session, "mailbox", None), "permitted", None)
        if permitted is not None:  # RFC 4314 §5.1.1: only what the rights allow
            allowed = permitted(frozenset([*SYSTEM_FLAGS, *ordered, "$x"]))
            perm = " ".join(f for f in [*SYSTEM_FLAGS, *ordered] if f in allowed)
            perm = (perm + " \\*").strip() if "$x" in allowed else perm
        session.untagged_ok("Flags permitted.", f"PERMANENTFLAGS ({perm})")


async def recent_range(mailbox: Any, readonly: bool) -> tuple[int, int]:
    """The UID range ``[lo, hi)`` this session shows as ``\\Recent``.

    SELECT claims it (RFC 3501 §2.3.2: no other session sees those as
    recent).  EXAMINE only looks (§6.3.2: "the \\Recent flag ... is not
    cleared"), so a later SELECT still gets them, as in Dovecot
    (``IMailbox.peek_recent``)."""
    if not readonly:
        lo, hi = await mailbox.claim_recent()
        return lo, hi
    lo, hi = await mailbox.peek_recent()
    return lo, hi


_uid_of = attrgetter("uid")


def recent_uids(messages: Any, lo: int, hi: int) -> list[int]:
    """The UIDs in ``[lo, hi)`` of a snapshot's messages (sorted by UID):
    found by bisection, as the range is usually the mailbox's newest few
    (RFC 3501 §2.3.2)."""
    start = bisect_left(messages, lo, key=_uid_of)
    stop = bisect_left(messages, hi, lo=start, key=_uid_of)
    return [m.uid for m in messages[start:stop]]


@command(Select, AUTHENTICATED)
async def select(session: AuthenticatedContext, cmd: Select) -> Reply:
    """RFC 3501 §6.3.1/§6.3.2, with the untagged data in Dovecot's order."""
    session.close_selected()
    mailbox = await session.account.mailbox(cmd.mailbox)
    # RFC 4314 §5.2: READ-ONLY without any right to change the mailbox.
    readonly = cmd.readonly or not getattr(mailbox, "writable", True)
    snapshot = await mailbox.snapshot()
    rev2 = "IMAP4rev2" in session.enabled
    recent: list[int] = []
    claimed = (0, 0)
    if not rev2:  # RFC 9051 has no \Recent: a rev2 session claims none
        claimed = lo, hi = await recent_range(mailbox, readonly)
        recent = recent_uids(snapshot.messages, lo, hi)
    view = SelectedView(snapshot, readonly, recent)
    if not readonly:  # EXAMINE only peeked (RFC 3501 §6.3.2)
        view.claimed = claimed
    session.select(mailbox, view)
    if cmd.condstore:
        session.enabled.add("CONDSTORE")
        view.condstore_announced = True
    session.announce_flags()
    session.untagged(view.exists, Atom("EXISTS"))
    if not rev2:  # RFC 9051 §6.3.2 drops RECENT and [UNSEEN] (Appendix E)
        session.untagged(len(view.recent), Atom("RECENT"))
        unseen = view.first_unseen()
        if unseen is not None and "UIDONLY" not in session.enabled:  # RFC 9586: no numbers
            session.untagged_ok("First unseen.", f"UNSEEN {unseen}")
    session.untagged_ok("UIDs valid", f"UIDVALIDITY {view.uidvalidity}")
    session.untagged_ok("Predicted next UID", f"UIDNEXT {view.uidnext}")
    if session.config.condstore:
        session.untagged_ok("Highest", f"HIGHESTMODSEQ {view.modseq}")
    objectid = account_mailbox_id(session.account, view.uidvalidity, mailbox)
    if objectid is not None:  # RFC 8474 §4.2
        session.untagged_ok("Ok", f"MAILBOXID ({objectid})")
    if rev2:
        await _select_list(session, mailbox.name)
    if cmd.qresync is not None:
        await qresync.select_resync(session, view, snapshot, cmd.qresync, cmd.seq_match)
    if cmd.readonly:
        return Reply("Examine completed", "READ-ONLY")
    if readonly:
        return Reply("Select completed", "READ-ONLY")
    return Reply("Select completed", "READ-WRITE")


async def _select_list(session: AuthenticatedContext, name: str) -> None:
    """RFC 9051 §6.3.2: SELECT and EXAMINE answer a LIST response with the
    mailbox name and its attributes (children, special use)."""
    entries = await session.account.list_mailboxes()
    attrs: set[str] = set()
    for entry in entries:
        if entry.name == name:
            attrs |= entry.attributes
    prefix = name + "/"
    attrs.add("\\HasChildren" if any(e.name.startswith(prefix) for e in entries) else "\\HasNoChildren")
    first = ["\\HasChildren", "\\HasNoChildren"]
    ordered = [a for a in first if a in attrs] + sorted(a for a in attrs if a not in first)
    session.untagged(Atom("LIST"), [Atom(a) for a in ordered], b"/", mailbox_value(name, True))


@command(Create, AUTHENTICATED)
async def create(session: AuthenticatedContext, cmd: Create) -> Reply:
    """RFC 3501 §6.3.3: a trailing separator only says "will have
    children"; INBOX always exists."""
    name = cmd.mailbox.rstrip("/") if cmd.mailbox != "/" else cmd.mailbox
    if name.upper() == "INBOX":
        raise MailboxExists("Mailbox already exists")
    if not name:
        # a well-formed astring naming no mailbox: NO, not BAD (as Dovecot)
        raise InvalidMailboxName("Invalid mailbox name: Name is empty")
    create_parent = getattr(session.account, "create_parent", None)
    if cmd.mailbox.endswith("/") and name != "/" and not cmd.special_use \
            and create_parent is not None:
        # the store makes a name that will hold inferiors in its own way
        # (the plain mbox layout: a \Noselect directory, as Dovecot)
        await create_parent(name)
        return Reply("Create completed")
    await session.account.create_mailbox(name, cmd.special_use)
    if IObjectIdAccount.providedBy(session.account):  # RFC 8474 §4.1
        try:
            made = await session.account.mailbox(name)
            created = await made.status()
        except CommandFailed:  # created, but not for this user to see (RFC 4314 §6)
            return Reply("Create completed")
        objectid = account_mailbox_id(session.account, created.uidvalidity, made)
        return Reply("Create completed", f"MAILBOXID ({objectid})")
    return Reply("Create completed")


@command(Delete, AUTHENTICATED)
async def delete(session: AuthenticatedContext, cmd: Delete) -> Reply:
    if cmd.mailbox == "INBOX":
        raise CannotDo("INBOX can not be deleted")
    if session.mailbox is not None and session.mailbox.name == cmd.mailbox:
        session.deselect()
        session.untagged_ok("Selected mailbox was deleted.", "CLOSED")
    await session.account.delete_mailbox(cmd.mailbox)
    return Reply("Delete completed")


@command(Rename, AUTHENTICATED)
async def rename(session: AuthenticatedContext, cmd: Rename) -> Reply:
    new = cmd.new.rstrip("/")
    if new.upper() == "INBOX":
        raise MailboxExists("Target mailbox already exists")
    await session.account.rename_mailbox(cmd.old, new)
    return Reply("Rename completed")


@command(Subscribe, AUTHENTICATED)
async def subscribe(session: AuthenticatedContext, cmd: Subscribe) -> Reply:
    await session.account.subscribe(cmd.mailbox)
    return Reply("Subscribe completed")


@command(Unsubscribe, AUTHENTICATED)
async def unsubscribe(session: AuthenticatedContext, cmd: Unsubscribe) -> Reply:
    await session.account.unsubscribe(cmd.mailbox)
    return Reply("Unsubscribe completed")


@command(Namespace, AUTHENTICATED)
async def namespace(session: AuthenticatedContext, cmd: Namespace) -> Reply:
    """RFC 2342: one personal namespace with no prefix, "/" separator;
    with sharing, the account's other users' and shared namespaces."""
    layout = getattr(session.account, "namespaces", None)
    if layout is not None:
        groups: list[Value] = [
            [[p.encode(), s.encode()] for p, s in group] or None for group in layout()
        ]
        session.untagged(Atom("NAMESPACE"), *groups)
        return Reply("Namespace completed")
    session.untagged(Atom("NAMESPACE"), [[b"", b"/"]], None, None)
    return Reply("Namespace completed")


def status_values(
    status: Any, items: tuple[str, ...], appendlimit: int, account: Any = None,
    mailbox: Any = None,
) -> list[Value]:
    """The parenthesised STATUS list (RFC 3501 §7.2.4; APPENDLIMIT
    RFC 7889 §3.2; MAILBOXID RFC 8474 §4.3 where ``account`` offers
    OBJECTID).  The grammar admits only the items answered here."""
    out: list[Value] = []
    for item in items:
        item = item.upper()
        if item == "MAILBOXID":
            objectid = account_mailbox_id(account, status.uidvalidity, mailbox)
            if objectid is None:
                raise ProtocolError("Unknown status item MAILBOXID")  # as the grammar says
            out += [Atom(item), [Atom(objectid)]]
            continue
        value = {
            "APPENDLIMIT": appendlimit,
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
async def status(session: AuthenticatedContext, cmd: Status) -> Reply:
    mailbox = await session.account.mailbox(cmd.mailbox)
    st = await mailbox.status()
    values = status_values(st, cmd.items, session.config.limits.max_literal, session.account,
                           mailbox)
    session.untagged(Atom("STATUS"), mailbox_value(cmd.mailbox, session.utf8_names()), values)
    return Reply("Status completed")


@command(Append, AUTHENTICATED)
async def append(session: AuthenticatedContext, cmd: Append) -> Reply:
    """RFC 3501 §6.3.11, MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315).

    All or none (RFC 3502 §6.3.11: "If the server fails to append any of
    the messages, none of them are appended"): the grammar has read every
    message of the command before this runs, each is checked here before
    any is stored, and the backend stores them in one step
    (``append_many``) or not at all."""
    for msg in cmd.messages:
        if not msg.content and msg.catenate is None:
            raise CommandFailed("Can't save a zero byte message")  # Dovecot's words
    try:
        mailbox = await session.account.mailbox(cmd.mailbox)
    except NonexistentMailbox as e:
        raise TryCreate("Mailbox does not exist") from e
    # CATENATE parts and UTF8 data (RFC 4469, RFC 6855 §4), before anything is stored.
    messages = await resolve_messages(session, cmd.messages)
    for msg in messages:
        if not msg.content:
            raise CommandFailed("Can't save a zero byte message")
    # QUOTA (RFC 9208 §4.3): refused with [OVERQUOTA] before anything is stored.
    await ensure_room(
        session.account, lambda: sum(crlf_size(m.content) for m in messages), len(messages),
        cmd.mailbox,
    )
    # The backend stores them in one step, all or none (IMailbox.append_many).
    result = await mailbox.append_many(
        [
            NewMessage(
                # a binary literal's parts are saved base64-encoded (RFC 3516 §4.4)
                binary_to_base64(msg.content) if msg.binary else msg.content,
                storable(msg.flags),
                msg.internaldate or datetime.now().astimezone(),
            )
            for msg in messages
        ]
    )
    return Reply("Append completed", f"APPENDUID {result.uidvalidity} {uid_set(sorted(result.uids))}")
