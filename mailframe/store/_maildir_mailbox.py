"""A selected (or STATUSed) Maildir folder: :class:`MaildirMailbox`.

Every method hands its disk work to the folder's
:class:`mailframe.store._maildir_worker.SerialWorker` and returns its
Deferred, so the reactor thread never waits on the disk.  One method
answers on the reactor thread when it can: :meth:`MaildirMailbox.changes_since`
while the folder's worker is busy (another session's FETCH or STORE)
answers from what this process already knows — its own commits, and what
the last refresh read — and queues a refresh whose news reaches the
session through its watch (RFC 3501 §7: a server sends updates when it
learns of them; a NOOP need not wait behind other clients' work).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from zope.interface import implementer

from mailframe.errors import CannotDo
from mailframe.interfaces import IBatchReadMailbox, IExpungeHistory, IMailbox, ISearchableMailbox
from mailframe.records import (
    AppendResult,
    Changes,
    CopyResult,
    MailboxStatus,
    MessageRecord,
    MessageState,
    NewMessage,
    Snapshot,
    StoreMode,
    StoreResult,
)
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_folder import Folder
from mailframe.store._maildir_recent import (
    claim_recent,
    claim_recent_now,
    peek_recent,
    peek_recent_now,
)
from mailframe.store._maildir_recent import status as recent_status
from mailframe.store._maildir_writes import Prepared
from mailframe.store.statesearch import answerable, match

if TYPE_CHECKING:
    from mailframe.imap.types import SearchKey

__all__ = ["MaildirMailbox", "copy_between", "copy_with_validity", "ONE_JOB_APPEND"]

#: Octets up to which an APPEND into a folder whose worker is idle is
#: written and delivered in one job; larger ones (and any while other
#: work on the folder waits) are written into ``tmp/`` beside the
#: folder's other jobs first, then delivered (RFC 3502: all or none).
ONE_JOB_APPEND = 1 << 20


async def copy_between(src: Folder, dest: Folder, uids: Sequence[int]) -> list[tuple[int, int]]:
    """(source uid, new uid) pairs: the messages linked into ``dest``'s
    ``tmp/`` in ``src``'s worker, then delivered in ``dest``'s worker (each
    folder's state touched only by its own)."""
    pairs, _validity = await copy_with_validity(src, dest, uids)
    return pairs


async def copy_with_validity(
    src: Folder, dest: Folder, uids: Sequence[int]
) -> tuple[list[tuple[int, int]], int]:
    """:func:`copy_between`, and ``dest``'s UIDVALIDITY read in the same
    job as the delivery (RFC 4315 COPYUID)."""
    prepared: list[Prepared] = await src.worker.submit(src.export, dest, list(uids))
    # deliver discards from tmp/ whatever it does not deliver
    new, validity = await dest.worker.submit(_deliver_with_validity, dest, prepared)
    return list(zip((p.source for p in prepared), new, strict=True)), validity


def _deliver_with_validity(folder: Folder, prepared: list[Prepared]) -> tuple[list[int], int]:
    """In ``folder``'s worker: deliver, and the UIDVALIDITY the UIDs belong to."""
    uids = folder.deliver(prepared)
    return uids, folder.refresh().uidvalidity


def _prepare_and_deliver(
    folder: Folder, items: list[tuple[bytes, frozenset[str], datetime | None]]
) -> tuple[list[int], int]:
    """Both stages of an APPEND in one job of the folder's worker."""
    return _deliver_with_validity(folder, folder.prepare(items))


def _status_without_recent(log: MailboxLog) -> MailboxStatus | None:
    counts = log.status()
    return None if counts.recent else counts


def _changes_if_claimed(log: MailboxLog, modseq: int) -> Changes | None:
    """The changes, unless new messages wait to be claimed as \\Recent:
    those go through the worker, as with a refresh (RFC 3501 §2.3.2)."""
    lo, hi = log.peek_recent()
    return None if lo < hi else log.changes_since(modseq)


@implementer(IMailbox, ISearchableMailbox, IExpungeHistory, IBatchReadMailbox)
class MaildirMailbox:
    """A selected (or STATUSed) Maildir folder."""

    def __init__(self, account: Any, name: str, folder: Folder) -> None:
        #: the :class:`mailframe.store.maildir.MaildirAccount`
        self.account = account
        self.name = name
        self.folder = folder

    def _run(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        return self.folder.worker.submit(fn, *args)

    def _read(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        """A job that changes nothing but what its refresh brings in: it
        may run beside the folder's other reads (never beside a write)."""
        return self.folder.worker.submit_read(fn, *args)

    def status(self) -> defer.Deferred[MailboxStatus]:
        """From memory when nothing changed on disk and no message waits
        to be claimed (RECENT then needs the claim floor on disk)."""
        known = self.folder.now(_status_without_recent)
        if known is not None:
            return defer.succeed(known)
        return self._read(self.folder.read_log, lambda _log: recent_status(self.folder))

    def snapshot(self) -> defer.Deferred[Snapshot]:
        """SELECT's view: from memory when nothing changed on disk (see
        :meth:`Folder.now`), else from a refresh in the folder's worker."""
        folder = self.folder
        known = folder.now(lambda _log: folder.index.snapshot())
        if known is not None:
            return defer.succeed(known)
        return self._read(folder.snapshot)

    def changes_since(self, modseq: int) -> defer.Deferred[Changes]:
        """RFC 3501 §7: what changed since ``modseq``.  From memory when
        nothing changed on disk; while the worker is busy, from memory as
        soon as no other mailframe process committed anything (a delivery
        by another program is then heard through the refresh queued here
        and the watch)."""
        folder = self.folder
        known = folder.now(lambda log: _changes_if_claimed(log, modseq))
        if known is not None:
            return defer.succeed(known)
        if folder.worker.busy and folder.watched:
            known = folder.changes_now(modseq)
            if known is not None:
                folder.request_refresh()
                return defer.succeed(known)
        return self._read(folder.read_log, lambda log: log.changes_since(modseq))

    def expunged_since(self, modseq: int) -> defer.Deferred[list[int] | None]:
        """IExpungeHistory: None once tombstones that old are pruned."""

        def run(log: MailboxLog) -> list[int] | None:
            return log.expunged_since(modseq) if log.complete_since(modseq) else None

        return self._read(self.folder.read_log, run)

    def states(self, uids: Sequence[int]) -> defer.Deferred[list[MessageState]]:
        """From the index: no cache entry decoded, no file opened."""
        return self._read(self.folder.states, list(uids))

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        return self._read(self.folder.records, list(uids))

    def read(self, uid: int, start: int = 0, end: int | None = None) -> defer.Deferred[bytes]:
        def run() -> bytes:
            self.folder.refresh()
            return self.folder.read_range(uid, start, end)

        return self._read(run)

    def read_many(self, uids: Sequence[int]) -> defer.Deferred[dict[int, bytes]]:
        """IBatchReadMailbox: one refresh and one trip to the folder's
        worker for the group, then each file."""
        wanted = list(uids)

        def run() -> dict[int, bytes]:
            self.folder.refresh()
            return self.folder.read_many(wanted)

        return self._read(run)

    def search(self, key: SearchKey, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        """ISearchableMailbox: flag, UID, size, internal-date and modseq
        keys from the index; ``None`` for the rest."""
        if not answerable(key):
            return defer.succeed(None)
        wanted = list(uids)

        def run(log: MailboxLog) -> list[int]:
            states = self.folder.states(wanted)
            largest = log.largest_uid
            return [st.uid for st in states if match(key, st, largest)]

        return self._read(self.folder.read_log, run)

    def append(
        self,
        content: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: datetime | None = None,
    ) -> defer.Deferred[int]:
        d = self.append_many([NewMessage(content, frozenset(flags), internaldate)])
        return d.addCallback(lambda result: result.uids[0])

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """MULTIAPPEND (RFC 3502): all of ``messages`` or none.  Each is
        parsed, written and fsynced into ``tmp/`` first, in the thread pool
        alongside the folder's other work (in the same job as the delivery
        when the folder's worker is idle and the messages are small: see
        :data:`ONE_JOB_APPEND`); then, in the folder's worker and
        under the lock, all are renamed into ``cur/`` and get their UIDs in
        one uidlist update.  A failure before that update removes what was
        renamed, so nothing becomes visible."""
        folder = self.folder
        try:
            items = [(bytes(c), frozenset(f), d) for c, f, d in messages]
        except Exception:  # not bytes: the batch fails as a whole
            return defer.fail()
        if not folder.worker.busy and sum(len(c) for c, _f, _d in items) <= ONE_JOB_APPEND:
            # Nothing else waits for the folder: one job writes and
            # delivers (one thread hop instead of two; a small message's
            # fsync holds up no other session's work on the folder).
            d = folder.worker.submit(_prepare_and_deliver, folder, items)
        else:

            def deliver(prepared: list[Prepared]) -> defer.Deferred[tuple[list[int], int]]:
                return folder.worker.submit(_deliver_with_validity, folder, prepared)

            d = folder.worker.run_free(folder.prepare, items).addCallback(deliver)
        return d.addCallback(lambda got: AppendResult(got[1], tuple(got[0])))

    def store(
        self,
        uids: Sequence[int],
        mode: StoreMode,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> defer.Deferred[StoreResult]:
        """One transaction for the whole set: one lock, the renames, one
        directory fsync and one index append (in the folder's worker)."""
        if mode not in tuple(StoreMode):
            return defer.fail(ValueError(f"unknown store mode {mode!r}"))
        return self._run(
            self.folder.store, list(uids), StoreMode(mode), frozenset(flags), unchangedsince
        )

    def expunge(self, uids: Sequence[int] | None = None) -> defer.Deferred[list[int]]:
        return self._run(self.folder.expunge, None if uids is None else list(uids))

    def can_copy_to(self, destination: IMailbox) -> bool:
        """Natively only into a Maildir folder of the same store; the
        framework copies into anything else through the public methods."""
        return (
            isinstance(destination, MaildirMailbox)
            and destination.account.store is self.account.store
        )

    def _dest(self, destination: IMailbox) -> Folder:
        if not isinstance(destination, MaildirMailbox):
            raise CannotDo("destination is not a Maildir mailbox of this store")
        return destination.folder

    def copy(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        async def run() -> CopyResult:
            dest = self._dest(destination)
            pairs, validity = await copy_with_validity(self.folder, dest, uids)
            return CopyResult(validity, tuple(pairs))

        return defer.ensureDeferred(run())

    def move(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        async def run() -> CopyResult:
            # Into the mailbox itself too: new UIDs, the old ones expunged
            # (RFC 6851 §3.3, as Dovecot does).
            dest = self._dest(destination)
            pairs, validity = await copy_with_validity(self.folder, dest, uids)
            await self._run(self.folder.remove, [s for s, _ in pairs])
            return CopyResult(validity, tuple(pairs))

        return defer.ensureDeferred(run())

    def claim_recent(self) -> defer.Deferred[tuple[int, int]]:
        """RFC 3501 §2.3.2; nothing to claim is known without the disk, and
        a current folder claims on this thread (see
        :func:`mailframe.store._maildir_recent.claim_recent_now`)."""
        known = self.folder.nothing_recent_now() or claim_recent_now(self.folder)
        if known is not None:
            return defer.succeed(known)
        return self._run(claim_recent, self.folder)

    def peek_recent(self) -> defer.Deferred[tuple[int, int]]:
        """What :meth:`claim_recent` would give, unclaimed (for EXAMINE)."""
        known = self.folder.nothing_recent_now() or peek_recent_now(self.folder)
        if known is not None:
            return defer.succeed(known)
        return self._read(peek_recent, self.folder)

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        unregister: Callable[[], None] = self.folder.watch(callback)
        self.account.store._watching(self.folder)
        return unregister
