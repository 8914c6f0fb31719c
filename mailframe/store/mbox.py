"""The mbox store: Dovecot-compatible mbox files (``--store mbox:ROOT[:INBOX=PATH]``).

Layout as Dovecot's ``mail_location = mbox:ROOT:INBOX=PATH`` (``%u`` is the
user name): INBOX is ``PATH`` (default ``ROOT/inbox``), every other mailbox
``ROOT/<name>`` (modified UTF-7 on disk, RFC 3501 §5.1.3), a hierarchy
level a directory.  As in Dovecot, a name is either a file (a mailbox) or
a directory (a \\Noselect parent of mailboxes): a mailbox cannot have
inferiors, nor a directory messages.

The file is the truth: UIDVALIDITY, UIDs, flags and keywords live in
Dovecot's headers (:mod:`mailframe.store._mbox_format`), so Dovecot, mutt
or procmail may use the same file.  Beside it,
``ROOT/.mailframe/<name>.json`` keeps the index (offsets of each
message's ``From_`` line, header and body, header digest) and the log
(modseqs, tombstones): losing it loses modseqs only.  Each command starts by
comparing the file's identity (inode, size, mtime) with the index's: a
file that only grew is scanned from the old end, any other change is
rescanned and its messages re-identified by their X-UID (or header digest).

Writes lock as Dovecot does (:mod:`mailframe.store._mbox_lock`): appends go
to the end and are fsynced; flag changes rewrite the padded Status /
X-Status / X-Keywords lines in place, or the file through a temporary file
+ fsync + rename when they do not fit; expunge rewrites through a
temporary file + fsync + rename.  All file I/O runs in threads, one
operation at a time per mailbox; messages are streamed, never read whole
except when one is asked for whole.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer, threads
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailframe.errors import CannotDo, StoreUnavailable
from mailframe.records import AppendResult, Changes, MailboxStatus, NewMessage, Snapshot
from mailframe.store import _mbox_format as fmt
from mailframe.store._log import MailboxLog
from mailframe.store._maildir_names import mutf7_decode, mutf7_encode
from mailframe.store._mbox_lock import LOCK_TIMEOUT, WRITE_LOCKS, locked
from mailframe.store._names import INBOX, parents_of
from mailframe.store.base import LogMailbox, StoredMessage, StoredMeta
from mailframe.store.logaccount import LogAccount, LogStore

__all__ = ["MboxStore", "MboxAccount", "MboxMailbox", "from_url"]

_log = Logger()
#: seconds between checks of watched mailboxes for other programs' changes.
POLL_INTERVAL = 1.0
_INDEX_DIR = ".mailframe"
_COPY_CHUNK = 1 << 16
_Ident = tuple[int, int, int]


def _ident(st: os.stat_result) -> _Ident:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_at(fd: int, offset: int, length: int) -> bytes:
    out = []
    while length > 0:
        chunk = os.pread(fd, min(length, _COPY_CHUNK), offset)
        if not chunk:
            break
        out.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(out)


def _served(fd: int, e: fmt.Entry) -> tuple[bytes, int]:
    """(kept header bytes, body length) of entry ``e``."""
    return b"".join(_read_at(fd, off, n) for off, n in e.kept), e.end - e.body


def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MboxMailbox(LogMailbox):
    """One mbox file."""

    def __init__(self, path: str, index_path: str, name: str, uidvalidity: int) -> None:
        self.path = path
        self.index_path = index_path
        self.scan = fmt.Scan()
        self.by_uid: dict[int, fmt.Entry] = {}
        self.ident: _Ident | None = None
        self.metas: dict[int, StoredMeta] = {}
        self._io = defer.DeferredLock()
        self._pending: set[defer.Deferred[None]] = set()
        #: the write locks in order (the store's ``WRITE_LOCKS=`` option)
        self.write_locks: tuple[str, ...] = WRITE_LOCKS
        #: seconds to wait for another program's lock (Dovecot: mbox_lock_timeout)
        self.lock_timeout = LOCK_TIMEOUT
        #: called when a watcher arrives (the store starts polling)
        self.on_watch: Callable[[], None] | None = None
        log = self._load_index(uidvalidity)
        super().__init__(name, log)

    # ------------------------------------------------------------ the index

    def _load_index(self, uidvalidity: int) -> MailboxLog:
        """The log and index saved beside the file, when they still match
        it (a small synchronous read when the account opens)."""
        try:
            with open(self.index_path, encoding="utf-8") as f:
                saved = json.load(f)
            log = MailboxLog.from_state(saved["log"])
            st = os.stat(self.path)
            if tuple(saved["ident"]) == _ident(st):
                self.ident = _ident(st)
                self.scan = fmt.Scan(saved["uidvalidity"], saved["last_uid"],
                                     list(saved["keywords"]),
                                     tuple(saved["pseudo"]) if saved["pseudo"] else None,
                                     tuple(saved["base_span"]) if saved["base_span"] else None,
                                     bool(saved["base_in_pseudo"]),
                                     [fmt.Entry.from_json(v) for v in saved["entries"]],
                                     saved["ident"][1])
                self.by_uid = {e.uid: e for e in self.scan.entries}
            return log
        except (OSError, ValueError, KeyError, TypeError):
            pass
        base = _peek_base(self.path)
        if base is not None:
            # The index (and its modseqs) is lost: new modseqs start above
            # the time in milliseconds so they never go backwards, and the
            # expunges before are unknown (RFC 7162 §3.1.2, §3.2.5.2).
            log = MailboxLog(base[0], base[1] + 1, int(time.time() * 1000))
            log.tombstone_floor = log.highestmodseq
            return log
        return MailboxLog(uidvalidity)

    def _index_state(self) -> dict[str, Any]:
        s = self.scan
        return {
            "ident": list(self.ident) if self.ident else [0, 0, 0],
            "uidvalidity": s.uidvalidity, "last_uid": s.last_uid, "keywords": s.keywords,
            "pseudo": list(s.pseudo) if s.pseudo else None,
            "base_span": list(s.base_span) if s.base_span else None,
            "base_in_pseudo": s.base_in_pseudo,
            "entries": [e.to_json() for e in s.entries],
            "log": self.log.to_state(),
        }

    def _save_index(self, state: dict[str, Any]) -> None:
        """Save the index (a cache: failing to costs modseqs only)."""
        path = self.index_path
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(state, f)
            os.replace(tmp, path)
        except FileNotFoundError:  # the mailbox was renamed or deleted meanwhile
            pass

    def log_changed(self) -> defer.Deferred[None] | None:
        """Flag changes are written before the command completes; when
        only the index is stale (after an append, whose bytes are already
        durable) it is saved in the background, so the appending session
        answers first (and claims \\Recent first, RFC 3501 §2.3.2), as it
        would on the memory store.  :meth:`flush` waits for it."""
        if self.deleted:
            return None
        if any((st := self.log.get(e.uid)) is not None and st.flags != e.flags
               for e in self.scan.entries):
            return self._locked_io(self._write_flags_and_index)
        d = self._locked_io(self._write_flags_and_index)
        self._pending.add(d)

        def done(result: object) -> None:
            self._pending.discard(d)
            if isinstance(result, Failure):
                _log.failure("saving the mbox index of {path}", result, path=self.path)

        d.addBoth(done)
        return None

    async def flush(self) -> None:
        """Wait for background index saves (the store is closing)."""
        while self._pending:
            await defer.DeferredList(list(self._pending))

    # -------------------------------------------------------- serialised I/O

    def _locked_io(self, fn: Any, *args: Any) -> defer.Deferred[Any]:
        async def run() -> Any:
            await self._io.acquire()
            try:
                return await fn(*args)
            finally:
                self._io.release()

        return defer.Deferred.fromCoroutine(run())

    # --------------------------------------------------------------- syncing

    async def _sync_now(self) -> None:
        """Notice another program's change to the file (reactor side: merge
        what the thread found into the log)."""
        if self.deleted:
            return
        result = await threads.deferToThread(self._scan_if_changed)
        if result is not None:
            self._adopt(*result)

    def sync(self) -> defer.Deferred[None]:
        return self._locked_io(self._sync_now)

    def _scan_if_changed(self) -> tuple[fmt.Scan, _Ident] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self.scan.entries and self.ident is None:
                return None
            return fmt.Scan(self.log.uidvalidity, self.scan.last_uid), (0, 0, 0)
        if self.ident == _ident(st):
            return None
        with locked(self.path, write=False, timeout=self.lock_timeout) as fd, os.fdopen(os.dup(fd), "rb") as f:
            old = self.scan
            ident = _ident(os.fstat(fd))
            grown = (self.ident is not None and ident[0] == self.ident[0]
                     and ident[1] > self.ident[1] and old.entries)
            found: fmt.Scan | None = None
            if grown:
                base = _reread_known(fd, old)
                if base is not None:
                    found = fmt.scan(f, self.ident[1] if self.ident else 0, base)
            if found is None:
                found = fmt.scan(f)
        needs_fix = (found.uidvalidity == 0 and (found.entries or found.size == 0)) or any(
            e.uid == 0 for e in found.entries)
        if needs_fix and found.entries:
            found = self._rewrite_thread(found, {}, set())
            ident = _ident(os.stat(self.path))
        return found, ident

    def _adopt(self, found: fmt.Scan, ident: _Ident) -> None:
        """Make the log match a fresh scan: new UIDs appended, vanished ones
        expunged, changed flags set (RFC 3501 §7.4.1 / §7.3.1 follow)."""
        self.scan, self.ident = found, ident
        if found.uidvalidity and found.uidvalidity != self.log.uidvalidity and len(self.log):
            # the file was replaced with another folder's data: start over
            self.log.expunge(self.log.uids)
        if found.uidvalidity:
            self.log.uidvalidity = found.uidvalidity
        new_by_uid = {e.uid: e for e in found.entries}
        with self.log.batch():
            gone = [u for u in self.log.uids if u not in new_by_uid]
            if gone:
                self.log.expunge(gone)
                for u in gone:
                    self.metas.pop(u, None)
            for e in found.entries:
                st = self.log.get(e.uid)
                if st is not None:
                    known = self.by_uid.get(e.uid)
                    if known is not None and st.flags != known.flags:
                        continue  # our STORE is not written yet: it wins, and is next
                    self.log.set_flags(e.uid, e.flags)
                else:
                    _log_add(self.log, e.uid, e.flags, e.served_size)
            if found.last_uid + 1 > self.log.uidnext:
                self.log.uidnext = found.last_uid + 1
        self.by_uid = new_by_uid

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Watchers also hear of other programs' changes: the store polls
        watched mailboxes every :data:`POLL_INTERVAL` seconds (RFC 2177:
        an IDLE client hears of new mail soon)."""
        unwatch = super().watch(callback)
        if self.on_watch is not None:
            self.on_watch()
        return unwatch

    def _adopt_new(self, found: fmt.Scan) -> None:
        """Messages another program appended that a rewrite of ours has
        just read (their flags are the file's; the log's own changes are
        left alone, they may be newer than the file)."""
        with self.log.batch():
            for e in found.entries:
                if e.uid >= self.log.uidnext:
                    _log_add(self.log, e.uid, e.flags, e.served_size)
            if found.last_uid + 1 > self.log.uidnext:
                self.log.uidnext = found.last_uid + 1

    # ---------------------------------------------------------- reads (IMAP)

    def status(self) -> defer.Deferred[MailboxStatus]:
        return self.sync().addCallback(lambda _: self.log.status())

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

            entry = self.by_uid[uid]
            content = await self.read_range(uid, 0, None)
            meta = self.metas[uid] = StoredMeta(entry.internaldate, parse(content))
        return meta

    def read_range(self, uid: int, start: int, end: int | None) -> defer.Deferred[bytes]:
        return self._locked_io(self._read, uid, start, end)

    async def _read(self, uid: int, start: int, end: int | None) -> bytes:
        for _attempt in range(3):
            entry = self.by_uid.get(uid)
            if entry is None:
                from mailframe.errors import ExpungeIssued

                raise ExpungeIssued(f"message UID {uid} has been expunged")
            data = await threads.deferToThread(self._read_thread, entry, start, end)
            if data is not None:
                return data
            await self._sync_now()
        raise CannotDo("the mailbox keeps changing under us")

    def _read_thread(self, e: fmt.Entry, start: int, end: int | None) -> bytes | None:
        with locked(self.path, write=False, timeout=self.lock_timeout) as fd:
            if _ident(os.fstat(fd)) != self.ident:
                return None
            if e.lf_only:
                from mailframe.message import to_crlf

                head, _ = _served(fd, e)
                whole = to_crlf(head + _read_at(fd, e.body, e.end - e.body))
                whole = whole[: len(whole) - e.trim]
                return whole[start:end]
            head, body_len = _served(fd, e)
            total = len(head) + body_len - e.trim
            stop = total if end is None else min(end, total)
            if start >= stop:
                return b""
            out = head[start:stop]
            b0 = max(start - len(head), 0)
            b1 = stop - len(head)
            if b1 > b0:
                out += _read_at(fd, e.body + b0, b1 - b0)
            return out

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
                for _attempt in range(20):
                    await self._sync_now()
                    first = self.log.uidnext
                    stored = [StoredMessage(first + i, content, replace(meta, savedate=saved))
                              for i, (content, _, meta) in enumerate(items)]
                    flags = {first + i: fl for i, (_, fl, _) in enumerate(items)}
                    done = await threads.deferToThread(
                        self._append_thread, stored, flags, self.ident)
                    if done is not None:
                        break
                else:
                    raise CannotDo("the mailbox keeps changing under us")
                found, ident = done
                for m in stored:
                    self.metas[m.uid] = m.meta
                self.scan, self.ident = found, ident
                self.by_uid = {e.uid: e for e in found.entries}
                uids = []
                with self.log.batch():
                    for (content, fl, _), want in zip(items, stored, strict=True):
                        state = self.log.append(fl - {"\\Recent"}, len(content))
                        assert state.uid == want.uid
                        uids.append(state.uid)
            finally:
                self._io.release()
            result = self.log_changed()
            if result is not None:
                await result
            return AppendResult(self.log.uidvalidity, tuple(uids))
        finally:
            self._append_lock.release()

    def _append_thread(self, messages: Sequence[StoredMessage],
                       flags_of: dict[int, frozenset[str]], expected: _Ident | None
                       ) -> tuple[fmt.Scan, _Ident] | None:
        """Append under the write lock; ``None`` (nothing written) when the
        file is no longer what the caller numbered the messages after."""
        keywords = {f for fl in flags_of.values() for f in fl if not f.startswith("\\")}
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with locked(self.path, write=True, create=True, order=self.write_locks,
                    timeout=self.lock_timeout) as fd:
            size = os.fstat(fd).st_size
            if _ident(os.fstat(fd)) != expected and not (expected is None and size == 0):
                return None
            scan = self.scan
            last = messages[-1].uid
            declared = list(scan.keywords) + sorted(keywords - set(scan.keywords))
            out = []
            if size == 0:
                out.append(fmt.pseudo_message(self.log.uidvalidity, last, declared))
            else:
                tail = _read_at(fd, max(size - 2, 0), 2)
                if not tail.endswith(b"\n"):
                    out.append(b"\n\n")
                elif tail != b"\n\n" and size > 1:
                    out.append(b"\n")
            for m in messages:
                head, body, trim = fmt.split_message(m.content)
                flags = flags_of.get(m.uid, frozenset())
                fline = fmt.from_line(m.meta.internaldate)
                out.append(fmt.message_bytes(fline, head, len(body), m.uid, flags, trim))
                out.append(body)
                out.append(b"\n")
            data = b"".join(out)
            os.lseek(fd, size, os.SEEK_SET)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                if size:
                    self._write_base(fd, scan, last, declared)
                os.fsync(fd)
            except BaseException:
                os.ftruncate(fd, size)  # all or none
                raise
            with os.fdopen(os.dup(fd), "rb") as f:
                if size and scan.entries:
                    base = replace(scan, entries=list(scan.entries), last_uid=last,
                                   keywords=declared)
                    found = fmt.scan(f, size, base)
                else:
                    found = fmt.scan(f)
            ident = _ident(os.fstat(fd))
        if size and (found.last_uid != last or found.uidvalidity == 0):
            # no room for the base header in place: rewrite the file
            found = self._rewrite_thread(found, {}, set(), last_uid=last, keywords=declared)
            ident = _ident(os.stat(self.path))
        return found, ident

    def _write_base(self, fd: int, scan: fmt.Scan, last: int, declared: list[str]) -> None:
        """The base header's last UID and keywords, in place when padded
        room allows (else the caller rewrites the file)."""
        if scan.base_span is None:
            return
        off, n = scan.base_span
        name = b"X-IMAP" if scan.base_in_pseudo else b"X-IMAPbase"
        try:
            line = fmt.base_line(name, scan.uidvalidity or self.log.uidvalidity, last,
                                 declared, pad_to=n)
        except ValueError:
            return
        os.pwrite(fd, line, off)
        scan.last_uid = last
        scan.keywords = declared

    def drop_messages(self, uids: Sequence[int]) -> defer.Deferred[None]:
        async def run() -> None:
            drop = set(uids)
            found = await threads.deferToThread(self._rewrite_thread, self.scan, {}, drop)
            self.scan, self.ident = found, _ident(os.stat(self.path))
            self.by_uid = {e.uid: e for e in found.entries}
            self._adopt_new(found)
            for u in uids:
                self.metas.pop(u, None)

        return self._locked_io(run)

    async def _write_flags_and_index(self) -> None:
        """Bring the file's flag headers up to the log, then save the index."""
        if self.deleted:
            return
        want = {}
        for e in self.scan.entries:
            st = self.log.get(e.uid)
            if st is not None and st.flags != e.flags:
                want[e.uid] = st.flags
        if want:
            found, ident = await threads.deferToThread(self._flags_thread, want)
            self.scan, self.ident = found, ident
            self.by_uid = {e.uid: e for e in found.entries}
            self._adopt_new(found)
        state = self._index_state()
        await threads.deferToThread(self._save_index, state)

    def _flags_thread(self, want: dict[int, frozenset[str]]) -> tuple[fmt.Scan, _Ident]:
        scan = self.scan
        new_kw = sorted({f for fl in want.values() for f in fl if not f.startswith("\\")}
                        - set(scan.keywords))
        with locked(self.path, write=True, order=self.write_locks,
                    timeout=self.lock_timeout) as fd:
            if _ident(os.fstat(fd)) == self.ident:
                declared = scan.keywords + new_kw
                writes = []
                fits = True
                if new_kw:
                    if scan.base_span is None:
                        fits = False
                    else:
                        off, n = scan.base_span
                        name = b"X-IMAP" if scan.base_in_pseudo else b"X-IMAPbase"
                        try:
                            writes.append((off, fmt.base_line(name, scan.uidvalidity,
                                                              scan.last_uid, declared, pad_to=n)))
                        except ValueError:
                            fits = False
                for e in scan.entries:
                    if e.uid not in want or not fits:
                        continue
                    if e.flagspan is None:
                        fits = False
                        break
                    off, n = e.flagspan
                    crlf = _read_at(fd, off + n - 2, 2) == b"\r\n"
                    try:
                        writes.append((off, fmt.flag_block(want[e.uid], pad_to=n, crlf=crlf)))
                    except ValueError:
                        fits = False
                if fits:
                    for off, data in writes:
                        os.pwrite(fd, data, off)
                    os.fsync(fd)
                    scan.keywords = declared
                    entries = [replace(e, flags=want.get(e.uid, e.flags)) for e in scan.entries]
                    return replace(scan, entries=entries), _ident(os.fstat(fd))
        found = self._rewrite_thread(scan, want, set())
        return found, _ident(os.stat(self.path))

    def _rewrite_thread(self, scan: fmt.Scan, flags: dict[int, frozenset[str]],
                        drop: set[int], last_uid: int | None = None,
                        keywords: list[str] | None = None) -> fmt.Scan:
        """Write the file anew through a temporary file + fsync + rename:
        the pseudo-message, then every kept message with its header
        rewritten and body copied unchanged.  Messages without a UID get
        the next ones.  Returns the scan of the new file."""
        with locked(self.path, write=True, create=True, order=self.write_locks,
                    timeout=self.lock_timeout) as fd:
            if self.ident is not None and scan is self.scan and _ident(os.fstat(fd)) != self.ident:
                with os.fdopen(os.dup(fd), "rb") as f:
                    scan = fmt.scan(f)
            uidvalidity = scan.uidvalidity or self.log.uidvalidity
            last = max(scan.last_uid, last_uid or 0, self.log.uidnext - 1)
            declared = list(keywords if keywords is not None else scan.keywords)
            for fl in flags.values():
                declared += sorted({f for f in fl if not f.startswith("\\")} - set(declared))
            uids = []
            for e in scan.entries:
                if e.uid == 0:
                    last += 1
                    uids.append(last)
                else:
                    uids.append(e.uid)
            tmp = os.path.join(os.path.dirname(self.path),
                               "." + os.path.basename(self.path) + ".mftmp")
            with open(tmp, "wb") as out:
                st = os.fstat(fd)  # the new file keeps the old one's owner and mode
                os.fchmod(out.fileno(), st.st_mode & 0o7777)
                try:
                    os.fchown(out.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    pass
                out.write(fmt.pseudo_message(uidvalidity, last, declared))
                for e, uid in zip(scan.entries, uids, strict=True):
                    if uid in drop:
                        continue
                    head, body_len = _served(fd, e)
                    fl = flags.get(uid, e.flags)
                    out.write(fmt.message_bytes(e.from_line, head, body_len, uid, fl, e.trim))
                    offset, left = e.body, body_len
                    while left > 0:
                        chunk = os.pread(fd, min(left, _COPY_CHUNK), offset)
                        if not chunk:
                            break
                        out.write(chunk)
                        offset += len(chunk)
                        left -= len(chunk)
                    out.write(b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path)
            with open(self.path, "rb") as f:
                return fmt.scan(f)

def _reread_known(fd: int, old: fmt.Scan) -> fmt.Scan | None:
    """For a file that grew: the known part re-read cheaply, its base
    header and each message's flag lines only (another writer such as
    Dovecot changes them in place while appending).  ``None`` when they are
    not where the index says (the file was rewritten: scan it whole)."""
    if old.base_span is None or not old.entries:
        return None
    last = old.entries[-1]
    if _read_at(fd, last.start, len(last.from_line)) != last.from_line:
        return None
    off, n = old.base_span
    line = _read_at(fd, off, n)
    key, sep, value = line.partition(b":")
    if not sep or key.lower() not in (b"x-imap", b"x-imapbase") or not line.endswith(b"\n"):
        return None
    base = replace(old, entries=[])
    fmt.parse_base(value, base)
    if base.uidvalidity != old.uidvalidity:
        return None
    entries = []
    for e in old.entries:
        if e.flagspan is None:
            return None
        flags = fmt.parse_flag_block(_read_at(fd, *e.flagspan), base.keywords)
        if flags is None:
            return None
        entries.append(replace(e, flags=flags) if flags != e.flags else e)
    base.entries = entries
    return base


def _log_add(log: MailboxLog, uid: int, flags: frozenset[str], size: int) -> None:
    """A message found in the file (not appended by us) enters the log at
    its own UID."""
    modseq = log._next_modseq()
    log._add(uid, frozenset(flags), modseq, size)
    log.uidnext = max(log.uidnext, uid + 1)
    log._committed()


def _peek_base(path: str) -> tuple[int, int] | None:
    """(uidvalidity, last uid) from the first message's header, reading at
    most 64 KiB."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return None
    for line in head.split(b"\n"):
        if line.strip() == b"" and not line.startswith(b"From "):
            if line == b"" and head.startswith(b"From "):
                break
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() in (b"x-imap", b"x-imapbase"):
            words = value.split()
            if len(words) >= 2 and words[0].isdigit() and words[1].isdigit():
                return int(words[0]), int(words[1])
    return None


class MboxAccount(LogAccount):
    """One user's mbox files under ROOT (INBOX perhaps elsewhere).

    Without ``DIRNAME=`` (Dovecot's default) mailbox ``a/b`` is the file
    ``ROOT/a/b`` and ``a`` a directory, so a mailbox cannot also have
    inferiors.  With ``DIRNAME=d`` (as Dovecot's option) every mailbox is
    a directory and its messages the file ``d`` inside it, so any mailbox
    may have inferiors and a directory without ``d`` is \\Noselect.
    """

    def __init__(self, store: MboxStore, username: str, root: str, inbox: str,
                 dirname: str | None = None) -> None:
        self.root = root
        self.inbox_path = inbox
        self.dirname = dirname
        self._uv_file = os.path.join(root, _INDEX_DIR, "last-uidvalidity")
        try:
            with open(self._uv_file, encoding="ascii") as f:
                saved = int(f.read().strip() or 0)
            store._last_uidvalidity = max(store._last_uidvalidity, saved)
        except (OSError, ValueError):
            pass
        super().__init__(store, username)
        self._discover()
        try:
            with open(os.path.join(root, ".subscriptions"), encoding="utf-8") as f:
                self._subscriptions = {ln.strip() for ln in f if ln.strip()}
        except OSError:
            pass
        try:
            with open(self._su_file(), encoding="utf-8") as f:
                for n, attrs in json.load(f).items():
                    if n in self._mailboxes:
                        self._special_use[n] = frozenset(attrs)
        except (OSError, ValueError, AttributeError):
            pass

    def _su_file(self) -> str:
        return os.path.join(self.root, _INDEX_DIR, "special-use.json")

    def _save_special_use(self) -> None:
        """RFC 6154 attributes, kept beside the index (Dovecot keeps them in
        its configuration; they are mailframe's own here)."""
        data = {n: sorted(a) for n, a in self._special_use.items() if a and n in self._mailboxes}
        os.makedirs(os.path.dirname(self._su_file()), exist_ok=True)
        tmp = self._su_file() + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self._su_file())

    def dir_for(self, name: str) -> str:
        """The directory holding ``name``'s inferiors."""
        return os.path.join(self.root, *(mutf7_encode(p) for p in name.split("/")))

    def file_for(self, name: str) -> str:
        if name == INBOX:
            return self.inbox_path
        if self.dirname:
            return os.path.join(self.dir_for(name), self.dirname)
        return self.dir_for(name)

    def index_for(self, name: str) -> str:
        if name == INBOX:
            return os.path.join(self.root, _INDEX_DIR, "INBOX.json")
        parts = [mutf7_encode(p) for p in name.split("/")]
        return os.path.join(self.root, _INDEX_DIR, "mailboxes", *parts[:-1], parts[-1] + ".json")

    def _add_found(self, name: str) -> None:
        if name.upper() == INBOX or name in self._mailboxes:
            return
        self._noselect.discard(name)
        self._mailboxes[name] = self.make_mailbox(name, self.store.next_uidvalidity())
        self._special_use[name] = frozenset()

    def _discover(self) -> None:
        if not os.path.isdir(self.root):
            return
        inbox = os.path.abspath(self.inbox_path)
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            prefix = [] if rel == "." else [mutf7_decode(p) for p in rel.split(os.sep)]
            here = "/".join(prefix)
            if self.dirname:
                if prefix and here.upper() != INBOX:
                    if self.dirname in filenames:
                        self._add_found(here)
                    elif here not in self._mailboxes:
                        self._noselect.add(here)
                continue
            for d in dirnames:
                name = "/".join([*prefix, mutf7_decode(d)])
                if name.upper() != INBOX and name not in self._mailboxes:
                    self._noselect.add(name)
            for fn in sorted(filenames):
                if fn.startswith(".") or fn.endswith(".lock"):
                    continue
                if os.path.abspath(os.path.join(dirpath, fn)) == inbox:
                    continue
                self._add_found("/".join([*prefix, mutf7_decode(fn)]))

    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        box = MboxMailbox(self.file_for(name), self.index_for(name), name, uidvalidity)
        store = self.store
        if isinstance(store, MboxStore):
            box.on_watch = store.start_polling
            box.write_locks = store.write_locks
        if box.log.uidvalidity > store._last_uidvalidity:
            store._last_uidvalidity = box.log.uidvalidity
        if box.log.uidvalidity == uidvalidity:
            # a new mailbox: remember the value so a recreated name never
            # gets it again, even after a restart (RFC 3501 §2.3.1.1)
            os.makedirs(os.path.dirname(self._uv_file), exist_ok=True)
            tmp = self._uv_file + ".tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(str(store._last_uidvalidity))
            os.replace(tmp, self._uv_file)
        return box

    def _check_layout(self, name: str) -> None:
        """Dovecot's plain mbox layout: a file cannot have inferiors."""
        if self.dirname:
            return
        for parent in parents_of(name):
            if parent in self._mailboxes and parent != INBOX:
                raise CannotDo(f"mailbox {parent!r} is a file and cannot have inferiors "
                               "(mbox layout, as in Dovecot; see DIRNAME=)")

    def _make_parents(self, name: str) -> None:
        for parent in parents_of(name):
            os.makedirs(self.dir_for(parent), exist_ok=True)
            if parent not in self._mailboxes and parent != INBOX and not self.dirname:
                self._noselect.add(parent)

    def _touch(self, names: list[str]) -> None:
        """Create the (empty) files of those of ``names`` that are mailboxes."""
        for n in names:
            box = self._mailboxes.get(n)
            if box is not None:
                path = self.file_for(n)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if not os.path.exists(path) or not os.path.getsize(path):
                    # the pseudo-message holds UIDVALIDITY while it is empty
                    with open(path, "ab") as f:
                        f.write(fmt.pseudo_message(box.log.uidvalidity, box.log.uidnext - 1, []))

    def create_mailbox(self, name: str, special_use: frozenset[str] = frozenset()
                       ) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        try:
            checked = normalize_name(name)
            self._check_layout(checked)
            if not self.dirname and checked in self._noselect:
                if any(n.startswith(checked + "/") for n in (*self._mailboxes, *self._noselect)):
                    raise CannotDo(f"{checked!r} holds mailboxes and cannot hold messages "
                                   "(mbox layout, as in Dovecot; see DIRNAME=)")
                if os.path.isdir(self.file_for(checked)):
                    os.rmdir(self.file_for(checked))
            if checked not in self._mailboxes:
                self._make_parents(checked)
        except Exception:
            return defer.fail()
        d = super().create_mailbox(name, special_use)

        d.addCallback(lambda _: self._touch([*parents_of(checked), checked]))
        if special_use:
            d.addCallback(lambda _: self._save_special_use())
        return d

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        async def run() -> None:
            checked = normalize_name(name)
            box = self._mailboxes.get(checked)
            if isinstance(box, MboxMailbox):
                await box.flush()
            await super(MboxAccount, self).delete_mailbox(name)
            if box is not None:
                for path in (self.file_for(checked), self.index_for(checked)):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
            self._save_special_use()
            if checked not in self._noselect and checked not in self._mailboxes:
                d = self.dir_for(checked)
                if os.path.isdir(d):
                    shutil.rmtree(d, ignore_errors=True)

        return defer.Deferred.fromCoroutine(run())

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        from mailframe.store._names import normalize_name

        async def run() -> None:
            src, dst = normalize_name(old), normalize_name(new)
            self._check_layout(dst)
            exists = src in self._mailboxes or src in self._noselect
            if src != INBOX and exists and dst not in self._mailboxes \
                    and dst not in self._noselect:
                self._make_parents(dst)
            moved = [n for n in (*self._mailboxes, *self._noselect)
                     if n == src or n.startswith(src + "/")] if src != INBOX else []
            for n in moved:  # no index save may race the move
                box = self._mailboxes.get(n)
                if isinstance(box, MboxMailbox):
                    await box.flush()
            await super(MboxAccount, self).rename_mailbox(old, new)
            if src == INBOX:
                self._touch([*parents_of(dst), dst])
                return
            pairs = [(self.dir_for(src), self.dir_for(dst))]
            pairs += [(self.index_for(n), self.index_for(dst + n[len(src):])) for n in moved]
            for a, b in pairs:
                if os.path.exists(a):
                    os.makedirs(os.path.dirname(b), exist_ok=True)
                    os.rename(a, b)
            self._touch(parents_of(dst))
            self._save_special_use()
            for n, box in self._mailboxes.items():
                if isinstance(box, MboxMailbox) and (n == dst or n.startswith(dst + "/")):
                    box.path, box.index_path = self.file_for(n), self.index_for(n)

        return defer.Deferred.fromCoroutine(run())

    def _save_subscriptions(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        tmp = os.path.join(self.root, ".subscriptions.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(n + "\n" for n in sorted(self._subscriptions))
        os.replace(tmp, os.path.join(self.root, ".subscriptions"))

    def subscribe(self, name: str) -> defer.Deferred[None]:
        return super().subscribe(name).addCallback(lambda _: self._save_subscriptions())

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        return super().unsubscribe(name).addCallback(lambda _: self._save_subscriptions())


class MboxStore(LogStore):
    """Every user's mbox files, by the ROOT and INBOX templates."""

    def __init__(self, root: str, inbox: str | None = None, dirname: str | None = None,
                 clock: IReactorTime | None = None,
                 write_locks: tuple[str, ...] = WRITE_LOCKS) -> None:
        super().__init__()
        self.write_locks = write_locks
        self.root = root
        self.inbox = inbox
        self.dirname = dirname
        self._clock = clock
        self._poll: IDelayedCall | None = None
        self._closed = False

    def start_polling(self) -> None:
        """Check watched mailboxes every :data:`POLL_INTERVAL` seconds while
        any has a watcher."""
        if self._poll is None and not self._closed:
            clock = self._clock
            if clock is None:
                from twisted.internet import reactor

                clock = reactor
            assert clock is not None
            self._poll = clock.callLater(POLL_INTERVAL, self._tick)

    def _tick(self) -> None:
        self._poll = None
        d = self.poll_once()
        d.addErrback(lambda f: _log.failure("polling mbox files", f))
        d.addCallback(lambda watched: self.start_polling() if watched else None)

    def poll_once(self) -> defer.Deferred[bool]:
        """Sync every watched mailbox now; True when any is watched."""

        async def run() -> bool:
            watched = [box for account in self._accounts.values()
                       for box in account.mailboxes()
                       if isinstance(box, MboxMailbox) and box.log.watcher_count]
            for box in watched:
                try:
                    await box.sync()
                except Exception:
                    _log.failure("checking {path}", path=box.path)
            return bool(watched)

        return defer.Deferred.fromCoroutine(run())

    def make_account(self, username: str) -> LogAccount:
        if not username or "/" in username or username in (".", "..") or "\0" in username:
            raise ValueError(f"unusable user name {username!r}")
        root = self.root.replace("%u", username)
        inbox = (self.inbox.replace("%u", username) if self.inbox
                 else os.path.join(root, "inbox"))
        os.makedirs(root, mode=0o700, exist_ok=True)
        return MboxAccount(self, username, root, inbox, self.dirname)

    def close(self) -> defer.Deferred[None]:
        """Wait for every mailbox's background index save, then close."""

        async def run() -> None:
            self._closed = True
            if self._poll is not None and self._poll.active():
                self._poll.cancel()
            self._poll = None
            for account in self._accounts.values():
                for box in account.mailboxes():
                    if isinstance(box, MboxMailbox):
                        await box.flush()
            await super(MboxStore, self).close()

        return defer.Deferred.fromCoroutine(run())


def from_url(url: str) -> MboxStore:
    """``mbox:ROOT[:INBOX=PATH][:DIRNAME=NAME][:WRITE_LOCKS=dotlock+fcntl]`` (Dovecot's ``mail_location`` syntax) → a
    store; the ``mailframe.stores`` entry point."""
    scheme, sep, rest = url.partition(":")
    if scheme.strip().lower() != "mbox" or not sep or not rest:
        raise StoreUnavailable(f"not an mbox URL: {url!r} (mbox:ROOT[:INBOX=PATH])")
    parts = rest.split(":")
    root, inbox, dirname = parts[0], None, None
    write_locks = WRITE_LOCKS
    for p in parts[1:]:
        key, eq, value = p.partition("=")
        if key.upper() == "INBOX" and eq:
            inbox = os.path.abspath(os.path.expanduser(value))
        elif key.upper() == "DIRNAME" and eq and value and "/" not in value:
            dirname = value
        elif key.upper() == "WRITE_LOCKS" and eq:
            # Dovecot's mbox_write_locks, e.g. WRITE_LOCKS=fcntl+dotlock
            write_locks = tuple(v for v in value.replace(",", "+").split("+") if v)
            if not write_locks or not set(write_locks) <= {"dotlock", "fcntl"}:
                raise StoreUnavailable(f"WRITE_LOCKS takes dotlock and/or fcntl: {value!r}")
        elif p:
            raise StoreUnavailable(
                f"unknown mbox option {p!r} (INBOX=PATH, DIRNAME=NAME, WRITE_LOCKS=dotlock+fcntl)")
    root = os.path.abspath(os.path.expanduser(root))
    base = os.path.dirname(root.split("%u", 1)[0]) if "%u" in root else root
    try:
        os.makedirs(base or ".", mode=0o700, exist_ok=True)
    except OSError as e:
        raise StoreUnavailable(f"cannot create {base}: {e.strerror}") from e
    return MboxStore(root, inbox, dirname, write_locks=write_locks)
