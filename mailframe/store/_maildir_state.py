"""A Maildir folder's index: what the folder holds, in memory and on disk.

:class:`FolderIndex` keeps a :class:`mailframe.store._log.MailboxLog` (the
shared modseq/tombstone/\\Recent bookkeeping) and the per-message
:class:`mailframe.store._maildir_index.Meta` in step with the files that
describe them: ``dovecot-uidlist`` (:mod:`mailframe.store._maildir_uidlist`),
``mailframe-index`` and ``mailframe-cache``
(:mod:`mailframe.store._maildir_index`) and ``dovecot-keywords``.  Every
change — ours, a second mailframe process's, or one another program made
that the :class:`mailframe.store._maildir_sync.FolderScanner` found — is an
event (:data:`mailframe.store._maildir_index.Event`) appended to the index
under ``dovecot-uidlist.lock`` and then applied to the log by
:meth:`FolderIndex.apply`, the same replay that reads other processes'
events, so all processes agree on UIDs and modseqs.

It touches no message file and lists no directory: that is the scanner's
part, writing messages the :class:`mailframe.store._maildir_writes.FolderWriter`'s.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from mailframe.message import MessageInfo
from mailframe.records import Changes, Snapshot
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_files import (
    SYSTEM_FLAGS_LOWER,
    DotLock,
    base_of,
    read_keywords,
    write_keywords,
)
from mailframe.store._maildir_index import (
    Added,
    CacheFile,
    CorruptIndex,
    CurMoved,
    DirStamp,
    Event,
    FlagsChanged,
    IndexFile,
    Meta,
    Stamp,
    format_event,
    meta_from_row,
    meta_row,
)
from mailframe.store._maildir_uidlist import CorruptUidList, UidList
from mailframe.store._watchers import Watchers

__all__ = ["FolderIndex", "UNREADABLE", "MAX_TOMBSTONES", "RECHECK"]

#: What a damaged uidlist or index raises while read: the index is rebuilt.
UNREADABLE = (CorruptIndex, CorruptUidList, KeyError, TypeError, ValueError)
#: expunge tombstones kept for VANISHED (RFC 7162 §3.2.5.1); older ones go at
#: the next compaction, and a client asking from before them resynchronises.
MAX_TOMBSTONES = 50_000
#: Seconds within which a directory mtime is not trusted (its granularity).
RECHECK = 1.0
_INFO_CACHE = 10_000


class FolderIndex:
    """One folder's uidlist, index, cache and keywords, and the log they
    describe.  ``post`` runs a callable on the reactor thread (watchers
    are told there)."""

    def __init__(self, path: str, root: str, post: Callable[[Callable[[], None]], None]) -> None:
        self.path = path
        #: the Maildir root (where ``dovecot-uidvalidity`` lives)
        self.root = root
        self.uidlist = UidList(os.path.join(path, "dovecot-uidlist"))
        self.lock = DotLock(os.path.join(path, "dovecot-uidlist.lock"))
        self.file = IndexFile(os.path.join(path, "mailframe-index"))
        self.cache = CacheFile(os.path.join(path, "mailframe-cache"))
        self._kw_path = os.path.join(path, "dovecot-keywords")
        self.keywords: list[str] = []
        self.log: MailboxLog | None = None
        self.meta: dict[int, Meta] = {}
        self.infos: dict[int, MessageInfo] = {}
        #: the directory times the last trusted scan (ours or another
        #: process's ``S`` event) saw
        self.trusted_stamp: DirStamp | None = None
        #: ``cur/`` mtime before -> after of the writers' own changes
        #: read from the index (:class:`CurMoved`), for the scanner
        self.cur_moves: dict[int, int] = {}
        self.events_since_checkpoint = 0
        #: a checkpoint is due but was left to a job of its own (a
        #: command's write passes ``later``; see :meth:`maybe_compact`)
        self.compact_due = False
        #: held while the log and meta change, so the reactor thread may
        #: read the log (:meth:`changes_now`) while a job runs
        self.mem = threading.RLock()
        self._bases: dict[str, int] | None = None  # base name → uid, built lazily
        self._snap: tuple[tuple[int, int, int, int], Snapshot] | None = None
        self._post = post
        self._watchers = Watchers()
        #: :meth:`IndexFile.mark` of what the log holds (None: unknown),
        #: set under :attr:`mem` once the events read are applied
        self._applied: tuple[int, int] | None = None

    # ------------------------------------------------------------ reading

    def stale(self) -> bool:
        """Not loaded yet, or someone wrote the index since we read it."""
        return self.log is None or self.file.stat_changed()

    def catch_up(self) -> None:
        """Read the events written since we last looked (by anyone).
        Raises one of :data:`UNREADABLE` when the index must be rebuilt."""
        checkpoint, events = self.file.read()
        if checkpoint is None and self.log is None:
            raise CorruptIndex("no index")
        if checkpoint is not None:
            self.install(checkpoint)
        self.apply(events)
        self.mark_applied()

    def mark_applied(self) -> None:
        """The log now holds everything in the index file up to where it
        was read (or written) by us."""
        with self.mem:
            self._applied = self.file.mark() if self.log is not None else None

    def install(self, cp: dict[str, Any]) -> None:
        """Replace the state with a checkpoint's (a compaction or rebuild,
        ours or another process's)."""
        with self.mem:
            self._install(cp)

    def _install(self, cp: dict[str, Any]) -> None:
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
        meta = dict(meta_from_row(row) for row in cp["meta"])
        if set(meta) != set(log.uids):
            raise CorruptIndex("checkpoint meta does not match its messages")
        self.log = log
        self.meta = meta
        self._bases = None
        self.infos.clear()
        self.cache.close()
        self.events_since_checkpoint = 0
        log.watch(self._notify)
        stamp = cp.get("stamp")
        self.trusted_stamp = None
        if isinstance(stamp, list) and len(stamp) == 3:
            self.trust(DirStamp(int(stamp[0]), int(stamp[1])), float(stamp[2]))
        if old is not None and (
            old.highestmodseq != log.highestmodseq or old.uidnext != log.uidnext
        ):
            self._notify()

    def unload(self) -> None:
        """Forget the state: the next read starts from the index file."""
        with self.mem:
            self.log = None
            self._applied = None
        self.file.forget()

    def apply(self, events: list[Event]) -> None:
        """Replay events on the log, each at its recorded modseq."""
        log = self.log
        assert log is not None
        if not events:
            return
        self.events_since_checkpoint += len(events)
        with self.mem, log.batch():
            for event in events:
                if isinstance(event, Stamp):
                    self.trust(DirStamp(event.cur_ns, event.new_ns), event.at)
                    continue
                if isinstance(event, CurMoved):
                    self.cur_moves[event.before_ns] = event.after_ns
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
                        self.infos.pop(uid, None)
                        if m is not None and self._bases is not None:
                            self._bases.pop(base_of(m.name[4:]), None)
                log.highestmodseq = max(log.highestmodseq, modseq)

    def commit(self, events: list[Event]) -> None:
        """Persist, then apply, our own events (lock held, caught up)."""
        if not events:
            return
        self.file.append("".join(map(format_event, events)))
        self.apply(events)
        self.mark_applied()

    def vanished(self) -> MailboxLog:
        """The folder was deleted (by us or anyone): it reads as empty from
        now on."""
        assert self.log is not None
        with self.mem:
            self.log.expunge(self.log.uids)
            self.meta.clear()
            self.infos.clear()
            self._bases = None
            self._applied = None
        return self.log

    def base_map(self) -> dict[str, int]:
        """File base name → UID (the uidlist's key, stable across renames)."""
        if self._bases is None:
            self._bases = {base_of(m.name[4:]): u for u, m in self.meta.items()}
        return self._bases

    def snapshot(self) -> Snapshot:
        """The log's snapshot, reused while nothing changes (a frozen value,
        so every session may share it)."""
        log = self.log
        assert log is not None
        key = (id(log), log.highestmodseq, log.uidnext, len(log))
        if self._snap is None or self._snap[0] != key:
            self._snap = (key, log.snapshot())
        return self._snap[1]

    def trust(self, stamp: DirStamp, at: float) -> None:
        """A scan at ``at`` saw the directories at ``stamp``: trusted unless
        they changed within :data:`RECHECK` before (mtime granularity)."""
        if max(stamp) / 1e9 < at - RECHECK:
            self.trusted_stamp = stamp
        else:
            self.trusted_stamp = None

    def cached_info(self, uid: int) -> MessageInfo | None:
        """The parsed message from memory or ``mailframe-cache``; None when
        it must be parsed from the file (then :meth:`remember` it)."""
        info = self.infos.get(uid)
        if info is not None:
            return info
        m = self.meta[uid]
        blob = self.cache.get(m.coff, m.clen)
        prefix = b"%d\n" % uid
        if blob is not None and blob.startswith(prefix):
            try:
                info = MessageInfo.load(blob[len(prefix) :])
            except Exception:
                return None
            self.remember(uid, info)
        return info

    def cached_infos(self, uids: list[int]) -> None:
        """:meth:`cached_info` of those of ``uids`` not in memory, their
        blobs read together (:meth:`CacheFile.get_many`); a blob that is
        missing or foreign is left for :meth:`cached_info` to miss."""
        meta, infos = self.meta, self.infos
        wanted = [(uid, meta[uid]) for uid in uids if uid not in infos and uid in meta]
        if len(wanted) < 2:
            return
        blobs = self.cache.get_many([(m.coff, m.clen) for _, m in wanted])
        for (uid, _), blob in zip(wanted, blobs, strict=True):
            prefix = b"%d\n" % uid
            if blob is not None and blob.startswith(prefix):
                try:
                    info = MessageInfo.load(blob[len(prefix) :])
                except Exception:
                    continue
                self.remember(uid, info)

    def remember(self, uid: int, info: MessageInfo) -> None:
        if len(self.infos) >= _INFO_CACHE:
            self.infos.clear()
        self.infos[uid] = info

    # -------------------------------------------------------- compaction

    def checkpoint(self) -> None:
        """Compact the index to one checkpoint line (lock held); drop the
        oldest tombstones beyond :data:`MAX_TOMBSTONES` and the cache blobs
        of expunged messages."""
        log = self.log
        assert log is not None
        state = log.to_state()
        tombs = state["tombstones"]
        if len(tombs) > MAX_TOMBSTONES:
            cut = tombs[len(tombs) - MAX_TOMBSTONES - 1][0]
            with self.mem:
                log.forget_tombstones(cut)
            state["tombstones"] = [t for t in tombs if t[0] > cut]
            state["tombstone_floor"] = log.tombstone_floor  # RFC 7162 §3.2.5.2
        live = sum(m.clen for m in self.meta.values())
        if self.cache.file_size() > 2 * live + (1 << 20):
            blobs = sorted((m.coff, u, m.clen) for u, m in self.meta.items() if m.coff >= 0)
            moved = self.cache.compact([(u, off, length) for off, u, length in blobs])
            for u, (off, length) in moved.items():
                self.meta[u].coff, self.meta[u].clen = off, length
        cp = {
            "uidvalidity": log.uidvalidity,
            "state": state,
            "meta": [meta_row(u, m) for u, m in self.meta.items()],
        }
        if self.trusted_stamp is not None:
            cp["stamp"] = [*self.trusted_stamp, time.time()]
        self.file.write_checkpoint(cp)
        self.events_since_checkpoint = 0
        self.mark_applied()

    def maybe_compact(self, later: bool = False) -> None:
        """After a write (lock held): compact the index when its events
        outnumber the messages, the uidlist when dead records do.
        ``later``: a command waits for this write, so only note that a
        checkpoint is due (:attr:`compact_due`); the folder runs it as a
        write job of its own once the command is answered (issue 16: at
        N = 2 000 every second ``STORE 1:*`` rewrote the whole index
        before its answer)."""
        log = self.log
        assert log is not None
        if self.events_since_checkpoint > max(2000, 2 * len(log)):
            if later:
                self.compact_due = True
            else:
                self.compact_due = False
                self.checkpoint()
        if not self.uidlist.exists:
            return  # not read yet: nothing known to be dead
        self.uidlist.refresh()
        dead = len(self.uidlist.names) - len(log)
        if dead > max(100, len(log)):
            self.uidlist.rewrite({u: m.name[4:] for u, m in self.meta.items()})

    # ---------------------------------------------------------- keywords

    def read_keywords(self) -> None:
        """``dovecot-keywords`` (lock held), read every time: it is a few
        bytes, and replaced by rename, so neither its inode number (reused
        at once) nor its mtime (a clock tick apart) tells a new one from
        the last one read."""
        self.keywords = read_keywords(self._kw_path)

    def ensure_keywords(self, flags: Iterable[str]) -> None:
        """Give letters to new keywords (lock held); Dovecot's file holds
        at most 26, the rest live in the index only."""
        self.read_keywords()
        have = {k.lower() for k in self.keywords if k}
        added = False
        for f in sorted(flags):
            if f.lower() in SYSTEM_FLAGS_LOWER or f.lower() in have or f.startswith("\\"):
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
            self.read_keywords()

    # ---------------------------------------------------------- watchers

    def _notify(self) -> None:
        self._post(self._watchers.notify)

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        return self._watchers.add(callback)

    @property
    def watched(self) -> bool:
        return bool(self._watchers)

    def changes_now(self, modseq: int) -> Changes | None:
        """Reactor thread: the changes after ``modseq`` as this process
        knows them (its own commits and everything a job has read), when
        the index file shows nothing newer (one ``stat()``, no read);
        None when a job is changing the log right now, when the index has
        events the log does not hold yet (another process's commit: the
        command must not answer without it, RFC 3501 §6.1.2), or when new
        messages are not yet claimed as \\Recent: those are left to the
        queue, where the catch-up of the session whose command brought
        them is ahead, so that session claims them (RFC 3501 §2.3.2), as
        with a synchronous store."""
        if not self.mem.acquire(blocking=False):
            return None
        try:
            log = self.log
            if log is None or not self.applied_current():
                return None
            lo, hi = log.peek_recent()
            return None if lo < hi else log.changes_since(modseq)
        finally:
            self.mem.release()

    def applied_current(self) -> bool:
        """Any thread, :attr:`mem` held: the log holds everything the index
        file at the path holds (one ``stat()``)."""
        applied = self._applied
        return applied is not None and self.file.unchanged_since(applied)

    def nothing_recent_now(self) -> tuple[int, int] | None:
        """Reactor thread: ``(hi, hi)`` when every message this process
        knows of is already claimed as \\Recent (RFC 3501 §2.3.2) — the
        range a claim would give, as a session has seen no message this
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

    @property
    def holds_files(self) -> bool:
        return self.uidlist.exists or self.file.held

    def close(self) -> None:
        """Let the files go (reopened should the folder be used again)."""
        self.cache.close()
        self.uidlist.close()
        with self.mem:
            self._applied = None
        self.file.forget()
