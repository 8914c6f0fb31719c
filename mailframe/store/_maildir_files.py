"""Maildir file names, flag letters, durable writes and the dotlock.

File names follow the Maildir spec (cr.yp.to/proto/maildir.html) with
Dovecot's extensions: ``<base>:2,<flags>`` where the base carries
``,S=<size>`` and the flags are the system letters ``D F P R S T`` in
ASCII order followed by keyword letters ``a``-``z``, each the index of a
keyword in ``dovecot-keywords``.  Anything after a ``,`` in the flags field
is not ours and is kept as is.

Writes are durable before they are acknowledged: the message goes to
``tmp/``, is fsynced, renamed into ``cur/`` and the directory fsynced.
Writers of ``dovecot-uidlist`` hold ``dovecot-uidlist.lock``, created with
``O_EXCL`` (Dovecot's dotlock); a lock whose owner is dead or that is
older than Dovecot's two-minute stale timeout is broken.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from mailframe.message import has_bare_lf

__all__ = [
    "SYSTEM_LETTERS",
    "DotLock",
    "LockTimeout",
    "LockGone",
    "base_of",
    "flags_from_name",
    "info_for",
    "new_base",
    "fsync_dir",
    "at_once",
    "write_durably",
    "NewFile",
    "read_keywords",
    "write_keywords",
    "make_maildir",
    "needs_crlf",
    "SYSTEM_FLAGS_LOWER",
]

#: Maildir info letters (cr.yp.to/proto/maildir.html) ⇄ IMAP flags.
SYSTEM_LETTERS: dict[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_LETTER_FOR = {flag.lower(): letter for letter, flag in SYSTEM_LETTERS.items()}
#: the system flags a letter stands for, lower case
SYSTEM_FLAGS_LOWER = frozenset(_LETTER_FOR)
#: "P" (passed: resent/forwarded/bounced) is read as ``$Forwarded`` (RFC
#: 5788 registry) but, as Dovecot does, ``$Forwarded`` is written as a
#: keyword letter, so Dovecot sees it too.
_READ_ONLY_LETTERS = {"P": "$Forwarded"}
_KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
_counter = itertools.count(1)

#: Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT, seconds.
STALE_TIMEOUT = 120.0


def base_of(filename: str) -> str:
    """The part of a Maildir file name before ``:`` — stable across flag
    changes, the key of ``dovecot-uidlist``."""
    i = filename.find(":")
    return filename if i < 0 else filename[:i]


def new_base(size: int) -> str:
    """A unique base name: ``<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>``."""
    now = time.time()
    secs = int(now)
    usecs = int((now - secs) * 1_000_000)
    return f"{secs}.M{usecs}P{os.getpid()}Q{next(_counter)}.{_HOST},S={size}"


def flags_from_name(filename: str, keywords: Sequence[str]) -> tuple[set[str], str]:
    """Flags named by ``filename``'s ``:2,`` info, and the unknown rest
    (letters we cannot map plus anything after a comma), kept verbatim."""
    flags: set[str] = set()
    i = filename.find(":2,")
    if i < 0:
        return flags, ""
    info = filename[i + 3 :]
    extra = ""
    comma = info.find(",")
    if comma >= 0:
        info, extra = info[:comma], info[comma:]
    unknown = []
    for ch in info:
        flag = SYSTEM_LETTERS.get(ch) or _READ_ONLY_LETTERS.get(ch)
        if flag is not None:
            flags.add(flag)
        elif "a" <= ch <= "z" and ord(ch) - 97 < len(keywords):
            flags.add(keywords[ord(ch) - 97])
        else:
            unknown.append(ch)
    return flags, "".join(unknown) + extra


def info_for(flags: Iterable[str], keywords: Sequence[str], unknown: str = "") -> str:
    """The ``:2,...`` suffix for ``flags``; keywords missing from
    ``keywords`` are left out (the caller adds them first)."""
    letters: set[str] = set()
    kw_index = {k.lower(): i for i, k in enumerate(keywords)}
    for flag in flags:
        letter = _LETTER_FOR.get(flag.lower())
        if letter is not None:
            letters.add(letter)
            continue
        i = kw_index.get(flag.lower())
        if i is not None and i < len(_KEYWORD_LETTERS):
            letters.add(_KEYWORD_LETTERS[i])
    comma = unknown.find(",")
    plain, extra = (unknown, "") if comma < 0 else (unknown[:comma], unknown[comma:])
    letters.update(plain)
    return ":2," + "".join(sorted(letters)) + extra


def make_maildir(path: str, subfolder: bool) -> None:
    """Create ``cur/ new/ tmp/`` (and ``maildirfolder`` for a Maildir++
    sub-folder) under ``path``."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
    if subfolder:
        marker = os.path.join(path, "maildirfolder")
        if not os.path.exists(marker):
            open(marker, "wb").close()


