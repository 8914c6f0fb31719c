"""One mbox file as a mailbox (:class:`MboxMailbox`): the reactor side.

The file is the truth; the mailbox keeps the last scan of it and a
``MailboxLog`` (:mod:`mailframe.store._log`) (modseqs, RFC 7162) and merges
another program's changes into the log at the start of each command
(RFC 3501 §7.4.1: expunges and new messages are announced, flags changed
elsewhere are sent as FETCH).  All file I/O runs in threads through
``MboxFile`` (:mod:`mailframe.store._mbox_file`), one operation at a time per
mailbox; messages are read in ranges, never the file whole.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailframe.errors import CannotDo, ExpungeIssued
from mailframe.interfaces import IMailbox
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
from mailframe.store import _mbox_format as fmt
from mailframe.store import _mbox_index as index
from mailframe.store import _mbox_modseq as modseqs
from mailframe.store import _mbox_recent as recent
from mailframe.store._log import MailboxLog
from mailframe.store._mbox_file import Appended, Found, MboxFile
from mailframe.store._mbox_io import Ident
from mailframe.store.base import LogMailbox, StoredMessage, StoredMeta

if TYPE_CHECKING:
    from mailframe.imap.types import SearchKey

__all__ = ["MboxMailbox"]

T = TypeVar("T")

_log = Logger()
#: reads of a message tried while other processes keep rewriting the file
READ_ATTEMPTS = 8
#: seconds between two saves of a mailbox's index (a cache; see log_changed).
INDEX_SAVE_INTERVAL = 1.0


class MboxMailbox(LogMailbox):
    """One mbox file."""

    def __init__(self, path: str, index_path: str, name: str, uidvalidity: int,
                 file: MboxFile | None = None) -> None:
        #: the file and its locking (the store's lock sets and expunge mode)
        self.file = file if file is not None else MboxFile(path)
        self.file.path = path
        self.index_path = index_path
        self.scan = fmt.Scan()
        self.by_uid: dict[int, fmt.Entry] = {}
        self.ident: Ident | None = None
        self.metas: dict[int, StoredMeta] = {}
        self._io = defer.DeferredLock()
        self._pending: set[defer.Deferred[None]] = set()
        self._index_dirty = False
        self._dropping: set[int] = set()
        #: the log's modseq up to which the file holds every flag change
        self._synced_modseq = 0
        self._index_saved = 0.0  # time.monotonic() of the last index save
        #: called when a watcher arrives (the store starts polling)
        self.on_watch: Callable[[], None] | None = None
        #: a missing file is created at the next sync (INBOX always exists)
        self.create_missing = False
        log, scan, ident = index.load(index_path, path, uidvalidity)
        if scan is not None:
            self._set_scan(scan, ident)
        #: modseqs up to this are claimed on disk; the log's above it are
        #: this process's alone so far (:mod:`mailframe.store._mbox_modseq`)
        self._modseq_base = log.highestmodseq
        super().__init__(name, log)

    @property
    def path(self) -> str:
        return self.file.path

    @path.setter
    def path(self, value: str) -> None:
        self.file.path = value

    def _set_scan(self, scan: fmt.Scan, ident: Ident | None) -> None:
        old = self.scan.entries
        self.scan, self.ident = scan, ident
        n = len(old)
        # only appended to (the known entries the very same objects; one
        # whose flags another process changed in place is a new one):
        # by_uid grows by the new messages, else it is rebuilt (a new dict,
        # so a caller's reference to the old one still says what we knew)
        if n and len(scan.entries) >= n and len(self.by_uid) == n \
                and all(a is b for a, b in zip(scan.entries, old, strict=False)):
            for e in scan.entries[n:]:
                self.by_uid[e.uid] = e
        else:
            self.by_uid = {e.uid: e for e in scan.entries}

    def _unwritten(self) -> dict[int, frozenset[str]]:
        """Flags in the log that the file does not hold yet (STOREs to
        write), from the log's changes since the file last matched it:
        O(changes), not O(mailbox)."""
        want = {}
        for st in self.log.changes_since(self._synced_modseq).changed:
            e = self.by_uid.get(st.uid)
            if e is not None and e.flags != st.flags:
                want[st.uid] = st.flags
        return want

    def _index_interval(self) -> float:
        """Seconds between index saves: longer for large mailboxes, whose
        index costs more to write."""
        return max(INDEX_SAVE_INTERVAL, len(self.scan.entries) / 2000)

    # ------------------------------------------------------------ the index

    def log_changed(self) -> defer.Deferred[None] | None:
        """Flag changes are written to the file before the command
        completes.  The index (a cache of the scan and the log's modseqs)
        costs its whole size to write, so it is saved at most every
        :data:`INDEX_SAVE_INTERVAL` seconds, in the background after an
        append (whose bytes are already durable: the appending session
        answers first and claims \\Recent first, RFC 3501 §2.3.2), and by
        :meth:`flush` when the store closes.  A crash in between costs the
        modseqs of the last changes, never UIDs, flags or mail."""
        if self.deleted:
            return None
        upto = self.log.highestmodseq
        if self._unwritten():
            return self._locked_io(self._write_flags_and_index)
        self._synced_modseq = upto
        self._index_dirty = True
        if time.monotonic() - self._index_saved < self._index_interval():
            return None
        self._save_in_background()
        return None

    def _save_in_background(self) -> None:
        d = self._locked_io(self._write_flags_and_index)
        self._pending.add(d)

        def done(result: object) -> None:
            self._pending.discard(d)
            if isinstance(result, Failure):
                _log.failure("saving the mbox index of {path}", result, path=self.path)

        d.addBoth(done)

    async def flush(self) -> None:
        """Save an index not yet saved and wait for background saves (the
        store is closing, or the mailbox is renamed or deleted)."""
        if self._index_dirty and not self.deleted:
            self._save_in_background()
        while self._pending:
            await defer.DeferredList(list(self._pending))

    # -------------------------------------------------------- serialised I/O

    def _locked_io(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> defer.Deferred[Any]:
        async def run() -> Any:
            await self._io.acquire()
            try:
                return await fn(*args)
            except (IsADirectoryError, NotADirectoryError) as e:
                # another process made the file a directory (or a parent a
                # file) since the account looked: a NO, never a traceback
                raise CannotDo(f"mailbox {self.name!r} is no longer a file "
                               "(mbox layout, as in Dovecot; see DIRNAME=)") from e
            finally:
                self._io.release()

        return defer.Deferred.fromCoroutine(run())

    # --------------------------------------------------------------- syncing

    async def _sync_now(self) -> None:
        """Notice another program's change to the file (reactor side: merge
        what the thread found into the log)."""
        if self.deleted:
            return
        disk, result = await threads.deferToThread(self._read_file)
        self._raise_modseq(disk)
        if result is not None:
            self._adopt(*result)
        if not self._dropping and not self._unwritten():
            # (our own changes not yet in the file are claimed once they are)
            await self._claim_modseqs()

    def _read_file(self) -> tuple[int, Found | None]:
        """Thread side of a sync: the modseq every process claimed, read
        before the file (a change claimed is already in the file), then
        the file's changes."""
        disk = modseqs.read(modseqs.modseq_path(self.index_path), self.log.uidvalidity)
        return disk, self.file.scan_if_changed(self.scan, self.ident, self.log.uidvalidity,
                                               self.log.uidnext, self.create_missing)

    def _raise_modseq(self, disk: int) -> None:
        """Another process claimed modseqs above ours: ours (and the pending
        ones) move above them, so HIGHESTMODSEQ never goes backwards for a
        client that moves between processes (RFC 7162 §3.1)."""
        if disk > self._modseq_base:
            by = disk - self._modseq_base
            modseqs.shift_log(self.log, self._modseq_base, by)
            if self._synced_modseq > self._modseq_base:
                self._synced_modseq += by
            self._modseq_base = disk

    async def _claim_modseqs(self) -> None:
        """Claim the log's pending modseqs on disk, moved up past any
        another process claimed meanwhile (call with the I/O lock held,
        once the changes are in the file)."""
        high = self.log.highestmodseq
        if high <= self._modseq_base or self.deleted:
            return
        base = self._modseq_base
        by = await threads.deferToThread(
            modseqs.claim, modseqs.modseq_path(self.index_path), self.log.uidvalidity, base, high)
        if by:
            modseqs.shift_log(self.log, base, by)
            if self._synced_modseq > base:
                self._synced_modseq += by
        self._modseq_base = high + by

    def sync(self) -> defer.Deferred[None]:
        return self._locked_io(self._sync_now)

    def _adopt(self, found: fmt.Scan, ident: Ident,
               known_by_uid: dict[int, fmt.Entry] | None = None) -> None:
        """Make the log match a fresh scan: new UIDs appended, vanished ones
        expunged, flags another writer changed set (RFC 3501 §7.4.1 /
        §7.3.1 follow).  ``known_by_uid``: what we believed the file held
        (default: the last scan); a message whose flags in the log differ
        from it has a STORE of ours not yet written, which wins."""
        if known_by_uid is None:
            known_by_uid = self.by_uid
        self._set_scan(found, ident)
        if found.uidvalidity and found.uidvalidity != self.log.uidvalidity and len(self.log):
            # the file was replaced with another folder's data: start over
            self.log.expunge(self.log.uids)
        if found.uidvalidity:
            self.log.uidvalidity = found.uidvalidity
        with self.log.batch():
            gone = [u for u in self.log.uids if u not in self.by_uid]
            if gone:
                self.log.expunge(gone)
                for u in gone:
                    self.metas.pop(u, None)
            for e in found.entries:
                st = self.log.get(e.uid)
                if st is not None:
                    known = known_by_uid.get(e.uid)
                    if known is not None and (known.digest, known.served_size) != (
                            e.digest, e.served_size):
                        # another program rewrote its header (mutt adds Lines:):
                        # serve the file's bytes, parsed again
                        self.metas.pop(e.uid, None)
                        _resize(self.log, e.uid, e.served_size)
                    if known is not None and st.flags != known.flags:
                        # our STORE is not written yet: its change (from what
                        # we knew to the log) applied to what the file holds
                        # now, so another process's STORE in between is kept
                        # (RFC 3501 §6.4.6: +FLAGS/-FLAGS touch only the flags named)
                        merged = (e.flags - (known.flags - st.flags)) | (st.flags - known.flags)
                        if merged != st.flags:
                            self.log.set_flags(e.uid, merged)
                        continue
                    self.log.set_flags(e.uid, e.flags)
                elif e.uid not in self._dropping:  # (an EXPUNGE of ours is under way)
                    _log_add(self.log, e.uid, e.flags, e.served_size)
            if found.last_uid + 1 > self.log.uidnext:
                self.log.uidnext = found.last_uid + 1

    async def expunge_uids(self, uids: Sequence[int]) -> list[int]:
        """EXPUNGE: the log first, then the file; a scan read in between
        must not bring the messages back."""
        self._dropping.update(uids)
        try:
            return await super().expunge_uids(uids)
        finally:
            self._dropping.difference_update(uids)

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Watchers also hear of other programs' changes: the store polls
        watched mailboxes every second (RFC 2177: an IDLE client hears of
        new mail soon)."""
        unwatch = super().watch(callback)
        if self.on_watch is not None:
            self.on_watch()
        return unwatch

    # ---------------------------------------------------------- reads (IMAP)
    #
    # Every command first notices another program's change: Dovecot, mutt,
    # or the other worker process serving the same tree (``--workers``),
    # so a STORE starts from the flags the file holds, a SEARCH or EXPUNGE
    # sees messages and flags as they are (RFC 3501 §5.5: the server
    # serialises; RFC 3501 §7.4.1 reports the change after the command).

    def _synced(self, then: Callable[[], Awaitable[T]]) -> defer.Deferred[T]:
        async def run() -> T:
            await self.sync()
            return await then()

        return defer.Deferred.fromCoroutine(run())

    # ------------------------------------------- \\Recent across processes

    async def _adopt_recent_floor(self) -> None:
        """UIDs another process's session claimed are \\Recent for no
        session here (:mod:`mailframe.store._mbox_recent`)."""
        lo, hi = self.log.peek_recent()
        if lo >= hi:
            return
        disk = await threads.deferToThread(
            recent.read_floor, recent.recent_path(self.index_path), self.log.uidvalidity)
        if disk > self.log._recent_floor:
            self.log._recent_floor = min(disk, self.log.uidnext)

    def claim_recent(self) -> defer.Deferred[tuple[int, int]]:
        """RFC 3501 §2.3.2, across every process on this file: the log's
        range is taken at once (within this process the first session to
        ask wins, as in every store), then the floor on disk is raised,
        which says what another process's sessions claimed first."""
        async def run() -> tuple[int, int]:
            await self.sync()  # another process's appends first
            lo, hi = self.log.claim_recent()
            if lo >= hi:
                return hi, hi
            disk = await threads.deferToThread(
                recent.claim_floor, recent.recent_path(self.index_path),
                self.log.uidvalidity, hi)
            first = max(lo, disk)
            return (first, hi) if first < hi else (hi, hi)

        return defer.Deferred.fromCoroutine(run())

    def peek_recent(self) -> defer.Deferred[tuple[int, int]]:
        """What :meth:`claim_recent` would give, unclaimed (EXAMINE)."""

        async def run() -> tuple[int, int]:
            await self.sync()
            await self._adopt_recent_floor()
            return self.log.peek_recent()

        return defer.Deferred.fromCoroutine(run())

    def status(self) -> defer.Deferred[MailboxStatus]:
        async def run() -> MailboxStatus:
            await self.sync()
            await self._adopt_recent_floor()
            return self.log.status()

        return defer.Deferred.fromCoroutine(run())

    def store(self, uids: Sequence[int], mode: StoreMode, flags: frozenset[str],
              unchangedsince: int | None = None) -> defer.Deferred[StoreResult]:
        """STORE, answered with the modseqs as claimed on disk (the write
        claims them: :mod:`mailframe.store._mbox_modseq`)."""

        async def run() -> StoreResult:
            result = await super(MboxMailbox, self).store(uids, mode, flags, unchangedsince)
            if not result.changed:
                return result
            if self.log.highestmodseq > self._modseq_base:
                await self._locked_io(self._claim_if_written)
            changed = []
            for st in result.changed:
                now = self.log.get(st.uid)  # (the same message and flags, its modseq claimed)
                changed.append(now if now is not None and now.flags == st.flags else st)
            return replace(result, changed=tuple(changed))

        return self._synced(run)

    async def _claim_if_written(self) -> None:
        if not self._dropping and not self._unwritten():
            await self._claim_modseqs()

    def search(self, key: SearchKey, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        return self._synced(lambda: super(MboxMailbox, self).search(key, uids))

    def states(self, uids: Sequence[int]) -> defer.Deferred[list[MessageState]]:
        return self._synced(lambda: super(MboxMailbox, self).states(uids))

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        return self._synced(lambda: super(MboxMailbox, self).records(uids))

    def expunge(self, uids: Sequence[int] | None = None) -> defer.Deferred[list[int]]:
        return self._synced(lambda: super(MboxMailbox, self).expunge(uids))

    def copy(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        return self._synced(lambda: super(MboxMailbox, self).copy(uids, destination))

    def move(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        return self._synced(lambda: super(MboxMailbox, self).move(uids, destination))

    def snapshot(self) -> defer.Deferred[Snapshot]:
        return self.sync().addCallback(lambda _: self.log.snapshot())

    def changes_since(self, modseq: int) -> defer.Deferred[Changes]:
        return self.sync().addCallback(lambda _: self.log.changes_since(modseq))

    # ------------------------------------------------------------ primitives

    def message_meta(self, uid: int) -> StoredMeta | defer.Deferred[StoredMeta]:
        meta = self.metas.get(uid)
        if meta is None:
            return defer.Deferred.fromCoroutine(self._meta(uid))
        return meta

    async def _meta(self, uid: int) -> StoredMeta:
        meta = self.metas.get(uid)
        if meta is None:
            from mailframe.message import parse

            # (raises ExpungeIssued when another process expunged it: RFC 2180 §4.1)
            content = await self.read_range(uid, 0, None)
            entry = self.by_uid.get(uid)
            if entry is None:
                raise ExpungeIssued(_gone(uid))
            meta = self.metas[uid] = StoredMeta(entry.internaldate, parse(content))
        return meta

    async def _lm_states(self, uids: Sequence[int]) -> list[MessageState]:
        """The cheap per-message state (FLAGS, RFC822.SIZE, INTERNALDATE,
        SEARCH on them) from the scan: no message is read or parsed, however
        large (the internal date is the ``From_`` line's)."""
        out = []
        for st in self.log.states(uids):
            meta = self.metas.get(st.uid)
            entry = self.by_uid.get(st.uid)
            if meta is not None:
                when = meta.internaldate
            elif entry is not None:
                when = entry.internaldate
            else:
                when = (await self._meta(st.uid)).internaldate
            out.append(MessageState(st.uid, st.flags, st.modseq, self.log.size_of(st.uid), when))
        return out

    def read_range(self, uid: int, start: int, end: int | None) -> defer.Deferred[bytes]:
        return self._locked_io(self._read, uid, start, end)

    async def _read(self, uid: int, start: int, end: int | None) -> bytes:
        for _attempt in range(READ_ATTEMPTS):
            entry = self.by_uid.get(uid)
            if entry is None:
                raise ExpungeIssued(_gone(uid))
            data = await threads.deferToThread(self.file.read, entry, start, end, self.ident)
            if data is not None:
                return data
            await self._sync_now()
        raise CannotDo("the mailbox keeps changing under us")

    def put_messages(self, messages: Sequence[StoredMessage]) -> defer.Deferred[None]:
        """Not used: :meth:`_append_stored` numbers and writes under the
        file lock (another program may append meanwhile)."""
        raise NotImplementedError("the mbox store appends in _append_stored")

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """APPEND with Dovecot's state headers stripped (they are the
        store's, never the sender's), so a forged X-UID is harmless."""
        from mailframe.message import to_crlf

        cleaned = []
        for raw, flags, when in messages:
            head, body, trim = fmt.split_message(to_crlf(bytes(raw)))
            whole = head + body
            cleaned.append(NewMessage(whole[: len(whole) - trim], flags, when))
        return super().append_many(cleaned)

    async def _append_stored(self, items: Sequence[tuple[bytes, frozenset[str], StoredMeta]]
                             ) -> AppendResult:
        """APPEND / COPY into this file: the UIDs are chosen under the file
        lock, after another program's appends (Dovecot, an MDA) are read,
        so a new UID is always the file's last UID + 1; all or none; the log
        hears of the messages only once they are fsynced."""
        self.check_alive()
        await self._append_lock.acquire()
        try:
            await self._io.acquire()
            try:
                saved = datetime.now(UTC).replace(microsecond=0)  # SAVEDATE (RFC 8514 §2)
                new = [(content, fl, replace(meta, savedate=saved)) for content, fl, meta in items]
                done: Appended | None = None
                for _attempt in range(5):
                    await self._sync_now()
                    done = await threads.deferToThread(
                        self.file.append, self.scan, self.ident, new,
                        self.log.uidvalidity, self.log.uidnext)
                    if done is not None:
                        break
                if done is None:
                    raise CannotDo("the mailbox keeps being replaced under us")
                if done.before is not None:  # another writer appended or flagged meanwhile
                    self._adopt(*done.before)
                for i, (_, _, meta) in enumerate(new):
                    self.metas[done.first + i] = meta
                self._set_scan(*done.after)
                uids = []
                with self.log.batch():
                    for i, (content, fl, _) in enumerate(new):
                        state = self.log.append(fl - {"\\Recent"}, len(content))
                        assert state.uid == done.first + i, (state.uid, done.first + i)
                        uids.append(state.uid)
                # (their modseqs are claimed by the next sync, which every
                # command that shows one runs first: no thread hop here, so
                # the appending session still claims \Recent first)
            finally:
                self._io.release()
            result = self.log_changed()
            if result is not None:
                await result
            return AppendResult(self.log.uidvalidity, tuple(uids))
        finally:
            self._append_lock.release()

    def drop_messages(self, uids: Sequence[int]) -> defer.Deferred[None]:
        """EXPUNGE: the file rewritten from the first expunged message on
        (:mod:`mailframe.store._mbox_rewrite`)."""

        async def run() -> None:
            if self.deleted:
                # DELETE: the account removes the file (another process may
                # have removed it already); nothing to rewrite
                for u in uids:
                    self.metas.pop(u, None)
                return
            found = await threads.deferToThread(
                self.file.rewrite, self.scan, self.ident, {}, set(uids),
                self.log.uidvalidity, self.log.uidnext)
            # another writer's changes the rewrite read are ours to report
            self._adopt(*found)
            for u in uids:
                self.metas.pop(u, None)
            if not self._unwritten():
                await self._claim_modseqs()  # the expunge is in the file

        return self._locked_io(run)

    async def _write_flags_and_index(self) -> None:
        """Bring the file's flag headers up to the log, then save the index."""
        if self.deleted:
            return
        upto = self.log.highestmodseq
        want = self._unwritten()
        wrote = bool(want)
        for _attempt in range(3):
            if not want:
                break
            base = {u: self.by_uid[u].flags for u in want}
            found = await threads.deferToThread(
                self.file.write_flags, self.scan, self.ident, want, self.log.uidvalidity,
                self.log.uidnext, base)
            # what we wrote is known; anything else that differs is another writer's
            known = dict(self.by_uid)
            for u, fl in want.items():
                e = known.get(u)
                if e is not None and e.flags != fl:
                    known[u] = e.with_flags(fl)
            self._adopt(*found, known_by_uid=known)
            # a STORE made while we wrote, rebased on another writer's: next
            want = self._unwritten()
        self._synced_modseq = upto
        if not want and not self._dropping:
            await self._claim_modseqs()  # every change is in the file
        if not self._index_dirty and not wrote and self._index_saved:
            return
        if wrote and time.monotonic() - self._index_saved < self._index_interval():
            self._index_dirty = True  # the file is durable; the cache can wait
            return
        self._index_dirty = False
        self._index_saved = time.monotonic()
        data = index.state(self.scan, self.ident, self.log)
        await threads.deferToThread(index.save, self.index_path, data)


def _gone(uid: int) -> str:
    """NO [EXPUNGEISSUED]'s text (RFC 5530 §3's example, Dovecot's words:
    clients and imaptest know it for a race with another expunge)."""
    return f"Some of the requested messages no longer exist (UID {uid} was expunged)"


def _log_add(log: MailboxLog, uid: int, flags: frozenset[str], size: int) -> None:
    """A message found in the file (not appended by us) enters the log at
    its own UID."""
    modseq = log._next_modseq()
    log._add(uid, frozenset(flags), modseq, size)
    log.uidnext = max(log.uidnext, uid + 1)
    log._committed()


def _resize(log: MailboxLog, uid: int, size: int) -> None:
    """A message's size as the file now holds it (STATUS SIZE, RFC 8438)."""
    log._size += size - log._sizes.get(uid, 0)
    log._sizes[uid] = size
