"""``mailframe-index`` and ``mailframe-cache``: a Maildir folder's own log.

The index lets SELECT of a large mailbox start without listing or opening
its files, and carries what Maildir itself cannot: modseqs (RFC 7162),
expunge tombstones, INTERNALDATE time zones and the parsed
:class:`mailframe.message.MessageInfo` of every message.

``mailframe-index`` is a checkpoint line followed by event lines::

    MFIDX1 <json: {"uidvalidity", "state": MailboxLog.to_state(), "meta"}>
    A <uid> <modseq> <size> <mtime> <tzmin> <cache off> <cache len> <lf> <name> <flags>
    F <uid> <modseq> <name> <flags>
    X <modseq> <uid>,<uid>,...
    S <cur/ mtime ns> <new/ mtime ns> <when>
    R <modseq ceiling> <boot id>

An ``S`` line says "at <when>, cur/ and new/ had these mtimes and the
index matched them", so a process opening the folder later lists neither
directory if they still have those mtimes (and the mtimes were at least a
second older than <when>: same-second changes are not trusted).

An ``R`` line is a modseq reservation (:mod:`mailframe.store._maildir_durable`):
lines after it whose modseqs do not pass its ceiling may be unsynced.
:class:`IndexFile` keeps the last one it read or wrote (``reserved``);
they are not events.

Fields are tab-separated; flags space-separated.  Every process writes
events at the end while holding ``dovecot-uidlist.lock``, after reading the
events others wrote, so the file is also how several mailframe processes
share one modseq sequence.  A compaction rewrites the checkpoint and
renames the file into place (readers notice the new inode).  Whatever is
missing, stale (another UIDVALIDITY) or corrupt is rebuilt from
``dovecot-uidlist`` and the directory listing; the lost modseqs restart
above the current time in milliseconds so they still only grow.

``mailframe-cache`` holds ``MessageInfo.dump()`` blobs, append-only,
addressed by (offset, length) from the ``A`` events; a blob that cannot be
loaded is recomputed from the message file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from mailframe.store._maildir_held import HeldFile

__all__ = [
    "Meta",
    "Event",
    "Added",
    "FlagsChanged",
    "Expunged",
    "Stamp",
    "CurMoved",
    "DirStamp",
    "format_event",
    "format_reserved",
    "meta_row",
    "meta_from_row",
    "IndexFile",
    "CorruptIndex",
    "MAGIC",
]

MAGIC = "MFIDX1 "


class CorruptIndex(ValueError):
    """The index cannot be parsed; it is rebuilt."""


@dataclass(slots=True)
class Meta:
    """Per-message facts the log does not keep."""

    name: str  # current file name, relative to the folder ("cur/...")
    size: int
    mtime: float  # INTERNALDATE, seconds since the epoch
    tzmin: int  # INTERNALDATE zone, minutes east of UTC
    coff: int  # cache blob offset (-1: none)
    clen: int
    #: the file has bare LF line ends (written by Dovecot or an MDA): it is
    #: served with CRLF, as IMAP requires (RFC 3501 §2.3.4 counts CRLF).
    conv: bool = False
    #: (INTERNALDATE, SAVEDATE) as datetimes, made at the first FETCH or
    #: SEARCH that needs them (both are fixed for the message's life), so
    #: a FETCH of many messages builds no datetime twice; never stored
    dates: tuple[datetime, datetime] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Added:
    """``A`` line: a message got ``uid`` at ``modseq``."""

    modseq: int
    uid: int
    meta: Meta
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """``F`` line: the message's file is now ``name``, with ``flags``."""

    modseq: int
    uid: int
    name: str
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Expunged:
    """``X`` line: ``uids`` were expunged at ``modseq``."""

    modseq: int
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Stamp:
    """``S`` line: the directory times a scan trusted (no modseq)."""

    cur_ns: int
    new_ns: int
    at: float


