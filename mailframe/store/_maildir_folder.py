"""One Maildir folder: its state, loading and reads.

A folder (:class:`FolderCore`; rebuilds and scans are in
:mod:`mailframe.store._maildir_sync`, writes in :mod:`mailframe.store._maildir_writes`) keeps a
:class:`mailframe.store._log.MailboxLog` (the shared modseq/tombstone/
\\Recent bookkeeping) in step with three things on
disk: the message files in ``cur/`` and ``new/``, ``dovecot-uidlist`` and
``mailframe-index`` (see :mod:`mailframe.store._maildir_index`).  Every change — ours, a
second mailframe process's, or a file renamed by mutt or dropped into
``new/`` by an MDA — becomes an event line in the index, written under
``dovecot-uidlist.lock``, and is then applied to the log by the same
replay code, so all processes agree on UIDs and modseqs.

Other writers are noticed by ``stat()`` of the index and of ``cur/`` and
``new/`` (their mtimes), which costs three system calls per command; the
directories are listed only when they changed, and once more a second
later if they changed within the same second (mtime granularity, as
Dovecot does).
"""

from __future__ import annotations

import gc
import io
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, BinaryIO

from twisted.logger import Logger

from mailframe.errors import ExpungeIssued, NonexistentMailbox
from mailframe.message import MessageInfo, has_bare_lf, parse, to_crlf
from mailframe.records import Changes, MessageRecord, MessageState, Snapshot
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_files import (
    SYSTEM_LETTERS,
    DotLock,
    base_of,
    read_keywords,
    write_keywords,
)
from mailframe.store._maildir_index import (
    Added,
    CacheFile,
    CorruptIndex,
    Event,
    FlagsChanged,
    IndexFile,
    Meta,
    Stamp,
)
from mailframe.store._maildir_uidlist import CorruptUidList, UidList
from mailframe.store._maildir_worker import SerialWorker
from mailframe.store._watchers import Watchers

__all__ = ["FolderCore", "make_maildir", "needs_crlf"]

_logger = Logger()

_SYSTEM = {f.lower() for f in SYSTEM_LETTERS.values()}
RECHECK = 1.0
#: expunge tombstones kept for VANISHED (RFC 7162 §3.2.5.1); older ones go at
#: the next compaction, and a client asking from before them resynchronises.
MAX_TOMBSTONES = 50_000
_INFO_CACHE = 10_000


