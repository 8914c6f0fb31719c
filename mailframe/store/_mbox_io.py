"""Small file primitives of the mbox store: a file's identity, positioned
reads and streamed copies (never a whole message or file in memory unless
it is asked for whole), and cheap re-reads of what the index already knows.
Thread side: nothing here touches the reactor."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from mailframe.store import _mbox_format as fmt

__all__ = ["Ident", "ident", "read_at", "served", "copy_range", "fsync_dir", "peek_base",
           "reread_known", "CHUNK"]

#: bytes per read when copying or serving.
CHUNK = 1 << 16
#: (inode, size, mtime in ns): a file is taken as unchanged while these are.
Ident = tuple[int, int, int]


def ident(st: os.stat_result) -> Ident:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def read_at(fd: int, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` (fewer at the end of the file)."""
    if 0 < length <= CHUNK:
        first = os.pread(fd, length, offset)
        if len(first) == length or not first:
            return first
        offset, length, out = offset + len(first), length - len(first), [first]
    else:
        out = []
    while length > 0:
        chunk = os.pread(fd, min(length, CHUNK), offset)
        if not chunk:
            break
        out.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(out)


def copy_range(fd: int, offset: int, length: int, write: Callable[[bytes], object]) -> int:
    """Stream ``length`` bytes at ``offset`` to ``write`` in chunks; the
    bytes copied."""
    done = 0
    while done < length:
        chunk = os.pread(fd, min(length - done, CHUNK), offset + done)
        if not chunk:
            break
        write(chunk)
        done += len(chunk)
    return done


def served(fd: int, e: fmt.Entry) -> tuple[bytes, int]:
    """(kept header bytes, body length) of entry ``e``."""
    return b"".join(read_at(fd, off, n) for off, n in e.kept), e.end - e.body


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in ``path``'s directory durable."""
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def peek_base(path: str) -> tuple[int, int] | None:
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


def reread_known(fd: int, old: fmt.Scan) -> fmt.Scan | None:
    """For a file that grew: the known part re-read cheaply, its base
    header and each message's flag lines only (another writer such as
    Dovecot changes them in place while appending).  ``None`` when they are
    not where the index says (the file was rewritten: scan it whole)."""
    if old.base_span is None or not old.entries:
        return None
    last = old.entries[-1]
    if read_at(fd, last.start, len(last.from_line)) != last.from_line:
        return None
    off, n = old.base_span
    line = read_at(fd, off, n)
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
        flags = fmt.parse_flag_block(read_at(fd, *e.flagspan), base.keywords)
        if flags is None:
            return None
        entries.append(e.with_flags(flags) if flags != e.flags else e)
    base.entries = entries
    return base
