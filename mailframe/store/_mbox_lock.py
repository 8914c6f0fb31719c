"""Locking an mbox file the way Dovecot, mutt and procmail expect.

Writers take a dotlock (``<file>.lock``, written under a private name and
linked into place, holding ``pid:host``; one older than ``stale_after``
seconds, or whose process on this host is gone, is removed as a dead
writer's) and then an exclusive fcntl lock on the file, in Dovecot's
order (``mbox_write_locks = dotlock fcntl``).  Readers take a shared fcntl
lock (``mbox_read_locks = fcntl``).  Locks are held only for the I/O.

POSIX fcntl locks belong to the process and are dropped when it closes
*any* descriptor of the file, so while a lock is held every read and write
goes through the one descriptor :func:`locked` hands out, and nothing
else in the process opens the file meanwhile (the mailbox serialises its
I/O).  A rename over the file (our own expunge, or another writer's) is
noticed after locking: the lock is retaken on the new file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["locked", "LockTimeout", "DOTLOCK_STALE", "LOCK_TIMEOUT", "WRITE_LOCKS"]

#: seconds after which a dotlock is taken to be a dead writer's (Dovecot:
#: ``mbox_dotlock_change_timeout`` = 2 min).
DOTLOCK_STALE = 120.0
#: the write locks, in order (Dovecot's ``mbox_write_locks``).
WRITE_LOCKS: tuple[str, ...] = ("dotlock", "fcntl")
#: seconds to wait for a lock before giving up (Dovecot: ``mbox_lock_timeout``).
LOCK_TIMEOUT = 30.0


class LockTimeout(OSError):
    """The mbox stayed locked by someone else for too long."""


def _owner_dead(lock: str) -> bool:
    """A dotlock written as ``pid:host`` (Dovecot's form) on this host by a
    process that no longer exists is stale at once, as Dovecot decides."""
    try:
        with open(lock, "rb") as f:
            pid_text, _, host = f.read(256).decode("ascii", "replace").partition(":")
    except OSError:
        return False
    if host.strip() != socket.gethostname() or not pid_text.strip().isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _dotlock(path: str, timeout: float, stale_after: float) -> str:
    lock = path + ".lock"
    deadline = time.monotonic() + timeout
    # written whole under a private name, then linked into place: the lock
    # appears atomically with its owner in it (as Dovecot does)
    tmp = f"{lock}.{socket.gethostname()}.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(f"{os.getpid()}:{socket.gethostname()}".encode())
    try:
        while True:
            try:
                os.link(tmp, lock)
                return lock
            except FileExistsError:
                pass
            try:
                age = time.time() - os.stat(lock).st_mtime
                if age > stale_after or _owner_dead(lock):
                    os.unlink(lock)
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(errno.EAGAIN, f"{lock} held too long") from None
            time.sleep(0.02)
    finally:
        os.unlink(tmp)


def _fcntl(fd: int, exclusive: bool, deadline: float) -> None:
    kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    while True:
        try:
            fcntl.lockf(fd, kind | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() > deadline:
                raise LockTimeout(errno.EAGAIN, "fcntl lock held too long") from e
            time.sleep(0.02)


def _release(fd: int | None, dotlock: str | None) -> None:
    if fd is not None:
        os.close(fd)
    if dotlock is not None:
        try:
            os.unlink(dotlock)
        except FileNotFoundError:
            pass


@contextmanager
def locked(path: str, write: bool, create: bool = False, timeout: float = LOCK_TIMEOUT,
           stale_after: float = DOTLOCK_STALE,
           order: tuple[str, ...] = WRITE_LOCKS) -> Iterator[int]:
    """Lock ``path`` and give the one descriptor to use while locked
    (read-write for ``write``).  Writers take the locks of ``order``
    (``"dotlock"``, ``"fcntl"``) in that order, as Dovecot's
    ``mbox_write_locks``; readers a shared fcntl lock.  Raises
    FileNotFoundError when the file does not exist and ``create`` is false."""
    deadline = time.monotonic() + timeout
    flags = (os.O_RDWR if write else os.O_RDONLY) | (os.O_CREAT if create else 0)
    while True:
        fd: int | None = None
        dotlock: str | None = None
        try:
            for kind in order if write else ("fcntl",):
                if kind == "dotlock":
                    dotlock = _dotlock(path, max(deadline - time.monotonic(), 0.0), stale_after)
                elif kind == "fcntl":
                    fd = os.open(path, flags, 0o600)
                    _fcntl(fd, write, deadline)
                else:
                    raise ValueError(f"unknown mbox lock {kind!r}")
            if fd is None:
                fd = os.open(path, flags, 0o600)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            _release(fd, dotlock)
            raise
        if same:
            break
        _release(fd, dotlock)  # replaced while we waited: lock the new file
    try:
        yield fd
    finally:
        _release(fd, dotlock)
