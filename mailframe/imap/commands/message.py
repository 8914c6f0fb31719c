"""Message commands that change state (RFC 3501 §6.4): STORE, COPY,
EXPUNGE, CLOSE, CHECK; MOVE (RFC 6851), UNSELECT (RFC 3691), UID EXPUNGE
and the UIDPLUS response codes (RFC 4315), UNCHANGEDSINCE (RFC 7162)."""

from __future__ import annotations

from mailframe.crossstore import copy_messages, move_messages
from mailframe.errors import CannotDo, NonexistentMailbox, NoPermission, TryCreate
from mailframe.imap.command import Check, Close, Copy, Expunge, Move, Store, Unselect
from mailframe.imap.commands.context import expunging
from mailframe.imap.commands.mailbox import storable, uid_set
from mailframe.imap.commands.uidonly import uidonly, vanished
from mailframe.imap.context import AuthenticatedContext, SelectedContext
from mailframe.imap.fetch_response import flag_update
from mailframe.imap.registry import SELECTED, Reply, command, not_by_sequence
from mailframe.interfaces import IMailbox, IQuotaAccount
from mailframe.quota import ensure_room
from mailframe.records import CopyResult, StoreMode


def _writable(session: SelectedContext) -> None:
    if session.view.readonly:
        raise CannotDo("Mailbox is read-only")


@command(Check, SELECTED)
async def check(session: SelectedContext, cmd: Check) -> Reply:
    return Reply("Check completed")


@command(Store, SELECTED, expunge_ok=not_by_sequence)
async def store(session: SelectedContext, cmd: Store) -> Reply:
    """RFC 3501 §6.4.6: answer with each message's flags unless .SILENT."""
    _writable(session)
    view = session.view
    pairs = view.resolve(cmd.numbers, cmd.uid)
    condstore = cmd.unchangedsince is not None or "CONDSTORE" in session.enabled
    uid_only = uidonly(session)
    if cmd.unchangedsince is not None:
        session.enable_condstore()
    uids = [u for _, u in pairs if u not in view.ghosts]
    check_store = getattr(session.mailbox, "check_store", None)
    if check_store is not None:  # RFC 4314 §4: NOPERM only if no flag may change
        await check_store(storable(cmd.flags))
    result = await session.mailbox.store(
        uids, StoreMode(cmd.mode), storable(cmd.flags), cmd.unchangedsince
    )
    changed = {}
    for st in result.changed:
        view.set_flags(st)
        changed[st.uid] = st
    session.flags_changed(result.changed)
    session.announce_flags()
    failed = set(result.failed)
    modseqs = {uid: st.modseq for uid, st in changed.items()}
    if condstore:
        # RFC 7162 §3.1.3: every FETCH after a STORE carries MODSEQ, also
        # for messages whose flags did not change.
        rest = [u for u in uids if u not in modseqs and u not in failed]
        if rest:
            modseqs.update((r.uid, r.modseq) for r in await session.mailbox.states(rest))
    for seq, uid in pairs:
        if uid in failed or uid in view.ghosts or not view.has(uid):
            continue
        if condstore and uid not in modseqs:
            # Expunged by another session meanwhile: no record, so no
            # MODSEQ to give (never 0, RFC 7162 §3.1); no FETCH for it, its
            # EXPUNGE follows when one may be sent (RFC 2180 §4.2).
            continue
        if cmd.silent and not (condstore and uid in changed):
            continue
        if condstore:
            view.fetched_modseq = max(view.fetched_modseq, modseqs[uid])
        session.untagged(flag_update(
            uid if uid_only else seq,
            None if cmd.silent else view.flags_wire(uid),
            uid if (cmd.uid or "QRESYNC" in session.enabled) and not uid_only else None,  # with QRESYNC as Dovecot
            modseqs[uid] if condstore else None,
            uidfetch=uid_only,  # RFC 9586 §3.1
        ))
    if failed:
        numbers = sorted(failed) if cmd.uid else sorted(view.seq_of(u) for u in failed if view.has(u))
        return Reply("Conditional STORE failed", f"MODIFIED {uid_set(numbers)}")
    return Reply("Store completed")


async def _destination(session: AuthenticatedContext, name: str) -> IMailbox:
    try:
        return await session.account.mailbox(name)
    except NonexistentMailbox as e:
        raise TryCreate("Mailbox does not exist") from e


