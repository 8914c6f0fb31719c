"""One Maildir folder: three collaborators behind one face, and the reads.

A :class:`Folder` is made of

- a :class:`mailframe.store._maildir_state.FolderIndex` — ``dovecot-uidlist``,
  ``mailframe-index``/``mailframe-cache``, ``dovecot-keywords`` and the
  in-memory :class:`mailframe.store._log.MailboxLog` they describe, changed
  only by replaying index events
  (:data:`mailframe.store._maildir_index.Event`);
- a :class:`mailframe.store._maildir_sync.FolderScanner` — ``new/`` and
  ``cur/``: what other programs did becomes events, a lost index is rebuilt;
- a :class:`mailframe.store._maildir_writes.FolderWriter` — APPEND, STORE,
  EXPUNGE and COPY, each a transaction under ``dovecot-uidlist.lock``;

and answers the reads (FETCH's records, message bytes, states) itself.
Every method runs in the folder's
:class:`mailframe.store._maildir_worker.SerialWorker` (one thread at a
time), except the few marked "reactor thread", which read memory only.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, BinaryIO, TypeVar

from twisted.logger import Logger
from twisted.python.failure import Failure

from mailframe.errors import ExpungeIssued
from mailframe.message import MessageInfo, parse, to_crlf
from mailframe.records import Changes, MessageRecord, MessageState, Snapshot, StoreMode, StoreResult
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_files import DotLock, make_maildir, needs_crlf
from mailframe.store._maildir_index import Meta
from mailframe.store._maildir_recent import ensure_file
from mailframe.store._maildir_state import FolderIndex
from mailframe.store._maildir_sync import FolderScanner, no_gc
from mailframe.store._maildir_uidlist import UidList
from mailframe.store._maildir_worker import SerialWorker
from mailframe.store._maildir_writes import FolderWriter, Prepared

__all__ = ["Folder", "make_maildir", "needs_crlf"]

_log = Logger()

T = TypeVar("T")
#: records kept for reuse (each holds its message's parsed form)
_RECORDS_KEPT = 10_000


@lru_cache(maxsize=64)
def _zone(minutes: int) -> timezone:
    """The (few) time zones internal dates come in, built once each."""
    return timezone(timedelta(minutes=minutes))


def _save_date(m: Meta) -> datetime:
    """SAVEDATE (RFC 8514): the time the file was delivered, which a
    Maildir unique name starts with (``<secs>.M...``, kept across flag
    renames); the INTERNALDATE for a name that does not."""
    base = m.name[m.name.rfind("/") + 1 :]
    secs = base[: base.find(".")] if "." in base else ""
    stamp = int(secs) if secs.isdigit() and len(secs) <= 11 else int(m.mtime)
    return datetime.fromtimestamp(stamp, UTC)


def _dates(m: Meta) -> tuple[datetime, datetime]:
    """(INTERNALDATE in its own zone, SAVEDATE), made once per message."""
    dates = m.dates
    if dates is None:
        dates = m.dates = (datetime.fromtimestamp(int(m.mtime), _zone(m.tzmin)), _save_date(m))
    return dates


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes from ``offset``, fewer at the end of the file:
    one ``pread`` for a message whose size the index knows (a file with
    bare LF line ends is smaller than its CRLF size: one more, empty)."""
    parts = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class Folder:
    """One Maildir folder (``path``; ``root`` is its Maildir root)."""

    def __init__(
        self, path: str, root: str | None = None, worker: SerialWorker | None = None
    ) -> None:
        self.path = path
        root = root or (os.path.dirname(path) if os.path.basename(path).startswith(".") else path)
        self.root = root
        #: runs this folder's jobs one at a time (in the reactor's thread
        #: pool, or at once by default)
        self.worker = worker or SerialWorker(None)
        self.index = FolderIndex(path, root, self.worker.post)
        self.scanner = FolderScanner(self.index)
        self.writer = FolderWriter(self.index, self.scanner, self.info)
        self.cur = self.scanner.cur
        self.new = self.scanner.new
        self.tmp = self.writer.tmp
        self._refresh_pending = False
        self._compaction_queued = False
        self._recent_file = False
        #: held by a read job while it refreshes or reads the log (taken
        #: before the index's ``mem``, never after it)
        self.reading = threading.RLock()
        #: per thread: how deep in :meth:`_read_section` it is
        self._read_depth = threading.local()
        #: uid -> (the log's state it was made from, the record): a frozen
        #: record is handed out again while the message's state is the
        #: same object (its flags and modseq unchanged), as header syncs
        #: and SEARCH ask for the same records over and over
        self._records_made: dict[int, tuple[object, MessageRecord]] = {}

    # -- the index's parts, for the recent claim and the admin tools ----

    @property
    def lock(self) -> DotLock:
        return self.index.lock

    @property
    def uidlist(self) -> UidList:
        return self.index.uidlist

    @property
    def mem(self) -> Any:
        return self.index.mem

    @property
    def log(self) -> MailboxLog | None:
        return self.index.log

    @property
    def meta(self) -> dict[int, Meta]:
        return self.index.meta

    # ------------------------------------------------------------ loading

    @contextmanager
    def _read_section(self) -> Iterator[None]:
        """:attr:`reading` held, after :meth:`FolderScanner.settle` on the
        way in (outside the lock, so a read waiting for another process's
        commit keeps no other read of the folder waiting)."""
        local = self._read_depth
        depth = getattr(local, "n", 0)
        if depth == 0:
            self.scanner.settle()
        local.n = depth + 1
        try:
            with self.reading:
                yield
        finally:
            local.n = depth

    def refresh(self) -> MailboxLog:
        """Bring the log up to date with the disk; returns it.  Reads run
        beside each other (:meth:`SerialWorker.submit_read`): one at a
        time refreshes or looks at the log (:attr:`reading`); the reactor
        thread's answers from memory wait for none of them (they take
        only the index's ``mem``, held while the log changes)."""
        with self._read_section():
            return self.scanner.refresh()

    def read_log(self, fn: Callable[[MailboxLog], T]) -> T:
        """A read job's body: refresh, then ``fn(log)`` with the log held
        still (no other read's refresh changes it meanwhile)."""
        with self._read_section():
            return fn(self.refresh())

    def rebuild(self) -> None:
        """Recreate the index from the uidlist and the files."""
        self.scanner.rebuild()

    def snapshot(self) -> Snapshot:
        """The whole mailbox (SELECT); warm, three ``stat()`` calls."""
        with self._read_section():
            self.refresh()
            return self.index.snapshot()

    # ------------------------------------------------------------- reads

    def info(self, uid: int) -> MessageInfo:
        """The parsed message, from memory, the cache file, or the file."""
        info = self.index.cached_info(uid)
        if info is None:
            info = parse(self.read_whole(uid))
            self.index.remember(uid, info)
        return info

    def records(self, uids: Iterable[int]) -> list[MessageRecord]:
        """FETCH's view of ``uids`` (those that exist, in UID order), with
        the parsed messages from the cache file: no message file opened."""
        with self._read_section(), no_gc():
            return self._records(self.refresh(), uids)

    def _records(self, log: MailboxLog, uids: Iterable[int]) -> list[MessageRecord]:
        out = []
        meta = self.index.meta
        infos = self.index.infos
        made = self._records_made
        if len(made) > _RECORDS_KEPT:
            made.clear()
        wanted = sorted(set(uids))
        self.index.cached_infos([u for u in wanted if u not in made])  # the cache file read in runs
        for uid in wanted:
            state = log.get(uid)
            if state is None:
                continue
            known = made.get(uid)
            if known is not None and known[0] is state:
                out.append(known[1])
                continue
            m = meta[uid]
            info = infos.get(uid)
            if info is None:
                try:
                    info = self.info(uid)
                except ExpungeIssued:
                    continue
            when, saved = m.dates or _dates(m)
            record = MessageRecord(uid, state.flags, state.modseq, m.size, when, info, saved)
            made[uid] = (state, record)
            out.append(record)
        return out

    def states(self, uids: Iterable[int]) -> list[MessageState]:
        """The cheap state of ``uids`` (those that exist, in UID order):
        from the index alone, no cache entry decoded, no file opened."""
        with self._read_section():
            log = self.refresh()
            meta = self.index.meta
            out = []
            for state in log.states(uids):
                m = meta[state.uid]
                when = (m.dates or _dates(m))[0]
                out.append(MessageState(state.uid, state.flags, state.modseq, m.size, when))
            return out

    def read_range(self, uid: int, start: int, end: int | None) -> bytes:
        """Bytes ``[start:end]`` of the message as served (CRLF line
        ends); ExpungeIssued if gone.  Reads only that range from the file
        unless the file needs line-end conversion: one ``open``, one
        ``pread`` and one ``close`` (no buffered file object)."""
        fd, m = self._open_fd(uid)
        try:
            if not m.conv:
                stop = m.size if end is None else min(end, m.size)
                return _pread_all(fd, max(0, stop - start), start)
            return to_crlf(_pread_all(fd, m.size, 0))[start:end]
        finally:
            os.close(fd)

    def read_whole(self, uid: int) -> bytes:
        """The whole message as served; ExpungeIssued if gone."""
        return self.read_range(uid, 0, None)

    def read_many(self, uids: Iterable[int]) -> dict[int, bytes]:
        """Whole messages of those of ``uids`` that exist (IBatchReadMailbox):
        each file read with one ``pread`` of its known size."""
        out: dict[int, bytes] = {}
        for uid in uids:
            try:
                out[uid] = self.read_range(uid, 0, None)
            except ExpungeIssued:
                continue
        return out

    def _open_fd(self, uid: int) -> tuple[int, Meta]:
        """The message file's descriptor and its index entry; ExpungeIssued
        if gone.

        A missing file was usually renamed (a flag change) by another
        process: its index line names the new file, so catch up first,
        then list the directories (a rename by a program keeping no index),
        and once more should the file have been renamed again meanwhile
        (several --workers storing flags on one message)."""
        meta = self.index.meta
        for attempt in range(4):
            m = meta.get(uid)
            if m is None:
                break
            try:
                return os.open(os.path.join(self.path, m.name), os.O_RDONLY | os.O_CLOEXEC), m
            except FileNotFoundError:
                if attempt == 0:
                    self.refresh()
                elif attempt < 3:
                    with self.reading:
                        self.scanner.scan()
                meta = self.index.meta
        raise ExpungeIssued(f"message UID {uid} no longer exists")

    def open_file(self, uid: int) -> BinaryIO:
        """The message file, opened for reading (as served: CRLF line
        ends); ExpungeIssued if gone."""
        fd, m = self._open_fd(uid)
        if not m.conv:
            return open(fd, "rb")
        try:
            return io.BytesIO(to_crlf(_pread_all(fd, m.size, 0)))
        finally:
            os.close(fd)

    # ------------------------------------------------------------ writes

    def prepare(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[Prepared]:
        """APPEND's first stage; any thread (see :class:`FolderWriter`)."""
        return self.writer.prepare(items)

    def deliver(self, prepared: list[Prepared]) -> list[int]:
        uids = self.writer.deliver(prepared)
        self._after_write()
        if not self._recent_file:
            # the \\Recent floor's file, made here so the first SELECT's
            # claim on the reactor thread finds it (see _maildir_recent)
            ensure_file(self)
            self._recent_file = True
        return uids

    def append_many(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[int]:
        """Both stages of an APPEND on this thread; the UIDs, ascending."""
        try:
            return self.writer.deliver(self.writer.prepare(items))
        finally:
            self._after_write()

    def store(
        self,
        uids: Iterable[int],
        mode: StoreMode | str,
        flags: frozenset[str],
        unchangedsince: int | None,
    ) -> StoreResult:
        try:
            return self.writer.store(uids, mode, flags, unchangedsince)
        finally:
            self._after_write()

    def remove(self, uids: list[int]) -> list[int]:
        try:
            return self.writer.remove(uids)
        finally:
            self._after_write()

    def expunge(self, uids: Iterable[int] | None) -> list[int]:
        try:
            return self.writer.expunge(uids)
        finally:
            self._after_write()

    def _after_write(self) -> None:
        """In the write's job: a checkpoint the write found due
        (:meth:`FolderIndex.maybe_compact`) becomes a write job of its own,
        queued just after the write's result is handed over
        (:meth:`SerialWorker.post`), so the command is answered first (in
        synchronous mode it runs at once)."""
        if self.index.compact_due and not self._compaction_queued:
            self._compaction_queued = True
            self.worker.post(self._queue_compaction)

    def _queue_compaction(self) -> None:
        self.worker.submit(self.compact).addErrback(self._compaction_failed)

    def _compaction_failed(self, failure: Failure) -> None:
        """A folder deleted meanwhile has nothing to compact; any other
        failure is logged (the index stays as it was and the next write
        that finds compaction due tries again)."""
        if not failure.check(FileNotFoundError):
            _log.failure("index compaction of {path} failed", failure, path=self.path)

    def compact(self) -> None:
        """The checkpoint left for later, under the lock once caught up
        with every other writer's events (so the checkpoint holds them);
        nothing if another process compacted meanwhile.  A folder deleted
        meanwhile has nothing to compact (the job's failure is dropped)."""
        self._compaction_queued = False
        index = self.index
        if not index.compact_due:
            return
        with index.lock:
            self.scanner.locked_refresh()
            index.compact_due = False
            index.maybe_compact()

    def export(self, dest: Folder, uids: Iterable[int]) -> list[Prepared]:
        """COPY's first stage, in this folder's worker (``dest.deliver``
        is the second, in ``dest``'s)."""
        return self.writer.export(dest.writer, uids)

    def copy_into(self, dest: Folder, uids: Iterable[int]) -> list[tuple[int, int]]:
        """Both stages of a COPY on this thread: (source uid, new uid)."""
        prepared = self.export(dest, uids)
        return list(zip((p.source for p in prepared), dest.deliver(prepared), strict=True))

    # -------------------------------------------- reactor thread, memory

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        return self.index.watch(callback)

    @property
    def watched(self) -> bool:
        return self.index.watched

    def changes_now(self, modseq: int) -> Changes | None:
        return self.index.changes_now(modseq)

    def now(self, fn: Callable[[MailboxLog], T | None]) -> T | None:
        """Reactor thread: ``fn(log)`` when :meth:`refresh` would find
        nothing new — the index file holds nothing the log does not
        (another process's commit), the directories are as the last scan
        left them (a delivery by Dovecot or an MDA) and no recheck is due:
        three ``stat()`` calls of inodes this folder's own work keeps in
        the kernel's cache, in place of a trip through the worker (about
        0.1 ms of CPU and more of waiting).  None, leaving the work to the
        worker, when anything may have changed or a job is changing the
        log right now."""
        index = self.index
        if not index.mem.acquire(blocking=False):
            return None
        try:
            log = index.log
            if log is None or not index.applied_current() or not self.scanner.unchanged_now():
                return None
            return fn(log)
        finally:
            index.mem.release()

    def nothing_recent_now(self) -> tuple[int, int] | None:
        return self.index.nothing_recent_now()

    def request_refresh(self) -> Any:
        """Queue one :meth:`refresh` (a refresh already waiting in the
        queue covers this request too)."""
        if self._refresh_pending:
            return None
        self._refresh_pending = True

        def job() -> None:
            self._refresh_pending = False
            self.refresh()

        return self.worker.submit_read(job)

    def close(self) -> None:
        self.index.close()

    @property
    def holds_files(self) -> bool:
        """Descriptors of ``dovecot-uidlist`` or ``mailframe-index`` held
        (:class:`mailframe.store._maildir_held.HeldFile`)."""
        return self.index.holds_files

    def idle_for(self, now: float) -> float:
        """Reactor thread: seconds since the folder's last job, 0 while a
        job runs or waits."""
        worker = self.worker
        return 0.0 if worker.busy else now - worker.last_job
