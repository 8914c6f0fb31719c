"""Locking an mbox file the way Dovecot, mutt, procmail and Postfix expect.

Every program that touches the same mbox must take the same locks in the
same order, or they read half-written mail or deadlock (Dovecot's
MboxLocking wiki page).  The lock sets are therefore configurable, with
the names Dovecot uses for ``mbox_write_locks`` / ``mbox_read_locks``:

``dotlock``
    ``<file>.lock``, written under a private name and linked into place,
    holding ``pid:host``; one unchanged for ``stale_after`` seconds
    (Dovecot's ``mbox_dotlock_change_timeout``, 2 min), or whose process
    on this host is gone, is removed as a dead writer's.
``dotlock_try``
    the same, skipped when the directory does not let us create it
    (permissions, full or read-only disk), as Dovecot does.
``fcntl`` / ``lockf``
    a POSIX record lock on the whole file (``lockf(3)`` is this same lock
    on Linux; both names are accepted as in Dovecot).
``flock``
    a BSD ``flock(2)`` lock, independent of fcntl on Linux: needed beside
    programs built to use flock only.

Defaults (:data:`WRITE_LOCKS`, :data:`READ_LOCKS`) are ``fcntl dotlock`` for
writers and ``fcntl`` for readers: the Dovecot 2.3 installed here
(``doveconf -d mbox_write_locks``, Debian policy §11.6), Postfix's
``mailbox_delivery_lock = fcntl, dotlock``, and mutt/neomutt (``neomutt -v``:
``+fcntl -flock``; fcntl on the file, dotlock in the spool) agree on it.
Upstream Dovecot's ``dotlock fcntl`` is one option away
(``WRITE_LOCKS=dotlock+fcntl``).  procmail (``procmail -v``: "dotlocking,
fcntl()") takes both.  Locks are held only for the I/O.

POSIX fcntl locks belong to the process and are dropped when it closes
*any* descriptor of the file, so while a lock is held every read and write
goes through the one descriptor :func:`locked` hands out (:func:`reader`
wraps it for buffered reads without ever closing it), and nothing else in
the process opens the file meanwhile (the mailbox serialises its I/O).  A
rename over the file (our own rewrite, or another writer's) is noticed
after locking: the locks are retaken on the new file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

__all__ = ["locked", "reader", "parse_locks", "LockTimeout", "DOTLOCK_STALE", "LOCK_TIMEOUT",
           "WRITE_LOCKS", "READ_LOCKS", "LOCK_KINDS"]

#: seconds after which a dotlock is taken to be a dead writer's (Dovecot:
#: ``mbox_dotlock_change_timeout`` = 2 min).
DOTLOCK_STALE = 120.0
#: the write locks, in order (Dovecot's ``mbox_write_locks`` as installed).
WRITE_LOCKS: tuple[str, ...] = ("fcntl", "dotlock")
#: the read locks (Dovecot's ``mbox_read_locks``).
READ_LOCKS: tuple[str, ...] = ("fcntl",)
#: seconds to wait for a lock before giving up (Dovecot: ``mbox_lock_timeout``).
LOCK_TIMEOUT = 30.0
#: the lock names understood (Dovecot's).
LOCK_KINDS = frozenset({"dotlock", "dotlock_try", "fcntl", "lockf", "flock"})
_POLL = 0.02


class LockTimeout(OSError):
    """The mbox stayed locked by someone else for too long."""


def parse_locks(value: str) -> tuple[str, ...]:
    """``"fcntl+dotlock"`` (or with commas or spaces, as in Dovecot's
    setting) → the lock names in order; ValueError for unknown ones."""
    kinds = tuple(v for v in value.replace(",", " ").replace("+", " ").split() if v)
    unknown = [k for k in kinds if k not in LOCK_KINDS]
    if unknown or len(set(kinds)) != len(kinds):
        raise ValueError(f"mbox locks are {', '.join(sorted(LOCK_KINDS))}, each once: {value!r}")
    return kinds


def reader(fd: int) -> BinaryIO:
    """A buffered reader over ``fd`` that never closes it (closing a
    descriptor of the file would drop our fcntl lock)."""
    return os.fdopen(fd, "rb", closefd=False)


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


_SKIPPABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def _dotlock(path: str, deadline: float, stale_after: float, try_only: bool) -> str | None:
    lock = path + ".lock"
    # written whole under a private name, then linked into place: the lock
    # appears atomically with its owner in it (as Dovecot does)
    # (the thread too: two mailbox objects of one process on one file, as
    # when another process deleted and created it again, must not remove
    # each other's)
    tmp = f"{lock}.{socket.gethostname()}.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(tmp, "wb") as f:
            f.write(f"{os.getpid()}:{socket.gethostname()}".encode())
    except OSError as e:
        if try_only and e.errno in _SKIPPABLE:
            return None
        raise
    try:
        while True:
            try:
                os.link(tmp, lock)
                return lock
            except FileExistsError:
                pass
            except OSError as e:
                if try_only and e.errno in _SKIPPABLE:
                    return None
                raise
            try:
                age = time.time() - os.stat(lock).st_mtime
                if age > stale_after or _owner_dead(lock):
                    os.unlink(lock)
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(errno.EAGAIN, f"{lock} held too long") from None
            time.sleep(_POLL)
    finally:
        os.unlink(tmp)


def _kernel_lock(fd: int, kind: str, exclusive: bool, deadline: float) -> None:
    """fcntl (= lockf) or flock, waiting until ``deadline``."""
    while True:
        try:
            if kind == "flock":
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            else:
                fcntl.lockf(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            if time.monotonic() > deadline:
                raise LockTimeout(errno.EAGAIN, f"{kind} lock held too long") from e
            time.sleep(_POLL)


def _release(fd: int | None, dotlock: str | None) -> None:
    if fd is not None:
        os.close(fd)  # drops the fcntl and flock locks
    if dotlock is not None:
        try:
            os.unlink(dotlock)
        except FileNotFoundError:
            pass


@contextmanager
def locked(path: str, write: bool, create: bool = False, timeout: float = LOCK_TIMEOUT,
           stale_after: float = DOTLOCK_STALE,
           order: tuple[str, ...] | None = None) -> Iterator[int]:
    """Lock ``path`` and give the one descriptor to use while locked
    (read-write for ``write``).  The locks of ``order`` are taken in that
    order (default :data:`WRITE_LOCKS` for writers, :data:`READ_LOCKS` for
    readers); kernel locks are exclusive for writers, shared for readers.
    Raises FileNotFoundError when the file does not exist and ``create`` is
    false, :class:`LockTimeout` after ``timeout`` seconds."""
    if order is None:
        order = WRITE_LOCKS if write else READ_LOCKS
    deadline = time.monotonic() + timeout
    flags = (os.O_RDWR if write else os.O_RDONLY) | (os.O_CREAT if create else 0)
    while True:
        fd: int | None = None
        dotlock: str | None = None
        try:
            for kind in order:
                if kind in ("dotlock", "dotlock_try"):
                    dotlock = _dotlock(path, deadline, stale_after, kind == "dotlock_try")
                elif kind in ("fcntl", "lockf", "flock"):
                    if fd is None:
                        fd = os.open(path, flags, 0o600)
                    _kernel_lock(fd, kind, write, deadline)
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
