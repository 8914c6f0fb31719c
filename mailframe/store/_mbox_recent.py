"""\\Recent across processes on one mbox file (RFC 3501 §2.3.2: a message
is \\Recent in exactly one session, the first to be told of it).

Each process's :class:`mailframe.store._log.MailboxLog` keeps the UID floor
above which messages are still unclaimed.  With several processes on one
file (``--workers``) the floor also lives on disk beside the index, as
``UIDVALIDITY FLOOR``; a claim reads, raises and writes it under an fcntl
lock on that file (Dovecot keeps its first-recent UID in its index
header), so whichever session claims first, in whichever process, gets
the range.  Thread side: nothing here touches the reactor.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["recent_path", "read_floor", "claim_floor"]


def recent_path(index_path: str) -> str:
    """The floor's file beside a mailbox's index."""
    return index_path + ".recent"


def _parse(data: bytes, uidvalidity: int) -> int:
    try:
        validity, floor = data.split()
        return int(floor) if int(validity) == uidvalidity else 0
    except ValueError:
        return 0


def read_floor(path: str, uidvalidity: int) -> int:
    """The floor on disk (0 when none was written, or for another
    UIDVALIDITY: the mailbox was deleted and created again)."""
    try:
        with open(path, "rb") as f:
            return _parse(f.read(64), uidvalidity)
    except OSError:
        return 0


def claim_floor(path: str, uidvalidity: int, upto: int) -> int:
    """Raise the floor to ``upto`` under the lock; the floor it was (UIDs
    below it were claimed by another session, perhaps in another process).
    Not fsynced: after a crash every session is new, and a message
    \\Recent once more breaks no promise."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        old = _parse(os.pread(fd, 64, 0), uidvalidity)
        if upto > old:
            data = b"%d %d\n" % (uidvalidity, upto)
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        return old
    finally:
        os.close(fd)