@dataclass(frozen=True, slots=True)
class CurMoved:
    """``C`` line (no modseq): a mailframe writer's own change of ``cur/``
    (its renames and unlinks, under the lock) took the directory's mtime
    from ``before_ns`` to ``after_ns``.  Another process whose last look
    at ``cur/`` saw ``before_ns`` learns the change from the events
    beside this line and need not list the directory again (issue 16:
    each worker re-listed ``cur/`` after every other worker's STORE); it
    still rechecks a second later, as the writer itself does, for a
    change by another program within the same mtime tick."""

    before_ns: int
    after_ns: int


#: One index event, in the order it was written.
Event = Added | FlagsChanged | Expunged | Stamp | CurMoved


class DirStamp(NamedTuple):
    """The modification times of ``cur/`` and ``new/`` (nanoseconds): a
    folder is listed again only when they change."""

    cur_ns: int
    new_ns: int


def meta_row(uid: int, m: Meta) -> list[Any]:
    """A message's row in a checkpoint's ``meta`` list (JSON)."""
    return [uid, m.name, m.size, m.mtime, m.tzmin, m.coff, m.clen, int(m.conv)]


def meta_from_row(row: list[Any]) -> tuple[int, Meta]:
    """:func:`meta_row` read back."""
    uid, name, size, mtime, tz, coff, clen, conv = row
    return int(uid), Meta(name, size, mtime, tz, coff, clen, bool(conv))


def _flags_text(flags: Any) -> str:
    return " ".join(sorted(flags))


def format_add(uid: int, modseq: int, meta: Meta, flags: Any) -> str:
    return (
        f"A\t{uid}\t{modseq}\t{meta.size}\t{meta.mtime!r}\t{meta.tzmin}\t{meta.coff}"
        f"\t{meta.clen}\t{int(meta.conv)}\t{meta.name}\t{_flags_text(flags)}\n"
    )


def format_flags(uid: int, modseq: int, name: str, flags: Any) -> str:
    return f"F\t{uid}\t{modseq}\t{name}\t{_flags_text(flags)}\n"


def format_expunge(modseq: int, uids: list[int]) -> str:
    return f"X\t{modseq}\t{','.join(map(str, uids))}\n"


def format_stamp(cur_ns: int, new_ns: int, at: float) -> str:
    return f"S\t{cur_ns}\t{new_ns}\t{at!r}\n"


def format_event(event: Event) -> str:
    """The index line of ``event`` (with its newline)."""
    if isinstance(event, Added):
        return format_add(event.uid, event.modseq, event.meta, event.flags)
    if isinstance(event, FlagsChanged):
        return format_flags(event.uid, event.modseq, event.name, event.flags)
    if isinstance(event, Expunged):
        return format_expunge(event.modseq, list(event.uids))
    if isinstance(event, CurMoved):
        return f"C\t{event.before_ns}\t{event.after_ns}\n"
    return format_stamp(event.cur_ns, event.new_ns, event.at)


def format_reserved(ceiling: int, boot: str) -> str:
    """An ``R`` line (see :mod:`mailframe.store._maildir_durable`)."""
    return f"R\t{ceiling}\t{boot}\n"


def parse_event(line: str) -> Event:
    """One event line (without its newline) → its :data:`Event`."""
    f = line.split("\t")
    kind = f[0]
    try:
        if kind == "A" and len(f) == 11:
            meta = Meta(f[9], int(f[3]), float(f[4]), int(f[5]), int(f[6]), int(f[7]), f[8] == "1")
            flags = frozenset(f[10].split()) if f[10] else frozenset()
            return Added(int(f[2]), int(f[1]), meta, flags)
        if kind == "F" and len(f) == 5:
            flags = frozenset(f[4].split()) if f[4] else frozenset()
            return FlagsChanged(int(f[2]), int(f[1]), f[3], flags)
        if kind == "S" and len(f) == 4:
            return Stamp(int(f[1]), int(f[2]), float(f[3]))
        if kind == "C" and len(f) == 3:
            return CurMoved(int(f[1]), int(f[2]))
        if kind == "X" and len(f) == 3:
            return Expunged(int(f[1]), tuple(int(u) for u in f[2].split(",") if u))
    except ValueError as e:
        raise CorruptIndex(f"bad index line {line[:80]!r}") from e
    raise CorruptIndex(f"bad index line {line[:80]!r}")


