"""One mbox file on disk: every locked read and write the mbox store does,
run in a thread (:class:`MboxFile`).  The mailbox on the reactor side
(:mod:`mailframe.store._mbox_mailbox`) hands in what it knows (the last
scan and the file identity it was made from) and gets back a fresh scan.

Locks as :mod:`mailframe.store._mbox_lock` (the store's lock sets);
appends go to the end and are fsynced, all or none; flag changes rewrite
the padded Status / X-Status / X-Keywords lines in place, or the tail of
the file when they do not fit (:mod:`mailframe.store._mbox_rewrite`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from stat import S_ISREG

from mailframe.store import _mbox_format as fmt
from mailframe.store import _mbox_rewrite as rw
from mailframe.store._mbox_io import Ident, ident, read_at, reread_known, served
from mailframe.store._mbox_lock import LOCK_TIMEOUT, READ_LOCKS, WRITE_LOCKS, locked, reader
from mailframe.store.base import StoredMeta

__all__ = ["MboxFile", "Found", "Appended", "SETTLE"]

#: a scan and the identity of the file it describes.
Found = tuple[fmt.Scan, Ident]

#: seconds a file that looks half-written must stay unchanged before its
#: scan is trusted (the store's ``SETTLE=``; see :func:`_unsettled`).
SETTLE = 0.2
#: the pause before scanning again a file that changed while it was read.
_RESCAN = 0.01


@dataclass(frozen=True)
class Appended:
    """What :meth:`MboxFile.append` did: ``before``, another writer's change
    read under the lock first (or ``None``); ``after``, the file with the
    new messages; ``first``, the first new UID."""

    before: Found | None
    after: Found
    first: int


def _still_there(fd: int, e: fmt.Entry, expected: Ident | None) -> bool:
    """Whether message ``e`` is still where the scan of ``expected`` put it
    in the (locked) file: the file was only appended to or changed in
    place (another writer's flags), and the message's ``From_`` line and
    the separator after it are where they were."""
    now = ident(os.fstat(fd))
    if expected is None or now[0] != expected[0] or now[1] < expected[1]:
        return False
    if read_at(fd, e.start, len(e.from_line)) != e.from_line:
        return False
    after = read_at(fd, e.end, 6)
    return after in (b"", b"\n") or after.startswith((b"\nFrom ", b"\r\nFrom "))


def _reread_changed(fd: int, scan: fmt.Scan, expected: Ident | None,
                    numbered_only: bool = True) -> fmt.Scan | None:
    """The file (locked) as another writer left it since ``expected``, when
    it only grew or changed flags in place: the known messages re-read
    where they are and a grown tail scanned.  ``None`` when it was
    rewritten or replaced, or (``numbered_only``) holds messages without a
    UID."""
    now = ident(os.fstat(fd))
    if expected is None or now[0] != expected[0] or now[1] < expected[1] or not scan.entries:
        return None
    base = reread_known(fd, scan)
    if base is None:
        return None
    found = fmt.scan(reader(fd), expected[1], base) if now[1] > expected[1] else base
    found.size = now[1]
    if numbered_only and any(e.uid == 0 for e in found.entries):
        return None
    return found


def _unsettled(fd: int, scanned: Ident, needs_fix: bool, settle: float) -> float:
    """Seconds to wait before trusting a scan of the (read-locked) file that
    began at ``scanned``; 0 when it can be trusted now.

    A writer that honours the locks never shows us a half-written file, but
    not every writer does: neomutt and mutt take their fcntl lock and then
    drop it by closing a second descriptor of the file (POSIX record locks
    are per process), so their rewrite in place (new text over the old,
    then ``ftruncate``) runs unlocked.  Read in between, the old text's
    tail looks like more messages, a copy of a UID or none.  So a scan is
    retried when the file changed while it was read, and one that looks
    unfinished (messages without a UID to number, which would mean writing
    the file, or a last message not ended by a line break) is trusted only
    once the file has been still for ``settle`` seconds.  Files our own
    writers (and Dovecot) leave are finished and numbered: no wait."""
    after = ident(os.fstat(fd))
    if after != scanned:
        return _RESCAN
    if not needs_fix and (scanned[1] == 0 or read_at(fd, scanned[1] - 1, 1) == b"\n"):
        return 0.0
    age = time.time() - scanned[2] / 1e9
    return settle - age if age < settle else 0.0


def _moved_on(fd: int, before: os.stat_result) -> Ident:
    """The identity of the (locked) file just written in place, made to
    differ from ``before``'s: on a kernel whose file times move by clock
    ticks, a flag change written within the tick of the previous write
    leaves inode, size and mtime as they were, and the other process
    serving the tree (or Dovecot) would not notice it.  The mtime is moved
    1 ns past the previous one, so our writes' mtimes only ever grow."""
    st = os.fstat(fd)
    if st.st_mtime_ns <= before.st_mtime_ns:
        os.utime(fd, ns=(st.st_atime_ns, before.st_mtime_ns + 1))
        st = os.fstat(fd)
    return ident(st)


def _merge_flags(want: dict[int, frozenset[str]], base: dict[int, frozenset[str]],
                 now: dict[int, frozenset[str]]) -> dict[int, frozenset[str]]:
    """The change from ``base`` to ``want`` applied to ``now`` (the file's
        flags under the lock), per message."""
    out = {}
    for uid, target in want.items():
        before = base.get(uid)
        current = now.get(uid)
        if before is None or current is None:
            out[uid] = target
        else:
            out[uid] = (current - (before - target)) | (target - before)
    return out


def _flag_blocks(fd: int, scan: fmt.Scan, uids: dict[int, frozenset[str]]) -> dict[int, bytes]:
    """The flag lines of ``uids`` as the (locked) file holds them now, each
    read once for both the merge and the in-place write."""
    return {e.uid: read_at(fd, *e.flagspan) for e in scan.entries
            if e.uid in uids and e.flagspan is not None}


def _flags_now(blocks: dict[int, bytes], keywords: list[str]) -> dict[int, frozenset[str]]:
    """The flags the file holds now (their flag lines read again: another
    writer may have changed them in place within the file clock's tick,
    leaving its identity as it was)."""
    now = {}
    for uid, block in blocks.items():
        flags = fmt.parse_flag_block(block, keywords)
        if flags is not None:
            now[uid] = flags
    return now


def _new_keywords(scan: fmt.Scan, want: dict[int, frozenset[str]]) -> list[str]:
    return sorted({f for fl in want.values() for f in fl if not f.startswith("\\")}
                  - set(scan.keywords))


class MboxFile:
    """The file at ``path`` and how to lock it."""

    def __init__(self, path: str, write_locks: tuple[str, ...] = WRITE_LOCKS,
                 read_locks: tuple[str, ...] = READ_LOCKS, lock_timeout: float = LOCK_TIMEOUT,
                 expunge: str = "tail", settle: float = SETTLE) -> None:
        self.path = path
        #: the write locks in order (the store's ``WRITE_LOCKS=``, Dovecot's mbox_write_locks)
        self.write_locks = write_locks
        #: the read locks (``READ_LOCKS=``, Dovecot's mbox_read_locks)
        self.read_locks = read_locks
        #: seconds to wait for another program's lock (Dovecot: mbox_lock_timeout)
        self.lock_timeout = lock_timeout
        #: ``"tail"``: rewrite from the first changed message (Dovecot's way);
        #: ``"rename"``: always the whole file through a temporary file
        self.expunge = expunge
        #: seconds a half-written-looking file must stay still before it is
        #: trusted (numbered, or served): writers that drop their lock
        self.settle = settle

    @contextmanager
    def lock(self, write: bool, create: bool = False) -> Iterator[int]:
        """The file locked (a rewrite a killed process left is finished
        first, :func:`mailframe.store._mbox_rewrite.recover`)."""
        if os.path.exists(rw.journal_path(self.path)):
            try:
                with locked(self.path, write=True, order=self.write_locks,
                            timeout=self.lock_timeout) as fd:
                    rw.recover(fd, self.path)
            except FileNotFoundError:
                pass
        with locked(self.path, write=write, create=create, timeout=self.lock_timeout,
                    order=self.write_locks if write else self.read_locks) as fd:
            yield fd

    # ------------------------------------------------------------- reading

    def scan_if_changed(self, known: fmt.Scan, known_ident: Ident | None, uidvalidity: int,
                        uidnext: int, create: bool = False) -> Found | None:
        """A fresh scan when the file is no longer ``known_ident``: a file
        that only grew is read from the old end, any other change whole.
        Messages without a valid UID (another program delivered them) are
        numbered at once by a rewrite.  An empty file gets its base header
        (:meth:`create_base`); so does a missing one with ``create``
        (INBOX, which always exists: RFC 3501 §6.3.4)."""
        st: os.stat_result | None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not create:
                if not known.entries and known_ident is None:
                    return None
                return fmt.Scan(uidvalidity, known.last_uid), (0, 0, 0)
            st = None
        if st is None or (st.st_size == 0 and S_ISREG(st.st_mode)):
            try:
                # (then scanned as any changed file: another writer may have
                # filled it meanwhile, with messages to number)
                self.create_base(uidvalidity, uidnext - 1, create=st is None)
                st = os.stat(self.path)
            except (FileNotFoundError, PermissionError):  # gone, or ours to read only
                if st is None:
                    return None
        if known_ident == ident(st) and not os.path.exists(rw.journal_path(self.path)):
            return None
        deadline = time.monotonic() + self.lock_timeout
        while True:
            with self.lock(write=False) as fd:
                now = ident(os.fstat(fd))
                # appended to, or flags changed in place: the known messages'
                # flag lines re-read and the new tail scanned (not the file)
                found = _reread_changed(fd, known, known_ident, numbered_only=False)
                if found is None:
                    found = fmt.scan(reader(fd))
                needs_fix = (found.uidvalidity == 0 and (bool(found.entries) or found.size == 0)
                             ) or any(e.uid == 0 for e in found.entries)
                wait = _unsettled(fd, now, needs_fix, self.settle)
            if wait <= 0 or time.monotonic() + wait > deadline:
                break
            time.sleep(wait)
        if needs_fix and found.entries:
            return self.rewrite(found, now, {}, set(), uidvalidity, uidnext)
        return found, now

    def create_base(self, uidvalidity: int, last_uid: int, create: bool = True) -> Found:
        """The mailbox's UIDVALIDITY decided once, on disk, under the write
        lock: an empty (or, with ``create``, missing) file gets the
        folder-data pseudo-message holding ``uidvalidity`` (Dovecot's
        ``X-IMAP``), fsynced; a file another process (a second
        ``--workers`` process creating the same INBOX at the same moment,
        Dovecot) gave one first keeps its own, which the caller adopts
        from the scan returned (RFC 3501 §2.3.1.1: one UIDVALIDITY per
        mailbox, whoever asks)."""
        if create:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with self.lock(write=True, create=create) as fd:
            if os.fstat(fd).st_size == 0:
                data = memoryview(fmt.pseudo_message(uidvalidity, max(last_uid, 0), []))
                pos = 0
                try:
                    while pos < len(data):
                        pos += os.pwrite(fd, data[pos:], pos)
                    os.fsync(fd)
                except BaseException:
                    os.ftruncate(fd, 0)
                    raise
            return fmt.scan(reader(fd)), ident(os.fstat(fd))

    def read(self, e: fmt.Entry, start: int, end: int | None, expected: Ident | None
             ) -> bytes | None:
        """Bytes ``start``..``end`` of message ``e`` as served; ``None`` when
        the file is no longer ``expected`` (sync and ask again)."""
        with self.lock(write=False) as fd:
            if ident(os.fstat(fd)) != expected and not _still_there(fd, e, expected):
                return None
            if e.lf_only:
                from mailframe.message import to_crlf

                head, _ = served(fd, e)
                whole = to_crlf(head + read_at(fd, e.body, e.end - e.body))
                whole = whole[: len(whole) - e.trim]
                return whole[start:end]
            head, body_len = served(fd, e)
            total = len(head) + body_len - e.trim
            stop = total if end is None else min(end, total)
            if start >= stop:
                return b""
            out = head[start:stop]
            b0 = max(start - len(head), 0)
            b1 = stop - len(head)
            if b1 > b0:
                out += read_at(fd, e.body + b0, b1 - b0)
            return out

    # ------------------------------------------------------------- writing

    def append(self, scan: fmt.Scan, expected: Ident | None,
               messages: Sequence[tuple[bytes, frozenset[str], StoredMeta]], uidvalidity: int,
               uidnext: int) -> Appended | None:
        """Append under the write lock, fsynced, all or none.  The UIDs are
        chosen here, under the lock: when another writer appended to the
        file or changed flags in place since ``expected``, that change is
        read first (:attr:`Appended.before`) and the new messages follow
        its last UID (RFC 3501 §2.3.1.1: UIDs ascend).  ``None`` (nothing
        written) when the file was rewritten or replaced: sync and retry."""
        keywords = {f for _, fl, _ in messages for f in fl if not f.startswith("\\")}
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with self.lock(write=True, create=True) as fd:
            st = os.fstat(fd)
            size = st.st_size
            before: Found | None = None
            if ident(st) != expected and not (expected is None and size == 0):
                changed = _reread_changed(fd, scan, expected)
                if changed is None:
                    return None
                scan = changed
                before = (changed, ident(st))
            first = max(uidnext, scan.last_uid + 1)
            last = first + len(messages) - 1
            declared = list(scan.keywords) + sorted(keywords - set(scan.keywords))
            out = []
            if size == 0:
                out.append(fmt.pseudo_message(uidvalidity, last, declared))
            else:
                tail = read_at(fd, max(size - 2, 0), 2)
                if not tail.endswith(b"\n"):
                    out.append(b"\n\n")
                elif tail != b"\n\n" and size > 1:
                    out.append(b"\n")
            for i, (content, flags, meta) in enumerate(messages):
                head, body, trim = fmt.split_message(content)
                fline = fmt.from_line(meta.internaldate)
                out.append(fmt.message_bytes(fline, head, len(body), first + i, flags, trim))
                out.append(body)
                out.append(b"\n")
            data = b"".join(out)
            try:
                view = memoryview(data)
                pos = size
                while view:
                    n = os.pwrite(fd, view, pos)
                    view, pos = view[n:], pos + n
                based = size == 0 or self._write_base(fd, scan, last, declared, uidvalidity)
                os.fsync(fd)
            except BaseException:
                os.ftruncate(fd, size)  # all or none
                raise
            f = reader(fd)
            if size:
                # ``scan`` describes the file up to ``size``
                found = fmt.scan(f, size, replace(scan, entries=list(scan.entries),
                                                  last_uid=last, keywords=declared))
            else:
                found = fmt.scan(f)
            after = (found, ident(os.fstat(fd)))
            if not based or found.uidvalidity == 0:
                # no room for the base header in place: rewrite (still locked)
                p = rw.plan(found, {}, set(), uidvalidity, last, declared)
                after = rw.rewrite_whole(fd, self.path, p)
        return Appended(before, after, first)

    @staticmethod
    def _write_base(fd: int, scan: fmt.Scan, last: int, declared: list[str],
                    uidvalidity: int) -> bool:
        """The base header's last UID and keywords, in place when padded
        room allows (else False: the caller rewrites the file)."""
        if scan.base_span is None:
            return False
        off, n = scan.base_span
        name = b"X-IMAP" if scan.base_in_pseudo else b"X-IMAPbase"
        try:
            line = fmt.base_line(name, scan.uidvalidity or uidvalidity, last, declared, pad_to=n)
        except ValueError:
            return False
        os.pwrite(fd, line, off)
        return True

    def write_flags(self, scan: fmt.Scan, expected: Ident | None,
                    want: dict[int, frozenset[str]], uidvalidity: int, uidnext: int,
                    base: dict[int, frozenset[str]] | None = None) -> Found:
        """Flag headers brought to ``want`` (uid → flags): in place in the
        padded lines where everything fits, else by a rewrite.  ``base``
        (uid → the flags ``want`` was made from): only the change from
        ``base`` to ``want`` is applied to the flags the file holds under
        the lock, so another process's STORE to the same message in
        between is kept (RFC 3501 §6.4.6 +FLAGS/-FLAGS change only the
        flags named; Dovecot merges the same way)."""
        with self.lock(write=True) as fd:
            before = os.fstat(fd)
            if ident(before) == expected:
                blocks = _flag_blocks(fd, scan, want)
                if base is not None:
                    want = _merge_flags(want, base, _flags_now(blocks, scan.keywords))
                new_kw = _new_keywords(scan, want)
                writes = self._flag_writes(blocks, scan, want, new_kw)
                if writes is not None:
                    for off, data in writes:
                        os.pwrite(fd, data, off)
                    now = _moved_on(fd, before)
                    os.fsync(fd)
                    entries = [e.with_flags(want[e.uid]) if e.uid in want and want[e.uid] != e.flags
                               else e for e in scan.entries]
                    found = replace(scan, entries=entries, keywords=scan.keywords + new_kw)
                    return found, now
        return self.rewrite(scan, expected, want, set(), uidvalidity, uidnext, base=base)

    @staticmethod
    def _flag_writes(blocks: dict[int, bytes], scan: fmt.Scan, want: dict[int, frozenset[str]],
                     new_kw: list[str]) -> list[tuple[int, bytes]] | None:
        """The in-place writes for ``want``; ``None`` when one does not fit."""
        writes = []
        if new_kw:
            if scan.base_span is None:
                return None
            off, n = scan.base_span
            name = b"X-IMAP" if scan.base_in_pseudo else b"X-IMAPbase"
            try:
                writes.append((off, fmt.base_line(name, scan.uidvalidity, scan.last_uid,
                                                  scan.keywords + new_kw, pad_to=n)))
            except ValueError:
                return None
        for e in scan.entries:
            if e.uid not in want:
                continue
            if e.flagspan is None:
                return None
            off, n = e.flagspan
            crlf = blocks.get(e.uid, b"").endswith(b"\r\n")
            try:
                writes.append((off, fmt.flag_block(want[e.uid], pad_to=n, crlf=crlf)))
            except ValueError:
                return None
        return writes

    def rewrite(self, scan: fmt.Scan, expected: Ident | None, flags: dict[int, frozenset[str]],
                drop: set[int], uidvalidity: int, uidnext: int,
                base: dict[int, frozenset[str]] | None = None) -> Found:
        """Drop the messages ``drop``, set ``flags``, number messages without
        a UID: from the first changed message onward when possible, else
        the whole file.  ``scan`` is re-read first when the file is no
        longer ``expected``; with ``base`` only the change from ``base`` to
        ``flags`` is applied to what the file holds (:meth:`write_flags`)."""
        with self.lock(write=True, create=True) as fd:
            if expected is not None and ident(os.fstat(fd)) != expected:
                scan = fmt.scan(reader(fd))
            elif scan.entries:
                # flags another writer changed in place within the file
                # clock's tick leave the identity as it was: read them again
                fresh = reread_known(fd, scan)
                scan = fresh if fresh is not None else fmt.scan(reader(fd))
            if base is not None:
                now = {e.uid: e.flags for e in scan.entries if e.uid in flags}
                flags = _merge_flags({u: f for u, f in flags.items() if u in now}, base, now)
            p = rw.plan(scan, flags, drop, uidvalidity, uidnext - 1)
            if p.first is None and not p.base_changes:
                return scan, ident(os.fstat(fd))
            if self.expunge == "tail" and p.tail_possible():
                return rw.rewrite_tail(fd, self.path, p)
            return rw.rewrite_whole(fd, self.path, p)
