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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, BinaryIO

from mailframe.errors import ExpungeIssued
from mailframe.message import MessageInfo, parse, to_crlf
from mailframe.records import Changes, MessageRecord, MessageState, Snapshot, StoreMode, StoreResult
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_files import DotLock, make_maildir, needs_crlf
from mailframe.store._maildir_index import Meta
from mailframe.store._maildir_state import FolderIndex
from mailframe.store._maildir_sync import FolderScanner, no_gc
from mailframe.store._maildir_uidlist import UidList
from mailframe.store._maildir_worker import SerialWorker
from mailframe.store._maildir_writes import FolderWriter, Prepared

__all__ = ["Folder", "make_maildir", "needs_crlf"]


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

    def refresh(self) -> MailboxLog:
        """Bring the log up to date with the disk; returns it."""
        return self.scanner.refresh()

    def rebuild(self) -> None:
        """Recreate the index from the uidlist and the files."""
        self.scanner.rebuild()

    def snapshot(self) -> Snapshot:
        """The whole mailbox (SELECT); warm, three ``stat()`` calls."""
        self.refresh()
        return self.index.snapshot()

    # ------------------------------------------------------------- reads

    def info(self, uid: int) -> MessageInfo:
        """The parsed message, from memory, the cache file, or the file."""
        info = self.index.cached_info(uid)
        if info is None:
            with self.open_file(uid) as f:
                info = parse(f.read())
            self.index.remember(uid, info)
        return info

    def records(self, uids: Iterable[int]) -> list[MessageRecord]:
        """FETCH's view of ``uids`` (those that exist, in UID order), with
        the parsed messages from the cache file: no message file opened."""
        log = self.refresh()
        with no_gc():
            return self._records(log, uids)

    def _records(self, log: MailboxLog, uids: Iterable[int]) -> list[MessageRecord]:
        out = []
        meta = self.index.meta
        for uid in sorted(set(uids)):
            state = log.get(uid)
            if state is None:
                continue
            m = meta[uid]
            try:
                info = self.info(uid)
            except ExpungeIssued:
                continue
            tz = _zone(m.tzmin)
            out.append(
                MessageRecord(
                    uid=uid,
                    flags=state.flags,
                    modseq=state.modseq,
                    size=m.size,
                    internaldate=datetime.fromtimestamp(int(m.mtime), tz),
                    info=info,
                    savedate=_save_date(m),
                )
            )
        return out

    def states(self, uids: Iterable[int]) -> list[MessageState]:
        """The cheap state of ``uids`` (those that exist, in UID order):
        from the index alone, no cache entry decoded, no file opened."""
        log = self.refresh()
        meta = self.index.meta
        out = []
        for state in log.states(uids):
            m = meta[state.uid]
            when = datetime.fromtimestamp(int(m.mtime), _zone(m.tzmin))
            out.append(MessageState(state.uid, state.flags, state.modseq, m.size, when))
        return out

    def read_range(self, uid: int, start: int, end: int | None) -> bytes:
        """Bytes ``[start:end]`` of the message as served (CRLF line
        ends); ExpungeIssued if gone.  Reads only that range from the file
        unless the file needs line-end conversion."""
        m = self.index.meta.get(uid)
        f = self.open_file(uid)
        with f:
            if m is not None and not m.conv:
                f.seek(start)
                return f.read(-1 if end is None else max(0, end - start))
            return f.read()[start:end]

    def open_file(self, uid: int) -> BinaryIO:
        """The message file, opened for reading; ExpungeIssued if gone.

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
                f = open(os.path.join(self.path, m.name), "rb")
            except FileNotFoundError:
                if attempt == 0:
                    self.refresh()
                elif attempt < 3:
                    self.scanner.scan()
                meta = self.index.meta
                continue
            if not m.conv:
                return f
            with f:
                return io.BytesIO(to_crlf(f.read()))
        raise ExpungeIssued(f"message UID {uid} no longer exists")

    # ------------------------------------------------------------ writes

    def prepare(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[Prepared]:
        """APPEND's first stage; any thread (see :class:`FolderWriter`)."""
        return self.writer.prepare(items)

    def deliver(self, prepared: list[Prepared]) -> list[int]:
        return self.writer.deliver(prepared)

    def append_many(self, items: list[tuple[bytes, frozenset[str], datetime | None]]) -> list[int]:
        """Both stages of an APPEND on this thread; the UIDs, ascending."""
        return self.writer.deliver(self.writer.prepare(items))

    def store(
        self,
        uids: Iterable[int],
        mode: StoreMode | str,
        flags: frozenset[str],
        unchangedsince: int | None,
    ) -> StoreResult:
        return self.writer.store(uids, mode, flags, unchangedsince)

    def remove(self, uids: list[int]) -> list[int]:
        return self.writer.remove(uids)

    def expunge(self, uids: Iterable[int] | None) -> list[int]:
        return self.writer.expunge(uids)

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

        return self.worker.submit(job)

    def close(self) -> None:
        self.index.close()
