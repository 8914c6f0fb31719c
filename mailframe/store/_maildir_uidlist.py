"""``dovecot-uidlist``: the UID ⇄ file name map, in Dovecot's format v3.

Format (Dovecot's maildir-uidlist.c, documented in Dovecot's Maildir
page)::

    3 V<uidvalidity> N<nextuid> G<guid hex> [other fields]
    <uid> [<key><value> ...] :<last known file name>

Records are in ascending UID order.  The file is read without a lock;
writers hold ``dovecot-uidlist.lock`` and either append whole lines at the
end or replace the file with ``rename()``.  A last line without its
newline is a write in progress (or torn by a crash) and is ignored; the
next writer cuts it off before appending.  The next UID is the larger of
the header's ``N`` and the last record's UID + 1, as appends leave the
header alone.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

from mailframe.store._maildir_files import at_once, base_of
from mailframe.store._maildir_held import HeldFile

__all__ = ["UidList", "CorruptUidList", "reserve_uidvalidity"]


class CorruptUidList(ValueError):
    """The file cannot be parsed; it is rebuilt from the directory."""


_last_validity = 0
#: folders' workers create mailboxes at once (threads of one process)
_validity_lock = threading.Lock()


def new_uidvalidity() -> int:
    """Seconds since the epoch, as Dovecot does, but never the same value
    twice in one process (a mailbox deleted and recreated within a second
    must not keep its UIDVALIDITY, RFC 3501 §2.3.1.1)."""
    global _last_validity
    v = max(int(time.time()), _last_validity + 1) & 0xFFFFFFFF
    _last_validity = v
    return v


def reserve_uidvalidity(root: str) -> int:
    """A UIDVALIDITY never used before under this Maildir root, shared with
    Dovecot the way Dovecot does it: ``dovecot-uidvalidity`` holds the last
    value (hex) and ``dovecot-uidvalidity.<hex>``, created with O_EXCL,
    reserves it, so two processes creating mailboxes at once (or a mailbox
    deleted and recreated within a second) never get the same value
    (RFC 3501 §2.3.1.1)."""
    with _validity_lock:
        return _reserve_uidvalidity(root)


def _reserve_uidvalidity(root: str) -> int:
    path = os.path.join(root, "dovecot-uidvalidity")
    try:
        with open(path, encoding="ascii") as f:
            last = int(f.read().strip() or "0", 16)
    except (OSError, ValueError):
        last = 0
    value = max(new_uidvalidity(), last + 1) & 0xFFFFFFFF or 1
    for _ in range(1000):
        marker = f"{path}.{value:08x}"
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))
            break
        except FileExistsError:
            value = (value + 1) & 0xFFFFFFFF or 1
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{value:08x}")
    os.rename(tmp, path)
    if last and last != value:
        try:
            os.unlink(f"{path}.{last:08x}")
        except OSError:
            pass
    return value


class UidList:
    """In-memory view of one ``dovecot-uidlist``, refreshed incrementally.

    The file last read is kept open (:class:`HeldFile`): appends to it are
    read from where the last read stopped, and a replacement (a new inode
    at the path, which holding the old one open guarantees) is read from
    its start."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.uidvalidity = 0
        self.header_next = 1
        self.guid = ""
        self.extra_header: list[str] = []
        self.by_base: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.last_uid = 0
        self._file = HeldFile(path)
        self._offset = 0  # bytes of complete lines consumed

    @property
    def next_uid(self) -> int:
        return max(self.header_next, self.last_uid + 1)

    @property
    def exists(self) -> bool:
        return self._file.held

    def refresh(self) -> bool:
        """Catch up with the file; True when anything changed.  Raises
        :class:`CorruptUidList`."""
        st = self._file.stat()
        if st is None:
            changed = self._file.held
            self._reset()
            return changed
        if not self._file.same(st) or st.st_size < self._offset:
            self._reset()
            if self._file.reopen() is None:
                return False
            return self._read(full=True)
        if st.st_size == self._offset:
            return False
        return self._read(full=False)

    def close(self) -> None:
        """Let the held file go (the next refresh reads it whole)."""
        self._reset()

    def _reset(self) -> None:
        self.uidvalidity = 0
        self.header_next = 1
        self.guid = ""
        self.extra_header = []
        self.by_base = {}
        self.names = {}
        self.last_uid = 0
        self._file.close()
        self._offset = 0

    def _read(self, full: bool) -> bool:
        full = full or self._offset == 0  # the header line not read yet
        data = self._file.read_from(self._offset)
        end = data.rfind(b"\n") + 1
        if end == 0:
            return False
        lines = data[:end].decode("utf-8", "surrogateescape").split("\n")[:-1]
        if full:
            self._parse_header(lines[0])
            lines = lines[1:]
        last = self.last_uid
        by_base, names = self.by_base, self.names
        for line in lines:
            head, sep, fname = line.partition(" :")
            if not sep:
                # version-1 style "<uid> <filename>"
                head, _, fname = line.partition(" ")
            uid_s = head.split(" ", 1)[0]
            if not uid_s.isdigit() or not fname:
                raise CorruptUidList(f"bad uidlist line {line!r}")
            uid = int(uid_s)
            if uid <= last:
                raise CorruptUidList("uidlist UIDs not ascending")
            last = uid
            by_base[base_of(fname)] = uid
            names[uid] = fname
        self.last_uid = last
        self._offset += end
        return True

    def _parse_header(self, line: str) -> None:
        fields = line.split()
        if not fields or fields[0] not in ("1", "3"):
            raise CorruptUidList("unknown uidlist version")
        if fields[0] == "1":
            if len(fields) < 3 or not (fields[1].isdigit() and fields[2].isdigit()):
                raise CorruptUidList("bad v1 header")
            self.uidvalidity, self.header_next = int(fields[1]), int(fields[2])
            return
        for field in fields[1:]:
            key, value = field[:1], field[1:]
            if key == "V" and value.isdigit():
                self.uidvalidity = int(value)
            elif key == "N" and value.isdigit():
                self.header_next = int(value)
            elif key == "G":
                self.guid = value
            else:
                self.extra_header.append(field)
        if not self.uidvalidity:
            raise CorruptUidList("uidlist without uidvalidity")

    def peek_uidvalidity(self) -> int:
        """UIDVALIDITY from the header line alone (0 when missing or
        unreadable): enough to open a folder without parsing every record,
        and to notice a uidlist replaced under us."""
        try:
            with open(self.path, "rb") as f:
                head = f.readline(4096).decode("ascii", "replace")
        except OSError:
            return 0
        probe = UidList(self.path)
        try:
            probe._parse_header(head)
        except CorruptUidList:
            return 0
        return probe.uidvalidity

    # -- writing (caller holds the dotlock) ------------------------------

    def create(self, uidvalidity: int | None = None) -> None:
        """Write a fresh, empty uidlist."""
        self._reset()
        self.uidvalidity = uidvalidity or new_uidvalidity()
        self.guid = uuid.uuid4().hex
        self.rewrite({})

    def append(
        self, records: list[tuple[int, str]], beside: Callable[[], None] | None = None
    ) -> None:
        """Append ``(uid, file name)`` records (ascending, above
        :attr:`last_uid`), fsynced.  ``beside`` (an APPEND's fsync of
        ``cur/``) runs at the same time as the fdatasync, in another
        thread (:func:`mailframe.store._maildir_files.at_once`): both must
        be on disk before the APPEND is acknowledged, and neither needs
        the other first, so the file system may commit them together."""
        if not records:
            if beside is not None:
                beside()
            return
        text = "".join(f"{uid} :{name}\n" for uid, name in records)
        fd = self._file.writable()
        if fd is None:
            raise CorruptUidList("the uidlist was replaced under its lock")
        try:
            size = os.fstat(fd).st_size
            if size > self._offset:
                # a torn line left by a crashed writer
                os.ftruncate(fd, self._offset)
            os.lseek(fd, self._offset, os.SEEK_SET)
            data = text.encode("utf-8", "surrogateescape")
            os.write(fd, data)
            if beside is None:
                os.fdatasync(fd)
            else:
                at_once(beside, lambda: os.fdatasync(fd))
        finally:
            os.close(fd)
        self._offset += len(data)
        for uid, name in records:
            self.by_base[base_of(name)] = uid
            self.names[uid] = name
            self.last_uid = uid

    def rewrite(self, live: dict[int, str]) -> None:
        """Replace the file by rename with just the ``live`` records (uid →
        current file name), keeping UIDVALIDITY and the next UID."""
        nxt = self.next_uid
        header = [f"3 V{self.uidvalidity} N{nxt}"]
        if self.guid:
            header.append(f"G{self.guid}")
        header.extend(self.extra_header)
        lines = [" ".join(header) + "\n"]
        lines.extend(f"{uid} :{live[uid]}\n" for uid in sorted(live))
        data = "".join(lines).encode("utf-8", "surrogateescape")
        self._file.replace(data)
        self._offset = len(data)
        self.header_next = nxt
        self.by_base = {base_of(n): u for u, n in live.items()}
        self.names = dict(live)
        self.last_uid = max(live) if live else 0
