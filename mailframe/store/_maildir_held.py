"""A file that other processes replace by ``rename()``, read through a
descriptor this process keeps open.

``dovecot-uidlist`` and ``mailframe-index`` are appended to in place and
now and then replaced whole by ``rename()`` (compaction, a rebuild, the
mailbox deleted and created again).  A reader that reads only what was
appended since its last read must know whether the file at the path is
still the one it read.  Comparing inode numbers is not enough: ext4 and
tmpfs hand a freed inode number out again at once, so a file replaced
twice (or a mailbox deleted and created again) very often has the inode
number of the one the reader last saw, and reading it from the old
offset gives half a line or, worse, a wrong but parseable mailbox.

Keeping the last-read file open settles it, as Dovecot keeps its index
files mapped: an inode stays allocated while a descriptor refers to it,
so no replacement can carry its number, and ``stat(path).st_ino`` differs
from ours exactly when the file was replaced.  Reads go through the held
descriptor (``pread``), so a replacement between the ``stat()`` and the
read is read whole on the next call instead of being torn now.
"""

from __future__ import annotations

import os

__all__ = ["HeldFile"]


class HeldFile:
    """The file at ``path`` as this process last opened it."""

    __slots__ = ("path", "fd", "ino", "dev")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.ino = -1
        self.dev = -1

    @property
    def held(self) -> bool:
        return self.fd >= 0

    def same(self, st: os.stat_result) -> bool:
        """``st`` (a ``stat()`` of the path) is of the file we hold."""
        return self.fd >= 0 and st.st_ino == self.ino and st.st_dev == self.dev

    def stat(self) -> os.stat_result | None:
        """``stat()`` of the path; None when there is no file."""
        try:
            return os.stat(self.path)
        except FileNotFoundError:
            return None

    def reopen(self) -> os.stat_result | None:
        """Hold the file now at the path (letting the old one go); its
        ``fstat()``, or None (holding nothing) when there is none."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.close()
            return None
        return self.adopt(fd)

    def adopt(self, fd: int) -> os.stat_result:
        """Hold ``fd`` (a file we just renamed into place ourselves)."""
        st = os.fstat(fd)
        self.close()
        self.fd, self.ino, self.dev = fd, st.st_ino, st.st_dev
        return st

    def replace(self, data: bytes) -> None:
        """Replace the file at the path with ``data`` (the caller holds the
        lock): written to a temporary file, fsynced, renamed into place,
        and held, so readers see the old file or the new one, never a mix."""
        tmp = f"{self.path}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        self.adopt(fd)

    def read_from(self, offset: int) -> bytes:
        """The held file's bytes from ``offset`` to its end now."""
        size = os.fstat(self.fd).st_size
        if size <= offset:
            return b""
        parts = []
        while offset < size:
            chunk = os.pread(self.fd, size - offset, offset)
            if not chunk:
                break  # cut short meanwhile (a torn tail removed)
            parts.append(chunk)
            offset += len(chunk)
        return b"".join(parts)

    def writable(self) -> int | None:
        """A descriptor for appending to the held file (the caller holds
        the lock and has read it), or None when the file at the path is
        another one: appending there would cut off or follow lines the
        caller never read."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        if not self.same(os.fstat(fd)):
            os.close(fd)
            return None
        return fd

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        self.ino = self.dev = -1
        if fd >= 0:
            os.close(fd)
