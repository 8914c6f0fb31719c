"""COPY and MOVE between mailboxes of different stores (say memory to
Maildir), through the public :class:`mailframe.interfaces.IMailbox`
methods only.

The framework uses :meth:`IMailbox.copy` / :meth:`IMailbox.move` where the
source says it can take the destination (:meth:`IMailbox.can_copy_to`),
and :func:`copy_across` otherwise.  Flags and internal dates are kept
(RFC 3501 §6.4.7); the destination gets one all-or-none
:meth:`IMailbox.append_many` (so the copied messages are held in memory
together: the batch is the unit of atomicity).  A MOVE then
expunges the sources (RFC 6851 §3.3) by flagging them ``\\Deleted`` and
expunging exactly those UIDs.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailframe.interfaces import IMailbox
from mailframe.records import CopyResult, NewMessage, StoreMode
from mailframe.vocabulary import DELETED

__all__ = ["copy_messages", "move_messages", "copy_across"]


async def copy_across(
    source: IMailbox, uids: Sequence[int], destination: IMailbox
) -> CopyResult:
    """Copy ``uids`` of ``source`` into ``destination`` of any store."""
    states = await source.states(uids)
    messages = []
    kept = []
    for st in states:
        content = await source.read(st.uid)
        messages.append(NewMessage(content, st.flags, st.internaldate))
        kept.append(st.uid)
    if not messages:
        status = await destination.status()
        return CopyResult(status.uidvalidity, ())
    result = await destination.append_many(messages)
    return CopyResult(result.uidvalidity, tuple(zip(kept, result.uids, strict=True)))


async def copy_messages(
    source: IMailbox, uids: Sequence[int], destination: IMailbox
) -> CopyResult:
    """COPY: natively where the source store can, else :func:`copy_across`."""
    if source.can_copy_to(destination):
        return await source.copy(uids, destination)
    return await copy_across(source, uids, destination)


async def move_messages(
    source: IMailbox, uids: Sequence[int], destination: IMailbox
) -> CopyResult:
    """MOVE: natively where the source store can, else copy across, then
    flag the copied sources ``\\Deleted`` and expunge exactly those."""
    if source.can_copy_to(destination):
        return await source.move(uids, destination)
    result = await copy_across(source, uids, destination)
    moved = [src for src, _ in result.pairs]
    if moved:
        await source.store(moved, StoreMode.ADD, frozenset({DELETED}))
        await source.expunge(moved)
    return result
