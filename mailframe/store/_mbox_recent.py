"""Who has seen which messages as ``\\Recent`` (RFC 3501 §2.3.2), shared
by every process serving one mbox tree (``--workers``): a small file
beside the mailbox's index holding ``UIDVALIDITY FLOOR``, the first UID
no session has claimed yet.  Dovecot keeps the same number in its index
header (``first_recent_uid``) for the same reason.

Read and written under ``flock`` (mailframe's own file: no other program
reads it), so two processes never both claim a message.  A file left by
a deleted or renamed mailbox of the same name is ignored: its
UIDVALIDITY differs.  Thread side: nothing here touches the reactor.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["recent_path", "read_floor", "claim"]

_WIDTH = 22  # b"%010d %010d\n" (32-bit numbers): written in place, always this long


def recent_path(index_path: str) -> str:
    """The floor's file beside the index ``index_path`` (``….json``)."""
    base = index_path[: -len(".json")] if index_path.endswith(".json") else index_path
    return base + ".recent"


def _parse(data: bytes, uidvalidity: int) -> int | None:
    words = data.split()
    if len(words) != 2 or not all(w.isdigit() for w in words):
        return None
    return int(words[1]) if int(words[0]) == uidvalidity else None


def read_floor(path: str, uidvalidity: int) -> int | None:
    """The shared floor for this UIDVALIDITY, or ``None`` (none saved)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _parse(os.pread(fd, _WIDTH, 0), uidvalidity)
    finally:
        os.close(fd)


def claim(path: str, uidvalidity: int, floor: int, uidnext: int) -> int:
    """Claim ``[lo, uidnext)`` for the caller: ``lo`` is the larger of the
    caller's ``floor`` and the shared one; the shared floor becomes at
    least ``uidnext``.  Returns ``lo`` (nothing claimed when ``lo >=
    uidnext``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        saved = _parse(os.pread(fd, _WIDTH, 0), uidvalidity)
        lo = max(floor, saved or 0)
        if saved is None or uidnext > saved:
            os.pwrite(fd, b"%010d %010d\n" % (uidvalidity, max(lo, uidnext)), 0)
        return lo
    finally:
        os.close(fd)