class IndexFile:
    """Reader/writer of one folder's ``mailframe-index``.

    The file last read is kept open (:class:`HeldFile`), so a replacement
    (compaction, rebuild, the mailbox deleted and created again) is told
    from an append by its inode number, and read from its start."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = HeldFile(path)
        self._offset = 0
        #: the last ``R`` line read or written since the checkpoint:
        #: (modseq ceiling, boot id)
        self.reserved: tuple[int, str] | None = None

    def stat_changed(self) -> bool:
        """Cheap check: has anyone written or replaced the file since we
        last read it?"""
        st = self._file.stat()
        if st is None:
            return self._file.held
        return not self._file.same(st) or st.st_size != self._offset

    def mark(self) -> tuple[int, int]:
        """What we have read: (inode, bytes); see :meth:`unchanged_since`."""
        return self._file.ino, self._offset

    def unchanged_since(self, mark: tuple[int, int]) -> bool:
        """The file at the path is still the one read up to ``mark`` (one
        ``stat()``; any thread: it reads nothing of ours but ``mark``,
        whose inode cannot be reused while it is the one held)."""
        st = self._file.stat()
        return st is not None and (st.st_ino, st.st_size) == mark

    def read(self) -> tuple[dict[str, Any] | None, list[Event]]:
        """Catch up.  Returns (checkpoint, events): the checkpoint when the
        file is new to us (read from its start; None if it is missing),
        else None and only the events appended since the last read."""
        st = self._file.stat()
        fresh = st is None or not self._file.same(st) or st.st_size < self._offset
        if fresh:
            self._offset = 0
            self.reserved = None
            if self._file.reopen() is None:
                return None, []
        data = self._file.read_from(self._offset)
        end = data.rfind(b"\n") + 1
        text = data[:end].decode("utf-8", "surrogateescape")
        lines = text.split("\n")[:-1]
        checkpoint: dict[str, Any] | None = None
        if fresh:
            if not lines or not lines[0].startswith(MAGIC):
                self.forget()  # read it whole next time (a torn first write)
                raise CorruptIndex("missing checkpoint")
            try:
                checkpoint = json.loads(lines[0][len(MAGIC) :])
            except ValueError as e:
                self.forget()
                raise CorruptIndex("bad checkpoint") from e
            if not isinstance(checkpoint, dict):
                self.forget()
                raise CorruptIndex("bad checkpoint")
            lines = lines[1:]
        if "\nR\t" in text or text.startswith("R\t"):
            lines = self._take_reservations(lines)
        events = [parse_event(line) for line in lines]
        self._offset += end
        return checkpoint, events

    def _take_reservations(self, lines: list[str]) -> list[str]:
        """Note the ``R`` lines among ``lines``; the others."""
        out = []
        for line in lines:
            if line.startswith("R\t"):
                f = line.split("\t")
                if len(f) != 3 or not f[1].isdigit() or not f[2]:
                    raise CorruptIndex(f"bad index line {line[:80]!r}")
                self.reserved = (int(f[1]), f[2])
            else:
                out.append(line)
        return out

    @property
    def held(self) -> bool:
        """A descriptor of the file is held (see :meth:`forget`)."""
        return self._file.held

    def forget(self) -> None:
        """Read the file from its start next time."""
        self._file.close()
        self._offset = 0

    def append(self, text: str, durable: bool = True) -> None:
        """Append event lines (caller holds the lock and has caught up),
        cutting off a torn tail first; fdatasync'ed (unless not
        ``durable``) so modseqs handed to clients survive a crash."""
        data = text.encode("utf-8", "surrogateescape")
        fd = self._file.writable()
        if fd is None:
            raise CorruptIndex("the index was replaced under its lock")
        try:
            if os.fstat(fd).st_size != self._offset:
                os.ftruncate(fd, self._offset)
            os.lseek(fd, self._offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fdatasync(fd)
        finally:
            os.close(fd)
        self._offset += len(data)

    def write_checkpoint(self, checkpoint: dict[str, Any], keep_reservation: bool = True) -> None:
        """Replace the whole file with a checkpoint (compaction/rebuild),
        followed by the current reservation unless not
        ``keep_reservation`` (a rebuild after a reboot starts without):
        the new file is synced whole, so a compaction does not make the
        next write sync again."""
        text = MAGIC + json.dumps(checkpoint, separators=(",", ":")) + "\n"
        if not keep_reservation:
            self.reserved = None
        if self.reserved is not None:
            text += format_reserved(*self.reserved)
        data = text.encode("utf-8", "surrogateescape")
        self._file.replace(data)
        self._offset = len(data)

    @property
    def size(self) -> int:
        return self._offset


#: Bytes between two blobs :meth:`CacheFile.get_many` reads through
#: rather than making another call, and at most one read's size.
_GAP = 4096
_RUN_BYTES = 4 * 1024 * 1024


class CacheFile:
    """``mailframe-cache``: append-only ``MessageInfo.dump()`` blobs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        return self._fd

    def add(self, blob: bytes) -> tuple[int, int]:
        """Append ``blob``; (offset, length).  Not fsynced: a lost blob is
        recomputed from the message."""
        fd = self._open()
        off = os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, blob)
        return off, len(blob)

    def get(self, off: int, length: int) -> bytes | None:
        """The blob at (off, length), or None.  Callers check its
        ``b"<uid>\\n"`` prefix: offsets from an older cache file miss."""
        if off < 0:
            return None
        try:
            data = os.pread(self._open(), length, off)
        except OSError:
            return None
        return data if len(data) == length else None

    def get_many(self, spans: list[tuple[int, int]]) -> list[bytes | None]:
        """:meth:`get` of each ``(off, length)``, with one ``pread`` per
        run of blobs lying close together in the file (messages appended
        one after another: a header sync's first FETCH reads a thousand
        blobs in a few calls, not a thousand)."""
        out: list[bytes | None] = [None] * len(spans)
        order = sorted((off, length, i) for i, (off, length) in enumerate(spans) if off >= 0)
        k = 0
        while k < len(order):
            start = order[k][0]
            end = k + 1
            stop = start + order[k][1]
            while (end < len(order) and order[end][0] - stop <= _GAP
                   and order[end][0] + order[end][1] - start <= _RUN_BYTES):
                stop = max(stop, order[end][0] + order[end][1])
                end += 1
            try:
                data = os.pread(self._open(), stop - start, start)
            except OSError:
                data = b""
            for off, length, i in order[k:end]:
                blob = data[off - start : off - start + length]
                out[i] = blob if len(blob) == length else None
            k = end
        return out

    def reset(self) -> None:
        """Start an empty cache (on rebuild)."""
        self.close()
        tmp = f"{self.path}.tmp.{os.getpid()}"
        open(tmp, "wb").close()
        os.rename(tmp, self.path)

    def file_size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def compact(self, blobs: list[tuple[int, int, int]]) -> dict[int, tuple[int, int]]:
        """Rewrite the cache with just ``(key, offset, length)`` blobs
        (lock held); returns key → new (offset, length).  Blobs that cannot
        be read are dropped (offset -1: recomputed on use)."""
        out: dict[int, tuple[int, int]] = {}
        tmp = f"{self.path}.tmp.{os.getpid()}"
        with open(tmp, "wb") as f:
            pos = 0
            for key, off, length in blobs:
                data = self.get(off, length)
                if data is None or not data.startswith(b"%d\n" % key):
                    out[key] = (-1, 0)
                    continue
                f.write(data)
                out[key] = (pos, length)
                pos += length
        self.close()
        os.rename(tmp, self.path)
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