def needs_crlf(data: bytes) -> bool:
    """A file with bare LF line ends (all or some) was written by an MDA
    or by Dovecot (which stores LF); IMAP sees it with CRLF
    (:func:`mailframe.message.to_crlf`, RFC 3501 §2.3.4 counts CRLF)."""
    return has_bare_lf(data)


def fsync_dir(path: str) -> None:
    """fsync a directory so a rename or unlink in it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_sync_pool: tuple[int, ThreadPoolExecutor] | None = None
_sync_pool_lock = threading.Lock()


def at_once(first: Callable[[], None], second: Callable[[], None]) -> None:
    """Run ``first`` in a helper thread while ``second`` runs on this one;
    return when both are done, raising the first failure.  For two
    fsyncs that must both finish and need no order between them (an
    APPEND's ``cur/`` and ``dovecot-uidlist``): issued together, ext4 commits them in
    one journal transaction instead of two in a row
    (measured on this project's VM disk: 8.9 → 3.8 ms per APPEND for the
    pair, bench/README.md "Session 8")."""
    global _sync_pool
    with _sync_pool_lock:
        pid = os.getpid()
        if _sync_pool is None or _sync_pool[0] != pid:  # none yet, or made before a fork
            _sync_pool = (pid, ThreadPoolExecutor(4, thread_name_prefix="mailframe-fsync"))
        pool = _sync_pool[1]
    future = pool.submit(first)
    try:
        second()
    finally:
        error = future.exception()
    if error is not None:
        raise error


#: Octets of a new message file written between two requests to the
#: kernel to start writing them to disk (:class:`NewFile`).
WRITEBACK_CHUNK = 4 << 20
#: Octets checked for bare LF (and written) at a time by
#: :meth:`NewFile.write_if_crlf`.
_CHECK_SLICE = 1 << 20


class NewFile:
    """A message file being written into ``tmp/``, made durable by
    :meth:`finish`.  Every :data:`WRITEBACK_CHUNK` octets it asks the
    kernel to start writing back what it wrote (``posix_fadvise``
    ``DONTNEED`` starts writeback of dirty pages on Linux), so a large
    message is mostly on disk by the time its fsync comes and the work
    done meanwhile (the bare-LF check, parsing) overlaps the disk's."""

    def __init__(self, tmp_dir: str, size: int) -> None:
        for _ in range(100):
            path = os.path.join(tmp_dir, new_base(size))
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of unique names
            raise OSError(errno.EEXIST, "cannot create a unique file in tmp/")
        self.path = path
        self._written = 0
        self._kicked = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
            self._written += n
        if self._written - self._kicked >= WRITEBACK_CHUNK and _FADVISE:
            os.posix_fadvise(
                self.fd, self._kicked, self._written - self._kicked, os.POSIX_FADV_DONTNEED
            )
            self._kicked = self._written

    def write_if_crlf(self, data: bytes) -> bool:
        """Write ``data`` a slice at a time while checking it has no bare
        LF (as :func:`mailframe.message.has_bare_lf` does); False, with
        the file incomplete, at the first slice that has one."""
        view = memoryview(data)
        for start in range(0, len(data), _CHECK_SLICE):
            end = start + _CHECK_SLICE
            lf = data.count(b"\n", start, end)
            if lf and lf != data.count(b"\r\n", max(0, start - 1), end):
                return False
            self.write(view[start:end])
        return True

    def finish(self, mtime: float | None = None) -> str:
        """fsync and close the file, give it ``mtime``; its path."""
        try:
            os.fsync(self.fd)
        except BaseException:
            self.abort()
            raise
        os.close(self.fd)
        self.fd = -1
        if mtime is not None:
            os.utime(self.path, (mtime, mtime))
        return self.path

    def abort(self) -> None:
        """Close and remove the file (nothing when already finished)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


def write_durably(tmp_dir: str, data: bytes, mtime: float | None = None) -> str:
    """Write ``data`` to a fresh file in ``tmp_dir``, fsynced, with
    ``mtime`` (the INTERNALDATE, Dovecot's convention); return its path."""
    f = NewFile(tmp_dir, len(data))
    try:
        f.write(data)
    except BaseException:
        f.abort()
        raise
    return f.finish(mtime)


def read_keywords(path: str) -> list[str]:
    """``dovecot-keywords``: lines ``<index> <keyword>``; index i is the
    letter ``chr(97 + i)``.  Holes are kept as empty strings."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    out: list[str] = []
    for line in text.splitlines():
        num, _, word = line.partition(" ")
        if not num.isdigit() or not word:
            continue
        i = int(num)
        if i >= 26:
            continue
        while len(out) <= i:
            out.append("")
        out[i] = word
    return out


def write_keywords(path: str, keywords: Sequence[str]) -> None:
    """Replace ``dovecot-keywords`` by rename (never modified in place)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for i, word in enumerate(keywords):
            if word:
                f.write(f"{i} {word}\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class LockTimeout(OSError):
    """The uidlist lock could not be taken in time."""


class LockGone(FileNotFoundError):
    """The folder of the lock no longer exists (the mailbox was deleted)."""


def _owner_dead(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except OSError:
        return False
    pid_s, _, host = head.decode("ascii", "replace").strip().partition(":")
    if not pid_s.isdigit() or host != _HOST:
        return False
    pid = int(pid_s)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


class DotLock:
    """``dovecot-uidlist.lock``: held while the uidlist, keywords or our
    index are written.  Re-entrant within one object."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._depth = 0
        self._fd = -1

    def __enter__(self) -> DotLock:
        if self._depth == 0:
            self._queue()
            try:
                self._acquire()
            except BaseException:
                self._dequeue()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            finally:
                self._dequeue()

    def _queue(self) -> None:
        """mailframe processes first queue on flock() of the folder
        directory: the kernel wakes a waiter as soon as the holder lets go,
        so a busy writer cannot starve the others as it could with polling
        alone (and a killed holder's flock goes with it).  The dotlock,
        which Dovecot also honours, is then nearly always free."""
        try:
            fd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise LockGone(errno.ENOENT, f"{os.path.dirname(self.path)} is gone") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _dequeue(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)  # releases the flock

    @property
    def held(self) -> bool:
        return self._depth > 0

    def wait_free(self) -> None:
        """Wait until no mailframe process holds the lock, without taking
        it: a shared ``flock()`` of the folder directory, granted once the
        holder's exclusive one goes, and dropped at once.  Nothing when
        this object holds the lock (an exclusive and a shared flock of one
        directory would wait for each other) or the folder is gone.  A
        Dovecot writer holds only the dotlock and is not waited for."""
        if self._depth:
            return
        try:
            fd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)  # releases the shared flock

    def _acquire(self) -> None:
        """Take the dotlock.  Our lock file carries ``pid:host`` from the
        instant it exists: it is written under ``tmp/`` and hard-linked into
        place (link() fails if the name exists, like O_EXCL), so a process
        killed at any moment never leaves an anonymous lock behind — an
        empty lock file is then someone else's (Dovecot writes the new
        uidlist into it) and is only broken after Dovecot's two minutes."""
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        folder = os.path.dirname(self.path)
        mine = os.path.join(folder, "tmp", f"lock.{os.getpid()}.{threading.get_ident()}.{_HOST}")
        try:
            fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except FileNotFoundError:
            if not os.path.isdir(folder):
                raise LockGone(errno.ENOENT, f"{folder} is gone") from None
            raise
        try:
            os.write(fd, f"{os.getpid()}:{_HOST}".encode())
        finally:
            os.close(fd)
        try:
            while True:
                try:
                    os.link(mine, self.path)
                    return
                except FileNotFoundError:
                    raise LockGone(errno.ENOENT, f"{folder} is gone") from None
                except FileExistsError:
                    pass
                if self._stale():
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                    continue
                if time.monotonic() > deadline:
                    try:
                        with open(self.path, "rb") as f:
                            owner = f.read(100).decode("ascii", "replace") or "an empty lock"
                    except OSError:
                        owner = "?"
                    raise LockTimeout(errno.EAGAIN, f"{self.path} is held by {owner}")
                time.sleep(delay)
                delay = min(delay * 2, 0.01)
        finally:
            try:
                os.unlink(mine)
            except FileNotFoundError:
                pass

    def _stale(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if time.time() - st.st_mtime > STALE_TIMEOUT:
            return True
        return _owner_dead(self.path)
