"""\\Recent across processes (RFC 3501 §2.3.2: a message is \\Recent in
exactly one session, the first to be told of it).

Each process's :class:`mailframe.store._log.MailboxLog` keeps the UID floor
above which messages are still unclaimed, which is enough within one
process.  With several processes on one Maildir (``--workers``) the floor
also lives on disk, in ``mailframe-recent`` beside the index, and a claim
reads, raises and writes it under ``flock()`` of that file
(:func:`raise_floor`), as Dovecot keeps its first-recent UID in the index
header: whichever
session claims first, in whichever process, gets the range; everyone
after gets the rest only.  No lock and no file access happen when this
process already knows that nothing new arrived since its last claim.

A claim needs no trip through the folder's worker when the folder is
current (:meth:`mailframe.store._maildir_folder.Folder.now`: the first
SELECT after this process's own APPENDs) and the floor's lock is free
at once (:func:`claim_recent_now`): the reactor thread then opens,
locks, reads and rewrites the 22-byte file itself, in place, no fsync —
system calls of the kind :meth:`Folder.now`'s ``stat()`` checks already
make there — instead of handing the job to a thread and waiting for its
answer (most of what a SELECT of an unchanged mailbox costs beyond
building its view).  A lock held by another process sends the claim to
the worker, which waits for it; the reactor never does.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mailframe.records import MailboxStatus

__all__ = [
    "claim_recent",
    "claim_recent_now",
    "ensure_file",
    "peek_recent",
    "peek_recent_now",
    "raise_floor",
    "read_floor",
    "status",
    "RECENT_FILE",
]

RECENT_FILE = "mailframe-recent"


def _path(folder: Any) -> str:
    return os.path.join(folder.path, RECENT_FILE)


def _parse_floor(data: bytes, uidvalidity: int) -> int:
    try:
        validity, floor = data.split()
        return int(floor) if int(validity) == uidvalidity else 0
    except ValueError:
        return 0


def read_floor(path: str, uidvalidity: int) -> int:
    """The claimed floor on disk: ``UIDVALIDITY FLOOR`` (0 when none was
    written yet, or for another UIDVALIDITY)."""
    try:
        with open(path, "rb") as f:
            return _parse_floor(f.read(64), uidvalidity)
    except FileNotFoundError:
        return 0


def raise_floor(
    path: str, uidvalidity: int, uid: int, wait: bool = True, create: bool = True
) -> int | None:
    """Raise the floor on disk to ``uid``; the floor it had (None, having
    changed nothing, when ``wait`` is false and another process holds the
    lock, or when ``create`` is false and the file does not exist yet).

    The file is mailframe's own (Dovecot never reads it), so mailframe
    processes take turns on it with ``flock()`` on the file itself, not
    with the folder's ``dovecot-uidlist.lock``: a claim neither waits for
    another process's APPEND nor creates, links or renames a file (which
    on a file system busy with the fsyncs of many APPENDs waits for the
    journal: SELECT right after a burst of APPENDs took tens of ms).  The
    value is rewritten in place at a fixed width, so a reader without the
    lock sees the old value or the new one.  Not fsynced: after a crash
    every session is new, and a message \\Recent once more in one of them
    breaks no promise.

    Creating the file is a change to the folder's directory, which after a
    burst of APPENDs waits for the file system's journal (milliseconds):
    the reactor thread never does it (``create=False``); the worker makes
    the file with the folder's first delivery (:func:`ensure_file`)."""
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        disk = _parse_floor(os.pread(fd, 64, 0), uidvalidity)
        if uid > disk:
            data = b"%10d %10d\n" % (uidvalidity, uid)
            os.pwrite(fd, data, 0)
            if os.fstat(fd).st_size != len(data):
                os.ftruncate(fd, len(data))  # a file of another width before
        return disk
    finally:
        os.close(fd)  # lets the flock go


def ensure_file(folder: Any) -> None:
    """Worker thread: make the folder's floor file (empty: no floor yet)
    if it is missing, so a claim on the reactor thread only opens it."""
    path = _path(folder)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _recent(lo: int, hi: int, floor: int) -> tuple[int, int]:
    """The part of this process's unclaimed ``[lo, hi)`` at or above the
    floor on disk (empty as ``(hi, hi)``)."""
    lo = max(lo, floor)
    return (lo, hi) if lo < hi else (hi, hi)


def _claim(log: Any, path: str, wait: bool, guard: AbstractContextManager[Any]) -> tuple[int, int] | None:
    """Claim this process's unclaimed range against the floor on disk;
    ``guard`` is held while the log records the claim.  None, with nothing
    claimed, when ``wait`` is false (the reactor thread) and another
    process holds the lock or the file is still to be made."""
    lo, hi = log.peek_recent()
    if lo >= hi:
        return (hi, hi)
    disk = raise_floor(path, log.uidvalidity, hi, wait=wait, create=wait)
    if disk is None:
        return None
    with guard:
        log.claim_recent()
    return _recent(lo, hi, disk)


def _peek(log: Any, path: str) -> tuple[int, int]:
    """What :func:`_claim` would give, unclaimed."""
    lo, hi = log.peek_recent()
    if lo >= hi:
        return (hi, hi)
    return _recent(lo, hi, read_floor(path, log.uidvalidity))


def claim_recent(folder: Any) -> tuple[int, int]:
    """The half-open UID range ``[lo, hi)`` that is ``\\Recent`` for the
    caller alone, across every process serving the folder."""
    got = _claim(folder.refresh(), _path(folder), True, folder.mem)
    assert got is not None  # waited for the lock
    return got


def claim_recent_now(folder: Any) -> tuple[int, int] | None:
    """Reactor thread: :func:`claim_recent` without the folder's worker
    when the folder is current and the floor's lock is free at once;
    None (nothing claimed) when the worker must do it."""
    path = _path(folder)
    # folder.now already holds folder.mem around the whole claim
    got: tuple[int, int] | None = folder.now(lambda log: _claim(log, path, False, nullcontext()))
    return got


def peek_recent_now(folder: Any) -> tuple[int, int] | None:
    """Reactor thread: :func:`peek_recent` (EXAMINE) without the folder's
    worker when the folder is current; None when the worker must do it."""
    path = _path(folder)
    got: tuple[int, int] | None = folder.now(lambda log: _peek(log, path))
    return got


def peek_recent(folder: Any) -> tuple[int, int]:
    """What :func:`claim_recent` would give, unclaimed (EXAMINE)."""
    return _peek(folder.refresh(), _path(folder))


def status(folder: Any) -> MailboxStatus:
    """STATUS (RFC 3501 §6.3.10): RECENT counts the messages no session in
    any process has claimed, so the floor on disk is read as well when
    this process has unclaimed ones (as Dovecot's STATUS reads the first
    recent UID from its index header)."""
    log = folder.refresh()
    counts: MailboxStatus = log.status()
    if not counts.recent:
        return counts
    lo, hi = peek_recent(folder)  # half-open; uid_range is inclusive
    return dataclasses.replace(counts, recent=len(log.uid_range(lo, hi - 1)) if lo < hi else 0)
