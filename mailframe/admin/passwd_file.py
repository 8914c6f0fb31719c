"""Editing a Dovecot-format passwd-file while a server reads it.

``user:{SCHEME}hash:uid:gid:gecos:home:shell:extra`` lines, ``#`` comments
and blank lines (Dovecot's passwd-file format).  An edit takes an
exclusive ``fcntl`` lock on ``<file>.lock`` (so two editors never lose each
other's change), reads the file, changes only the one user's line, writes
the result to a temporary file in the same directory, fsyncs it, and
renames it over the old one (then fsyncs the directory): a reader, such as
:class:`mailframe.auth.checkers.PasswdFileChecker` in a running server,
sees the old file or the new one, never half of one, and re-reads it when
its inode changes.  Comments, other users' lines, the file's mode and,
where permitted, its owner are kept.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mailframe.auth.credentials import normalize_username

__all__ = ["Entry", "PasswdFile", "UserExists", "NoSuchUser"]


class UserExists(ValueError):
    """The user is already in the file."""


class NoSuchUser(KeyError):
    """The user is not in the file."""


@dataclass(frozen=True)
class Entry:
    """One user line: the normalised name, the scheme of the stored
    password (``""`` when there is none) and the other fields."""

    name: str
    scheme: str
    lineno: int
    extra: tuple[str, ...]


def _scheme_of(stored: str) -> str:
    if stored.startswith("{") and "}" in stored:
        return stored[1 : stored.index("}")].upper()
    return "CRYPT" if stored else ""


class PasswdFile:
    """One passwd-file on disk."""

    def __init__(self, path: str) -> None:
        self.path = path

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the editors' lock (``<file>.lock``, fcntl, released if we die)."""
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8-sig", errors="surrogateescape") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def entries(self) -> list[Entry]:
        """The users, in file order (for a name listed twice the first
        counts, as the server has it)."""
        out: list[Entry] = []
        seen: set[str] = set()
        for lineno, line in enumerate(self._read(), 1):
            name = self._name(line)
            if name is None or name in seen:
                continue
            seen.add(name)
            fields = line.split(":")
            out.append(Entry(name, _scheme_of(fields[1] if len(fields) > 1 else ""), lineno,
                             tuple(fields[2:])))
        return out

    @staticmethod
    def _name(line: str) -> str | None:
        if not line.strip() or line.lstrip().startswith("#"):
            return None
        try:
            return normalize_username(line.split(":", 1)[0])
        except ValueError:
            return None

    def _find(self, lines: list[str], user: str) -> int | None:
        for i, line in enumerate(lines):
            if self._name(line) == user:
                return i
        return None

    def set_password(self, user: str, stored: str, *, must_exist: bool | None) -> None:
        """Set ``user``'s password field to ``stored`` (``{SCHEME}hash``),
        keeping the rest of the line.  ``must_exist``: True (change),
        False (add), None (either)."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
        with self.locked():
            lines = self._read()
            i = self._find(lines, user)
            if i is None:
                if must_exist:
                    raise NoSuchUser(user)
                lines.append(f"{user}:{stored}")
            else:
                if must_exist is False:
                    raise UserExists(user)
                fields = lines[i].split(":")
                fields[1:2] = [stored]
                lines[i] = ":".join(fields)
            self._replace(lines)

    def delete(self, user: str) -> None:
        """Remove ``user``'s line(s); NoSuchUser if absent."""
        if not os.path.exists(self.path):
            raise NoSuchUser(user)
        with self.locked():
            lines = self._read()
            keep = [line for line in lines if self._name(line) != user]
            if len(keep) == len(lines):
                raise NoSuchUser(user)
            self._replace(keep)

    def _replace(self, lines: list[str]) -> None:
        """Write ``lines`` to a temporary file, fsync, rename over the file,
        fsync the directory."""
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        fd, tmp = tempfile.mkstemp(prefix=".users-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write("".join(line + "\n" for line in lines))
                f.flush()
                os.fchmod(f.fileno(), st.st_mode & 0o7777 if st else 0o600)
                if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(f.fileno(), st.st_uid, st.st_gid)
                    except PermissionError:
                        pass
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
