"""Mod-sequences shared by every process serving one mbox file (RFC 7162).

Each worker process (``--workers``, the server's default is 2) keeps its
own :class:`mailframe.store._log.MailboxLog` of one file; left alone, each
counted modseqs from its own last value, so two processes could give one
value to two changes, and a client moving from one process to the other
saw HIGHESTMODSEQ go backwards and lost changes to CHANGEDSINCE (RFC 7162
§3.1: a new modseq is larger than every earlier one of the mailbox).

So the mailbox's HIGHESTMODSEQ also lives on disk, beside the index, as
``UIDVALIDITY HIGHESTMODSEQ`` (Dovecot keeps it in its shared index
header).  A process gives its changes modseqs from its log at once
(*provisional*), and *claims* them under an flock on that file once the
change is in the mbox file for others to see: when another process
claimed values meanwhile, its own pending values move up above them
(:func:`shift_log`, order kept).  Every command first reads the disk value
(before it looks at the mbox file) and moves its pending values above it.
A change any process shows with modseq M is thus claimed (M is at most the
disk value), and any change another process makes visible later is
claimed above it: CHANGEDSINCE M asked of any process reports it.  The
same change seen by two processes may carry two modseqs (a client is told
of it twice, never not at all).  Losing the file (or the index) loses
modseqs only: the index loader starts above the clock in milliseconds.

Thread side (:func:`read`, :func:`claim`) and reactor side
(:func:`shift_log`); no reactor import.
"""

from __future__ import annotations

import fcntl
import os

from mailframe.records import FlagState
from mailframe.store._log import MailboxLog

__all__ = ["modseq_path", "read", "claim", "shift_log"]


def modseq_path(index_path: str) -> str:
    """The shared HIGHESTMODSEQ's file beside a mailbox's index."""
    return index_path + ".modseq"


def _parse(data: bytes, uidvalidity: int) -> int:
    try:
        validity, modseq = data.split()
        return int(modseq) if int(validity) == uidvalidity else 0
    except ValueError:
        return 0


def read(path: str, uidvalidity: int) -> int:
    """The HIGHESTMODSEQ every process has claimed (0: none yet, or it was
    another UIDVALIDITY's: the mailbox was deleted and created again)."""
    try:
        with open(path, "rb") as f:
            return _parse(f.read(64), uidvalidity)
    except OSError:
        return 0


def claim(path: str, uidvalidity: int, base: int, high: int) -> int:
    """Claim this process's pending modseqs ``base+1 .. high`` under an
    flock (per open file, so threads of one process exclude each other
    too): how far they must move up (0 when no process claimed above
    ``base`` since).  The file then holds ``high`` plus that.  Not
    fsynced: after a crash the index loader starts above the clock."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        disk = _parse(os.pread(fd, 64, 0), uidvalidity)
        by = max(0, disk - base)
        if high + by > disk:
            data = b"%d %d\n" % (uidvalidity, high + by)
            os.pwrite(fd, data.ljust(64), 0)
        return by
    finally:
        os.close(fd)


def shift_log(log: MailboxLog, above: int, by: int) -> None:
    """Every modseq of ``log`` above ``above`` (its pending ones: the last
    of the log's modseq-ordered states and tombstones) moves up by ``by``,
    and so does HIGHESTMODSEQ; their order is kept."""
    if by <= 0:
        return
    live = log._live
    tail = []
    for uid in reversed(live):
        if live[uid].modseq <= above:
            break
        tail.append(uid)
    for uid in reversed(tail):  # re-inserted in the same (ascending) order
        state = live.pop(uid)
        live[uid] = FlagState(state.uid, state.flags, state.modseq + by)
    tombs = log._tomb_modseq
    i = len(tombs) - 1
    while i >= 0 and tombs[i] > above:
        tombs[i] += by
        i -= 1
    log.highestmodseq += by