def make_maildir(path: str, subfolder: bool) -> None:
    """Create ``cur/ new/ tmp/`` (and ``maildirfolder`` for a Maildir++
    sub-folder) under ``path``."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
    if subfolder:
        marker = os.path.join(path, "maildirfolder")
        if not os.path.exists(marker):
            open(marker, "wb").close()


def needs_crlf(data: bytes) -> bool:
    """A file with bare LF line ends (all or some) was written by an MDA
    or by Dovecot (which stores LF); IMAP sees it with CRLF
    (:func:`mailframe.message.to_crlf`)."""
    return has_bare_lf(data)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Loading a large index makes hundreds of thousands of small
    containers, none of them cyclic: the cyclic collector would run many
    times over them for nothing (2-3x slower cold opens)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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


class FolderCore:
    """The state and operations of one Maildir folder (synchronous)."""

    def __init__(
        self, path: str, root: str | None = None, worker: SerialWorker | None = None
    ) -> None:
        self.path = path
        #: runs this folder's jobs one at a time (in the reactor's thread
        #: pool, or at once by default); every method below runs in it, so
        #: one thread at a time touches the state here
        self.worker = worker or SerialWorker(None)
        #: held while the in-memory log and meta change, so the reactor
        #: thread may read the log (:meth:`changes_now`) while a job runs
        self.mem = threading.RLock()
        self._refresh_pending = False
        #: the Maildir root (where ``dovecot-uidvalidity`` lives)
        self.root = root or (
            os.path.dirname(path) if os.path.basename(path).startswith(".") else path
        )
        self.cur = os.path.join(path, "cur")
        self.new = os.path.join(path, "new")
        self.tmp = os.path.join(path, "tmp")
        self.uidlist = UidList(os.path.join(path, "dovecot-uidlist"))
        self.lock = DotLock(os.path.join(path, "dovecot-uidlist.lock"))
        self.index = IndexFile(os.path.join(path, "mailframe-index"))
        self.cache = CacheFile(os.path.join(path, "mailframe-cache"))
        self._kw_path = os.path.join(path, "dovecot-keywords")
        self._kw_stamp: tuple[int, int] | None = None
        self.keywords: list[str] = []
        self.log: MailboxLog | None = None
        self.meta: dict[int, Meta] = {}
        self._bases: dict[str, int] | None = None  # base name → uid, built lazily
        self._snap: tuple[tuple[int, int, int, int], Snapshot] | None = None
        self._infos: dict[int, MessageInfo] = {}
        self._stamp: tuple[int, int] = (-1, -1)
        self._trusted_stamp: tuple[int, int] | None = None
        self._foreign_checked = 0  # uidlist's last UID when we last looked for foreign UIDs
        self._recheck_at: float | None = None
        self._events_since_checkpoint = 0
        self._watchers = Watchers()

    # ------------------------------------------------------------ loading

    def refresh(self) -> MailboxLog:
        """Bring the log up to date with the disk (the cheap path is three
        ``stat()`` calls); returns it."""
        try:
            stamp = self._dir_stamp()
        except FileNotFoundError:
            return self._vanished()
        if self.log is None or self.index.stat_changed():
            self._catch_up()
        self._scan_if_changed(stamp)
        assert self.log is not None
        return self.log

    def _scan_if_changed(self, stamp: tuple[int, int]) -> None:
        """Full scan when ``cur/`` changed (renames, unlinks), just ``new/``
        when only new mail arrived (an MDA never touches ``cur/``)."""
        due = self._recheck_at is not None and time.time() >= self._recheck_at
        if stamp == self._trusted_stamp and (due or stamp != self._stamp):
            # another scan (maybe by another process) saw exactly this
            self._stamp = stamp
            self._recheck_at = None
            return
        if due or stamp[0] != self._stamp[0]:
            self.scan(full=True)
        elif stamp[1] != self._stamp[1]:
            self.scan(full=False)

    def _vanished(self) -> MailboxLog:
        """The folder was deleted (by us or anyone): it reads as empty from
        now on, and writes fail with NonexistentMailbox."""
        if self.log is None:
            raise NonexistentMailbox(f"mailbox folder {self.path} is gone")
        with self.mem:
            self.log.expunge(self.log.uids)
            self.meta.clear()
            self._infos.clear()
            self._bases = None
        return self.log

    def _dir_stamp(self) -> tuple[int, int]:
        return (os.stat(self.cur).st_mtime_ns, os.stat(self.new).st_mtime_ns)

    def _catch_up(self) -> None:
        """Read index events written since we last looked (by anyone)."""
        with _no_gc():
            self._catch_up_now()

    def _catch_up_now(self) -> None:
        try:
            checkpoint, events = self.index.read()
            if checkpoint is None and self.log is None:
                raise CorruptIndex("no index")
            if checkpoint is not None:
                self._install(checkpoint)
            self._apply(events)
        except (CorruptIndex, CorruptUidList, KeyError, TypeError, ValueError):
            self.rebuild()

    def _install(self, cp: dict[str, Any]) -> None:
        with self.mem:
            self._install_now(cp)

    def _install_now(self, cp: dict[str, Any]) -> None:
        if cp.get("uidvalidity") != self.uidlist.peek_uidvalidity():
            raise CorruptIndex("index belongs to another UIDVALIDITY")
        state = dict(cp["state"])
        old = self.log
        if old is not None:
            lo, _hi = old.claim_recent()
            state["recent_floor"] = lo
        else:
            state["recent_floor"] = int(state["uidnext"])
        log = MailboxLog.from_state(state)
        meta = {}
        for uid, name, size, mtime, tz, coff, clen, conv in cp["meta"]:
            meta[int(uid)] = Meta(name, size, mtime, tz, coff, clen, bool(conv))
        if set(meta) != set(log.uids):
            raise CorruptIndex("checkpoint meta does not match its messages")
        self.log = log
        self.meta = meta
        self._bases = None
        self._infos.clear()
        self.cache.close()
        self._events_since_checkpoint = 0
        log.watch(self._notify)
        stamp = cp.get("stamp")
        self._trusted_stamp = None
        if isinstance(stamp, list) and len(stamp) == 3:
            self._trust((int(stamp[0]), int(stamp[1]), float(stamp[2])))
        if old is not None and (
            old.highestmodseq != log.highestmodseq or old.uidnext != log.uidnext
        ):
            self._notify()

    def _apply(self, events: list[Event]) -> None:
        """Replay events on the log, each at its recorded modseq."""
        log = self.log
        assert log is not None
        if not events:
            return
        self._events_since_checkpoint += len(events)
        with self.mem, log.batch():
            for event in events:
                if isinstance(event, Stamp):
                    self._trust((event.cur_ns, event.new_ns, event.at))
                    continue
                if isinstance(event, Added) and event.uid in log:
                    continue
                modseq = event.modseq
                log.highestmodseq = modseq - 1
                if isinstance(event, Added):
                    uid, meta, flags = event.uid, event.meta, event.flags
                    keep_next = log.uidnext
                    log.uidnext = uid
                    log.append(flags, meta.size)
                    log.uidnext = max(keep_next, uid + 1)
                    self.meta[uid] = meta
                    if self._bases is not None:
                        self._bases[base_of(meta.name[4:])] = uid
                elif isinstance(event, FlagsChanged):
                    m = self.meta.get(event.uid)
                    if m is not None:
                        m.name = event.name  # the base (the key) never changes
                        log.set_flags(event.uid, event.flags)
                else:
                    log.expunge(event.uids)
                    for uid in event.uids:
                        m = self.meta.pop(uid, None)
                        self._infos.pop(uid, None)
                        if m is not None and self._bases is not None:
                            self._bases.pop(base_of(m.name[4:]), None)
                log.highestmodseq = max(log.highestmodseq, modseq)

    def _base_map(self) -> dict[str, int]:
        if self._bases is None:
            self._bases = {base_of(m.name[4:]): u for u, m in self.meta.items()}
        return self._bases

    def snapshot(self) -> Snapshot:
        """The log's snapshot, reused while nothing changes (a frozen value,
        so every session may share it): warm SELECT of a large mailbox
        costs the three ``stat()`` calls of :meth:`refresh`."""
        log = self.refresh()
        key = (id(log), log.highestmodseq, log.uidnext, len(log))
        if self._snap is None or self._snap[0] != key:
            self._snap = (key, log.snapshot())
        return self._snap[1]

    def _trust(self, payload: tuple[int, int, float]) -> None:
        cur_ns, new_ns, at = payload
        if max(cur_ns, new_ns) / 1e9 < at - RECHECK:
            self._trusted_stamp = (cur_ns, new_ns)
        else:
            self._trusted_stamp = None

    def _write(self, lines: list[str], events: list[Event]) -> None:
        """Persist then apply our own events (lock held, caught up)."""
        if not lines:
            return
        self.index.append("".join(lines))
        self._apply(events)

    # ------------------------------------------- defined in _maildir_sync

    def rebuild(self) -> None:
        """Recreate the index from the uidlist and the directories."""
        raise NotImplementedError

    def scan(self, full: bool = True) -> None:
        """Turn what others did in ``new/`` and ``cur/`` into events."""
        raise NotImplementedError

    # ---------------------------------------------------------- keywords

    def _read_keywords(self) -> None:
        try:
            st = os.stat(self._kw_path)
            stamp = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._kw_stamp:
            self.keywords = read_keywords(self._kw_path)
            self._kw_stamp = stamp

    def _ensure_keywords(self, flags: Iterable[str]) -> None:
        """Give letters to new keywords (lock held); Dovecot's file holds
        at most 26, the rest live in the index only."""
        self._read_keywords()
        have = {k.lower() for k in self.keywords if k}
        added = False
        for f in sorted(flags):
            if f.lower() in _SYSTEM or f.lower() in have or f.startswith("\\"):
                continue
            if len([k for k in self.keywords if k]) >= 26:
                break
            if "" in self.keywords:
                self.keywords[self.keywords.index("")] = f
            else:
                self.keywords.append(f)
            have.add(f.lower())
            added = True
        if added:
            write_keywords(self._kw_path, self.keywords)
            self._kw_stamp = None
            self._read_keywords()

    # ------------------------------------------------------------- reads

    def info(self, uid: int) -> MessageInfo:
        """The parsed message, from memory, the cache file, or the file."""
        info = self._infos.get(uid)
        if info is not None:
            return info
        m = self.meta[uid]
        blob = self.cache.get(m.coff, m.clen)
        prefix = b"%d\n" % uid
        if blob is not None and blob.startswith(prefix):
            try:
                info = MessageInfo.load(blob[len(prefix) :])
            except Exception:
                info = None
        if info is None:
            with self.open_file(uid) as f:
                info = parse(f.read())
        if len(self._infos) >= _INFO_CACHE:
            self._infos.clear()
        self._infos[uid] = info
        return info

    def records(self, uids: Iterable[int]) -> list[MessageRecord]:
        """FETCH's view of ``uids`` (those that exist, in UID order), with
        the parsed messages from the cache file: no message file opened."""
        log = self.refresh()
        with _no_gc():
            return self._records(log, uids)

    def _records(self, log: MailboxLog, uids: Iterable[int]) -> list[MessageRecord]:
        out = []
        for uid in sorted(set(uids)):
            state = log.get(uid)
            if state is None:
                continue
            m = self.meta[uid]
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
        out = []
        for state in log.states(uids):
            m = self.meta[state.uid]
            when = datetime.fromtimestamp(int(m.mtime), _zone(m.tzmin))
            out.append(MessageState(state.uid, state.flags, state.modseq, m.size, when))
        return out

    def read_range(self, uid: int, start: int, end: int | None) -> bytes:
        """Bytes ``[start:end]`` of the message as served (CRLF line
        ends); ExpungeIssued if gone.  Reads only that range from the file
        unless the file needs line-end conversion."""
        m = self.meta.get(uid)
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
        for attempt in range(4):
            m = self.meta.get(uid)
            if m is None:
                break
            try:
                f = open(os.path.join(self.path, m.name), "rb")
            except FileNotFoundError:
                if attempt == 0:
                    self.refresh()
                elif attempt < 3:
                    self.scan()
                continue
            if not m.conv:
                return f
            with f:
                return io.BytesIO(to_crlf(f.read()))
        raise ExpungeIssued(f"message UID {uid} no longer exists")

    # ---------------------------------------------------------- watchers

    def _notify(self) -> None:
        self.worker.post(self._watchers.notify)

    @property
    def watched(self) -> bool:
        return bool(self._watchers)

    def changes_now(self, modseq: int) -> Changes | None:
        """Reactor thread: the changes after ``modseq`` as this process
        knows them (its own commits and everything a job has read), without
        touching the disk; None when a job is changing the log right now."""
        if not self.mem.acquire(blocking=False):
            return None
        try:
            return None if self.log is None else self.log.changes_since(modseq)
        finally:
            self.mem.release()

    def nothing_recent_now(self) -> tuple[int, int] | None:
        """Reactor thread: ``(hi, hi)`` when every message this process
        knows of is already claimed as \\Recent (RFC 3501 §2.3.2) — the
        range a claim would give, as the session has seen no message this
        process does not know — or None when that needs a job."""
        if not self.mem.acquire(blocking=False):
            return None
        try:
            if self.log is None:
                return None
            lo, hi = self.log.peek_recent()
            return (hi, hi) if lo >= hi else None
        finally:
            self.mem.release()

    def request_refresh(self) -> Any:
        """Queue one :meth:`refresh` (reactor thread; a refresh already
        waiting in the queue covers this request too)."""
        if self._refresh_pending:
            return None
        self._refresh_pending = True

        def job() -> None:
            self._refresh_pending = False
            self.refresh()

        return self.worker.submit(job)

    def watch(self, callback: Any) -> Any:
        return self._watchers.add(callback)

    def close(self) -> None:
        self.cache.close()
