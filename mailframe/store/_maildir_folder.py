"""One Maildir folder: its state, loading, scanning and reads.

A folder (:class:`FolderCore`; its writes are in :mod:`._maildir_writes`)
keeps a :class:`~mailframe.store._log.MailboxLog` (the shared
modseq/tombstone/\\Recent bookkeeping) in step with three things on
disk: the message files in ``cur/`` and ``new/``, ``dovecot-uidlist`` and
``mailframe-index`` (see :mod:`._maildir_index`).  Every change — ours, a
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
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from twisted.logger import Logger

from mailframe.errors import ExpungeIssued, NonexistentMailbox
from mailframe.message import MessageInfo, parse
from mailframe.records import FlagState, MessageRecord, Snapshot
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_files import (
    SYSTEM_LETTERS,
    DotLock,
    base_of,
    flags_from_name,
    fsync_dir,
    read_keywords,
    write_keywords,
)
from mailframe.store._maildir_index import (
    CacheFile,
    CorruptIndex,
    Event,
    IndexFile,
    Meta,
    format_add,
    format_expunge,
    format_flags,
    format_stamp,
)
from mailframe.store._maildir_uidlist import CorruptUidList, UidList, reserve_uidvalidity

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
    """A file with LF line ends and no CR at all was written by an MDA or
    by Dovecot (which stores LF); IMAP sees it with CRLF."""
    return b"\n" in data and b"\r" not in data


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


class FolderCore:
    """The state and operations of one Maildir folder (synchronous)."""

    def __init__(self, path: str, root: str | None = None) -> None:
        self.path = path
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
        self._watchers: list[Any] = []

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
        with log.batch():
            for kind, modseq, payload in events:
                if kind == "S":
                    self._trust(payload)
                    continue
                if kind == "A" and payload[0] in log:
                    continue
                log.highestmodseq = modseq - 1
                if kind == "A":
                    uid, meta, flags = payload
                    keep_next = log.uidnext
                    log.uidnext = uid
                    log.append(flags, meta.size)
                    log.uidnext = max(keep_next, uid + 1)
                    self.meta[uid] = meta
                    if self._bases is not None:
                        self._bases[base_of(meta.name[4:])] = uid
                elif kind == "F":
                    uid, name, flags = payload
                    m = self.meta.get(uid)
                    if m is not None:
                        m.name = name  # the base (the key) never changes
                        log.set_flags(uid, flags)
                else:
                    log.expunge(payload)
                    for uid in payload:
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

    # ----------------------------------------------------------- rebuild

    def rebuild(self) -> None:
        """Recreate the index from ``dovecot-uidlist`` and the directory:
        used when the index is missing, stale or corrupt."""
        with self.lock:
            if self._rebuilt_by_another():
                return
            try:
                self.uidlist.refresh()
            except CorruptUidList:
                self.uidlist.create(reserve_uidvalidity(self.root))
            if not self.uidlist.exists:
                self.uidlist.create(reserve_uidvalidity(self.root))
            self._read_keywords()
            names = self._list_and_move()
            old_hms = self.log.highestmodseq if self.log is not None else 0
            if names or self.uidlist.last_uid or old_hms:
                # modseqs handed out before the index was lost must stay
                # below every new one (RFC 7162 §3.1.2: they only grow)
                base_modseq = max(old_hms + 1, int(time.time() * 1000))
            else:
                base_modseq = 1  # a new, empty mailbox (RFC 7162 §7)
            nxt = self.uidlist.next_uid
            assign: list[tuple[str, str]] = []
            found: list[tuple[int, str]] = []
            taken: set[int] = set()
            for base, name in sorted(names.items()):
                uid = self.uidlist.by_base.get(base)
                if uid is None or uid in taken:
                    assign.append((base, name))
                else:
                    taken.add(uid)
                    found.append((uid, name))
            new_records = []
            for _base, name in assign:
                new_records.append((nxt, name[4:]))
                found.append((nxt, name))
                nxt += 1
            self.uidlist.append(new_records)
            self.cache.reset()
            messages = []
            meta_rows = []
            for uid, name in sorted(found):
                try:
                    meta, flags = self._meta_for_file(uid, name)
                except FileNotFoundError:
                    continue
                messages.append([uid, sorted(flags), base_modseq, meta.size])
                meta_rows.append(
                    [
                        uid,
                        meta.name,
                        meta.size,
                        meta.mtime,
                        meta.tzmin,
                        meta.coff,
                        meta.clen,
                        int(meta.conv),
                    ]
                )
            state = {
                "uidvalidity": self.uidlist.uidvalidity,
                "uidnext": max(nxt, self.uidlist.next_uid),
                "highestmodseq": base_modseq,
                "messages": messages,
                "tombstones": [],
            }
            cp = {"uidvalidity": self.uidlist.uidvalidity, "state": state, "meta": meta_rows}
            self.index.write_checkpoint(cp)
            self._install(cp)
            self._stamp = self._dir_stamp()
            self._recheck_at = time.time() + RECHECK

    def _rebuilt_by_another(self) -> bool:
        """Under the lock: did another process rebuild the index while we
        waited for it?  Then read theirs instead of rebuilding again."""
        if self.log is not None:
            return False
        try:
            checkpoint, events = self.index.read()
            if checkpoint is None:
                return False
            self._install(checkpoint)
            self._apply(events)
        except (CorruptIndex, CorruptUidList, KeyError, TypeError, ValueError):
            self.log = None
            self.index.forget()
            return False
        return True

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
            log.forget_tombstones(cut)
            state["tombstones"] = [t for t in tombs if t[0] > cut]
        live = sum(m.clen for m in self.meta.values())
        if self.cache.file_size() > 2 * live + (1 << 20):
            blobs = sorted((m.coff, u, m.clen) for u, m in self.meta.items() if m.coff >= 0)
            moved = self.cache.compact([(u, off, length) for off, u, length in blobs])
            for u, (off, length) in moved.items():
                self.meta[u].coff, self.meta[u].clen = off, length
        cp = {
            "uidvalidity": log.uidvalidity,
            "state": state,
            "meta": [
                [u, m.name, m.size, m.mtime, m.tzmin, m.coff, m.clen, int(m.conv)]
                for u, m in self.meta.items()
            ],
        }
        if self._trusted_stamp is not None:
            cp["stamp"] = [*self._trusted_stamp, time.time()]
        self.index.write_checkpoint(cp)
        self._events_since_checkpoint = 0

    def _maybe_compact(self) -> None:
        log = self.log
        assert log is not None
        if self._events_since_checkpoint > max(2000, 2 * len(log)):
            self.checkpoint()
        if not self.uidlist.exists:
            return  # not read yet: nothing known to be dead
        self.uidlist.refresh()
        dead = len(self.uidlist.names) - len(log)
        if dead > max(100, len(log)):
            self.uidlist.rewrite({u: m.name[4:] for u, m in self.meta.items()})

    # -------------------------------------------------------------- scan

    def _list_and_move(self, include_cur: bool = True) -> dict[str, str]:
        """base → "cur/<name>" for every message file (only those that were
        in ``new/`` unless ``include_cur``); files in ``new/`` are moved to
        ``cur/`` with an empty ``:2,`` info (lock held)."""
        out: dict[str, str] = {}
        moved = False
        for name in os.listdir(self.new):
            if name.startswith(".") or "\t" in name or "\n" in name:
                continue
            target = name if ":2," in name else name + ":2,"
            try:
                os.rename(os.path.join(self.new, name), os.path.join(self.cur, target))
            except FileNotFoundError:
                continue
            moved = True
            out[base_of(target)] = "cur/" + target
        if moved:
            fsync_dir(self.cur)
            fsync_dir(self.new)
        if not include_cur:
            return out
        for name in os.listdir(self.cur):
            if name.startswith(".") or "\t" in name or "\n" in name:
                continue
            out[base_of(name)] = "cur/" + name
        return out

    def scan(self, full: bool = True) -> None:
        """List ``new/`` (and ``cur/`` when ``full``) and turn what others
        did into events."""
        with self.lock:
            self._catch_up()
            log = self.log
            assert log is not None
            if self.uidlist.peek_uidvalidity() != log.uidvalidity:
                self.rebuild()  # the uidlist was lost or replaced
                return
            self._read_keywords()
            before = self._dir_stamp()
            started = time.time()
            if full and self._unchanged():
                names: dict[str, str] = {}
                full = False  # nothing to compare: the quick check did it
                quick = True
            else:
                names = self._list_and_move(include_cur=full)
                quick = False
            lines: list[str] = []
            events: list[Event] = []
            modseq = log.highestmodseq
            bases = self._base_map()
            meta = self.meta
            unknown: dict[str, str] = {}
            seen: set[int] = set()
            for base, actual in names.items():
                uid = bases.get(base)
                m = meta.get(uid) if uid is not None else None
                if uid is None or m is None or uid in seen:
                    unknown[base] = actual
                    continue
                seen.add(uid)
                if actual != m.name:
                    old = log.get(uid)
                    flags = self._flags_of(actual, old.flags if old else frozenset())
                    modseq += 1
                    lines.append(format_flags(uid, modseq, actual, flags))
                    events.append(("F", modseq, (uid, actual, frozenset(flags))))
            gone = sorted(set(meta) - seen) if full else []
            if gone:
                modseq += 1
                lines.append(format_expunge(modseq, gone))
                events.append(("X", modseq, gone))
            if unknown:
                try:
                    self.uidlist.refresh()
                except CorruptUidList:
                    self.rebuild()
                    return
                modseq = self._add_found(unknown, modseq, lines, events)
            self._write(lines, events)
            after = self._dir_stamp()
            self._stamp = after
            recent = max(before) / 1e9 > started - RECHECK or after != before
            if full or quick or self._recheck_at is None:
                self._recheck_at = started + RECHECK if recent else None
            if (full or quick) and not recent and after != self._trusted_stamp:
                self.index.append(format_stamp(after[0], after[1], started))
                self._trusted_stamp = after
            self._maybe_compact()

    def _unchanged(self) -> bool:
        """The cheap full check (C-speed listing and set comparison, no
        per-file work): ``new/`` is empty and ``cur/`` holds exactly the
        names the index knows.  Most rechecks end here."""
        if any(not n.startswith(".") for n in os.listdir(self.new)):
            return False
        listing = os.listdir(self.cur)
        known = {m.name[4:] for m in self.meta.values()}
        return len(listing) == len(known) and known.issuperset(listing)

    def _add_found(
        self, names: dict[str, str], modseq: int, lines: list[str], events: list[Event]
    ) -> int:
        """Files no index entry knows: take their uidlist UID when it is
        above every UID handed out, else a new one."""
        log = self.log
        assert log is not None
        floor = log.uidnext
        nxt = max(self.uidlist.next_uid, floor)
        known: list[tuple[int, str]] = []
        fresh: list[tuple[int, str]] = []
        for base, name in sorted(names.items()):
            uid = self.uidlist.by_base.get(base)
            if uid is not None and uid >= floor and uid not in log:
                known.append((uid, name))
            else:
                fresh.append((nxt, name))
                nxt += 1
        self.uidlist.append([(u, n[4:]) for u, n in fresh])
        seen: set[int] = set()
        for uid, name in sorted(known + fresh):
            if uid in seen:
                continue
            seen.add(uid)
            try:
                meta, flags = self._meta_for_file(uid, name)
            except FileNotFoundError:
                continue
            modseq += 1
            lines.append(format_add(uid, modseq, meta, flags))
            events.append(("A", modseq, (uid, meta, frozenset(flags))))
        return modseq

    def _meta_for_file(self, uid: int, name: str) -> tuple[Meta, set[str]]:
        path = os.path.join(self.path, name)
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        conv = needs_crlf(data)
        if conv:
            data = data.replace(b"\n", b"\r\n")
        info = parse(data)
        coff, clen = self.cache.add(b"%d\n" % uid + info.dump())
        self._infos[uid] = info
        meta = Meta(name, len(data), st.st_mtime, 0, coff, clen, conv)
        flags, _ = flags_from_name(name, self.keywords)
        return meta, flags

    def _flags_of(self, name: str, previous: frozenset[str]) -> set[str]:
        """Flags of a renamed file, keeping keywords a file name cannot
        carry (beyond the 26 letters)."""
        flags, _ = flags_from_name(name, self.keywords)
        lower = {k.lower() for k in self.keywords if k}
        for f in previous:
            if f.lower() not in _SYSTEM and f.lower() not in lower:
                flags.add(f)
        return flags

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
            tz = timezone(timedelta(minutes=m.tzmin))
            out.append(
                MessageRecord(
                    uid=uid,
                    flags=state.flags,
                    modseq=state.modseq,
                    size=m.size,
                    internaldate=datetime.fromtimestamp(int(m.mtime), tz),
                    info=info,
                )
            )
        return out

    def open_file(self, uid: int) -> BinaryIO:
        """The message file, opened for reading; ExpungeIssued if gone."""
        for attempt in range(2):
            m = self.meta.get(uid)
            if m is None:
                break
            try:
                f = open(os.path.join(self.path, m.name), "rb")
            except FileNotFoundError:
                if attempt == 0:
                    self.scan()
                continue
            if not m.conv:
                return f
            with f:
                return io.BytesIO(f.read().replace(b"\n", b"\r\n"))
        raise ExpungeIssued(f"message UID {uid} has been expunged")

    def flag_states(self) -> list[FlagState]:
        return list(self.refresh().snapshot().messages)

    # ---------------------------------------------------------- watchers

    def _notify(self) -> None:
        for cb in list(self._watchers):
            try:
                cb()
            except Exception:
                _logger.failure("maildir watcher {cb!r} failed", cb=cb)

    def watch(self, callback: Any) -> Any:
        self._watchers.append(callback)

        def unregister() -> None:
            try:
                self._watchers.remove(callback)
            except ValueError:
                pass

        return unregister

    def close(self) -> None:
        self.cache.close()
