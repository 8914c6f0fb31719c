"""Rewriting an mbox file: expunges, flag changes that do not fit in place,
UIDs for messages another program delivered without one.

Like Dovecot, only the part of the file from the first changed message
onward is rewritten (:func:`rewrite_tail`): a mailbox of 2 GB whose last
message is expunged costs the size of that message, not of the file.  The
new tail is first written whole to a journal beside the mbox
(``.<name>.mftail``: what to write where, then the bytes; written under a
temporary name, fsynced and renamed, so it exists only complete), then
copied over the old tail in place, the file truncated and fsynced, and the
journal removed.  A process killed during the copy leaves the journal: the
next mailframe to lock the file (:func:`recover`) replays it before doing
anything else, so no acknowledged message is ever lost.  (Between the kill
and that replay a foreign reader, Dovecot or mutt breaking our dead
dotlock, may see the torn tail; Dovecot's own in-place expunge has the same
window.  ``EXPUNGE=rename`` on the store trades the cost for none.)

When the first message must change and there is no pseudo-message (the
base header lives in the first message), when the base header has no
padded room for a new last UID or keyword, or when ``rename`` is asked for,
the whole file is written anew (:func:`rewrite_whole`) through a temporary
file, fsync and rename, keeping the owner and mode.  Bodies are streamed
in chunks in both cases, never held whole in memory; every message's bytes
stay as they were delivered (only our state headers are rewritten).
"""

from __future__ import annotations

import json
import os
from typing import Any, BinaryIO

from mailframe.store import _mbox_format as fmt
from mailframe.store._mbox_io import CHUNK, Ident, copy_range, fsync_dir, ident, served
from mailframe.store._mbox_lock import reader

__all__ = ["Plan", "plan", "rewrite_tail", "rewrite_whole", "recover", "journal_path",
           "write_journal"]

_HEAD = 1024  # bytes of the journal's first line (JSON, padded), at least


def journal_path(path: str) -> str:
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".mftail")


class Plan:
    """What a rewrite will write: the UID of every entry (new ones for
    messages without), the base header's last UID and keywords, and the
    first entry that changes (``None``: no message changes)."""

    def __init__(self, scan: fmt.Scan, flags: dict[int, frozenset[str]], drop: set[int],
                 uidvalidity: int, last_uid: int, keywords: list[str] | None) -> None:
        self.scan = scan
        self.flags = flags
        self.drop = drop
        self.uidvalidity = scan.uidvalidity or uidvalidity
        last = max(scan.last_uid, last_uid)
        declared = list(keywords if keywords is not None else scan.keywords)
        for fl in flags.values():
            declared += sorted({f for f in fl if not f.startswith("\\")} - set(declared))
        self.uids: list[int] = []
        self.first: int | None = None
        for i, e in enumerate(scan.entries):
            uid = e.uid
            if uid == 0:
                last += 1
                uid = last
            self.uids.append(uid)
            changed = (e.uid == 0 or uid in drop
                       or (uid in flags and flags[uid] != e.flags))
            if changed and self.first is None:
                self.first = i
        self.last_uid = last
        self.keywords = declared

    @property
    def base_changes(self) -> bool:
        s = self.scan
        return (s.uidvalidity != self.uidvalidity or s.last_uid != self.last_uid
                or s.keywords != self.keywords)

    def base_patch(self) -> tuple[int, bytes] | None:
        """The base header rewritten in its padded room; ``None`` when it
        does not fit (or there is none)."""
        s = self.scan
        if s.base_span is None or not s.uidvalidity:
            return None
        off, n = s.base_span
        name = b"X-IMAP" if s.base_in_pseudo else b"X-IMAPbase"
        try:
            return off, fmt.base_line(name, self.uidvalidity, self.last_uid, self.keywords,
                                      pad_to=n)
        except ValueError:
            return None

    def tail_possible(self) -> bool:
        """Can the file keep everything before the first changed message?"""
        s = self.scan
        if self.first is None or s.base_span is None or not s.uidvalidity:
            return False
        if not s.base_in_pseudo and self.first == 0:
            return False  # the base header's message itself changes
        return not self.base_changes or self.base_patch() is not None


def plan(scan: fmt.Scan, flags: dict[int, frozenset[str]], drop: set[int], uidvalidity: int,
         last_uid: int, keywords: list[str] | None = None) -> Plan:
    return Plan(scan, flags, drop, uidvalidity, last_uid, keywords)


def _write_messages(fd: int, p: Plan, start: int, out: BinaryIO) -> int:
    """Entries ``start``.. of plan ``p`` as the file will hold them, to
    ``out``; the bytes written."""
    n = 0
    for e, uid in zip(p.scan.entries[start:], p.uids[start:], strict=True):
        if uid in p.drop:
            continue
        head, body_len = served(fd, e)
        fl = p.flags.get(uid, e.flags)
        block = fmt.message_bytes(e.from_line, head, body_len, uid, fl, e.trim)
        out.write(block)
        n += len(block) + copy_range(fd, e.body, body_len, out.write)
        out.write(b"\n")
        n += 1
    return n