def _copyuid(result: CopyResult, mapping: list[tuple[int, int]]) -> str:
    return f"COPYUID {result.uidvalidity} {uid_set([s for s, _ in mapping])} {uid_set([d for _, d in mapping])}"


async def _room_for_copy(session: SelectedContext, uids: list[int], dest: str) -> None:
    """QUOTA (RFC 9208 §4.3): a COPY that would go over the limits of the
    destination's root (its owner's, for another user's mailbox) is
    refused with [OVERQUOTA] before anything is copied."""
    if uids and IQuotaAccount.providedBy(session.account):
        states = await session.mailbox.states(uids)
        await ensure_room(session.account, sum(st.size for st in states), len(states), dest)


async def _room_for_move(session: SelectedContext, uids: list[int], dest: str) -> None:
    """A MOVE inside one quota root takes no more room, and Dovecot lets
    it through however full the root is; a MOVE into another user's
    mailbox (:mod:`mailframe.acl`) is charged to that owner's root, so it
    is checked as a COPY."""
    pick = getattr(session.account, "quota_for", None)
    if not uids or pick is None or not IQuotaAccount.providedBy(session.account):
        return
    source, _ = await pick(session.mailbox.name)
    target, _ = await pick(dest)
    if source != target:
        await _room_for_copy(session, uids, dest)


@command(Copy, SELECTED)
async def copy(session: SelectedContext, cmd: Copy) -> Reply:
    """RFC 3501 §6.4.7 with COPYUID (RFC 4315 §3)."""
    view = session.view
    pairs = view.resolve(cmd.numbers, cmd.uid)
    dest = await _destination(session, cmd.mailbox)
    uids = [u for _, u in pairs if u not in view.ghosts]
    await _room_for_copy(session, uids, cmd.mailbox)
    result = await copy_messages(session.mailbox, uids, dest)
    mapping = sorted(result.pairs)
    if not mapping:
        return Reply("No messages copied")
    return Reply("Copy completed", _copyuid(result, mapping))


@command(Move, SELECTED)
async def move(session: SelectedContext, cmd: Move) -> Reply:
    """RFC 6851 §3.3: COPYUID in an untagged OK, then the EXPUNGEs."""
    _writable(session)
    view = session.view
    pairs = view.resolve(cmd.numbers, cmd.uid)
    dest = await _destination(session, cmd.mailbox)
    uids = [u for _, u in pairs if u not in view.ghosts]
    await _room_for_move(session, uids, cmd.mailbox)
    result = await move_messages(session.mailbox, uids, dest)
    mapping = sorted(result.pairs)
    session.expunged(s for s, _ in mapping)
    if mapping:
        session.untagged_ok("Moved UIDs.", _copyuid(result, mapping))
    expunging(session, [s for s, _ in mapping])
    for response in view.drop((s for s, _ in mapping), vanished(session)):
        session.untagged(*response)
    return Reply("Move completed")


@command(Expunge, SELECTED)
async def expunge(session: SelectedContext, cmd: Expunge) -> Reply:
    """RFC 3501 §6.4.3; UID EXPUNGE limits it to a UID set (RFC 4315 §2.1)."""
    _writable(session)
    view = session.view
    uids = None if cmd.uids is None else [u for _, u in view.resolve(cmd.uids, True)]
    if uids == []:
        return Reply("Expunge completed")
    gone = await session.mailbox.expunge(uids)
    session.expunged(gone)
    expunging(session, gone)
    for response in view.drop(gone, vanished(session)):
        session.untagged(*response)
    return Reply("Expunge completed")


@command(Close, SELECTED)
async def close(session: SelectedContext, cmd: Close) -> Reply:
    """RFC 3501 §6.4.2: expunge silently (unless read-only), deselect."""
    if not session.view.readonly:
        try:
            session.expunged(await session.mailbox.expunge(None))
        except NoPermission:
            pass  # RFC 4314 §4: without "e", CLOSE just closes
    session.deselect()
    return Reply("Close completed")


@command(Unselect, SELECTED)
async def unselect(session: SelectedContext, cmd: Unselect) -> Reply:
    session.deselect()
    return Reply("Unselect completed")