def rewrite_whole(fd: int, path: str, p: Plan) -> tuple[fmt.Scan, Ident]:
    """The file written anew through a temporary file + fsync + rename: the
    pseudo-message, then every kept message."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".mftmp")
    with open(tmp, "w+b") as out:
        st = os.fstat(fd)  # the new file keeps the old one's owner and mode
        os.fchmod(out.fileno(), st.st_mode & 0o7777)
        try:
            os.fchown(out.fileno(), st.st_uid, st.st_gid)
        except PermissionError:
            pass
        out.write(fmt.pseudo_message(p.uidvalidity, p.last_uid, p.keywords))
        _write_messages(fd, p, 0, out)
        out.flush()
        os.fsync(out.fileno())
        found = fmt.scan(out)
        new_ident = ident(os.fstat(out.fileno()))
    os.replace(tmp, path)
    fsync_dir(path)
    return found, new_ident


def rewrite_tail(fd: int, path: str, p: Plan) -> tuple[fmt.Scan, Ident]:
    """Rewrite from the plan's first changed message onward, in place,
    through the journal (see the module docstring)."""
    assert p.first is not None
    s = p.scan
    offset = s.entries[p.first].start
    _replay(fd, write_journal(fd, path, p))
    base = fmt.Scan(p.uidvalidity, p.last_uid, list(p.keywords), s.pseudo, s.base_span,
                    s.base_in_pseudo, list(s.entries[: p.first]))
    found = fmt.scan(reader(fd), offset, base)
    return found, ident(os.fstat(fd))


def write_journal(fd: int, path: str, p: Plan) -> str:
    """The journal of plan ``p`` written, fsynced and in place (nothing in
    the mbox changed yet); its path."""
    assert p.first is not None
    offset = p.scan.entries[p.first].start
    st = os.fstat(fd)
    patches = []
    if p.base_changes:
        patch = p.base_patch()
        assert patch is not None
        patches.append([patch[0], patch[1].hex()])
    journal = journal_path(path)
    tmp = journal + ".tmp"
    with open(tmp, "w+b") as out:
        head = {"ino": st.st_ino, "offset": offset, "old_size": st.st_size, "length": 0,
                "patches": patches}
        # room for the header, written again once the length is known (a
        # base-header patch with many keywords may need more than _HEAD;
        # the reader takes the first line whatever its length)
        first = json.dumps(head).encode()
        room = max(_HEAD, len(first) + 24)
        out.write(first.ljust(room) + b"\n")
        head["length"] = _write_messages(fd, p, p.first, out)
        line = json.dumps(head).encode()
        assert len(line) <= room
        out.seek(0)
        out.write(line.ljust(room) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, journal)
    fsync_dir(journal)
    return journal


def _read_journal(journal: str) -> tuple[dict[str, Any], int] | None:
    try:
        with open(journal, "rb") as f:
            line = f.readline()
        head = json.loads(line)
        return head, len(line)
    except (OSError, ValueError):
        return None


def _replay(fd: int, journal: str) -> None:
    """Apply the journal to the locked file ``fd`` and remove it."""
    got = _read_journal(journal)
    assert got is not None
    head, skip = got
    for off, data in head["patches"]:
        os.pwrite(fd, bytes.fromhex(data), off)
    offset, length = int(head["offset"]), int(head["length"])
    with open(journal, "rb") as src:
        src.seek(skip)
        done = 0
        while done < length:
            chunk = src.read(min(CHUNK, length - done))
            if not chunk:
                raise OSError(f"mbox journal {journal} is short")
            pos = offset + done
            view = memoryview(chunk)
            while view:
                n = os.pwrite(fd, view, pos)
                view, pos = view[n:], pos + n
            done += len(chunk)
    os.ftruncate(fd, offset + length)
    os.fsync(fd)
    os.unlink(journal)
    fsync_dir(journal)


def recover(fd: int, path: str) -> bool:
    """Finish a tail rewrite a killed process left (under the write lock).
    Replayed only onto the file it was made for, in the state the copy
    leaves it (old size: mid-copy; new size: truncated, journal not yet
    removed); any other file keeps it aside as ``.mftail.unused``.  True
    when the file changed."""
    journal = journal_path(path)
    got = _read_journal(journal)
    if got is None:
        if os.path.exists(journal):
            os.replace(journal, journal + ".unused")
        return False
    head, _ = got
    st = os.fstat(fd)
    new_size = int(head["offset"]) + int(head["length"])
    if st.st_ino != head["ino"] or st.st_size not in (int(head["old_size"]), new_size):
        os.replace(journal, journal + ".unused")
        return False
    _replay(fd, journal)
    return True
