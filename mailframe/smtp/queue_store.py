"""The outbound queue on disk: one entry per (message, recipient domain).

Layout under the queue directory (blocking file code: callers run it in a
thread, never on the reactor):

- ``ID.eml`` — the message as it will be sent (CRLF lines);
- ``ID.json`` — the envelope and the delivery state (:class:`Entry`).

An entry exists once its ``.json`` exists.  Every file is written to a
temporary name, fsync'ed, renamed into place, and the directory fsync'ed,
so an entry the submission server acknowledged with 250 (RFC 5321 §6.1:
"the receiver MUST NOT lose the message") survives a crash.  An ``.eml``
without its ``.json`` is what a crash during enqueue left behind: never
acknowledged, removed at load.

An entry that has been delivered is first rewritten with ``state:
"done"`` (durably) and only then removed, so a crash between the two can
never send it a second time.  The ``mailframe queue`` tool reads and edits
the same files; a ``flush`` marker file asks the running server to retry
everything now.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Entry", "QueueStore", "Failure", "FLUSH_MARKER"]

FLUSH_MARKER = "flush"
#: Raised by a --workers worker that queued mail: the primary loads it.
NEW_MARKER = "new"


@dataclass
class Failure:
    """A recipient given up on: RFC 3463 status, the remote reply, and
    the host that gave it (for the DSN's Remote-MTA, RFC 3464 §2.3.5)."""

    recipient: str
    status: str
    diagnostic: str
    remote: str = ""


@dataclass
class Entry:
    """One queued message for the recipients of one domain."""

    id: str
    sender: str  # the envelope sender, "" for the null path <>
    domain: str
    recipients: list[str]  # still to deliver
    owner: str | None = None  # the submitting user: bounces go to their INBOX
    created: float = field(default_factory=time.time)
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    state: str = "queued"  # "queued" | "done"
    delivered: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    smtputf8: bool = False
    size: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Entry:
        raw: dict[str, Any] = json.loads(data)
        raw["failed"] = [Failure(**f) for f in raw.get("failed", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


def new_id() -> str:
    """A sortable, unique entry id: time then randomness."""
    return f"{int(time.time() * 1000):013x}{secrets.token_hex(5)}"


class QueueStore:
    """Blocking file operations on one queue directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, entry_id: str, ext: str) -> str:
        if not entry_id or "/" in entry_id or entry_id.startswith("."):
            raise ValueError(f"bad queue id {entry_id!r}")
        return os.path.join(self.directory, entry_id + ext)

    def ensure(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)

    def _write(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def add(self, entries: Iterable[Entry], content: bytes) -> None:
        """Write new entries (each with its own copy of ``content``) and
        make them durable before returning."""
        self.ensure()
        for entry in entries:
            self._write(self._path(entry.id, ".eml"), content)
            self._write(self._path(entry.id, ".json"), entry.to_json())
        self._sync_dir()

    def save(self, entry: Entry) -> bool:
        """Durably rewrite an entry's state; False when it was deleted
        meanwhile (by ``mailframe queue delete``)."""
        path = self._path(entry.id, ".json")
        if not os.path.exists(path):
            return False
        self._write(path, entry.to_json())
        self._sync_dir()
        return True

    def finish(self, entry: Entry) -> None:
        """Mark ``entry`` done durably, then remove its files."""
        entry.state = "done"
        self.save(entry)
        self.remove(entry.id)

    def remove(self, entry_id: str) -> bool:
        """Delete an entry (its .json first: without it the entry is gone)."""
        found = False
        for ext in (".json", ".eml"):
            try:
                os.unlink(self._path(entry_id, ext))
                found = True
            except FileNotFoundError:
                pass
        return found

    def read(self, entry_id: str) -> Entry | None:
        try:
            with open(self._path(entry_id, ".json"), "rb") as f:
                return Entry.from_json(f.read())
        except FileNotFoundError:
            return None

    def content(self, entry_id: str) -> bytes | None:
        """The message, or None when the entry was deleted."""
        if not os.path.exists(self._path(entry_id, ".json")):
            return None
        try:
            with open(self._path(entry_id, ".eml"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def load(self, cleanup: bool = False, orphan_age: float = 0.0) -> list[Entry]:
        """Every live entry, oldest first.  With ``cleanup`` (only when no
        one else writes: at server start) also remove what a crash left:
        entries marked done, messages without envelope, temporary files;
        with ``orphan_age``, only files older than that many seconds (under
        --workers another process may be writing one right now)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        entries: list[Entry] = []
        ids = {n[:-5] for n in names if n.endswith(".json")}
        for name in names if cleanup else ():
            path = os.path.join(self.directory, name)
            if ".tmp" in name or (name.endswith(".eml") and name[:-4] not in ids):
                if orphan_age <= 0 or _age(path) > orphan_age:  # else another process's write?
                    _unlink(path)
        for entry_id in sorted(ids):
            entry = self.read(entry_id)
            if entry is None:
                continue
            if entry.state == "done" or not (entry.recipients or entry.failed):
                if cleanup:
                    self.remove(entry_id)
                continue
            entries.append(entry)
        return entries

    # -- the flush marker (mailframe queue flush) ----------------------------

    def request_flush(self) -> None:
        self.ensure()
        with open(os.path.join(self.directory, FLUSH_MARKER), "wb"):
            pass

    def request_load(self) -> None:
        """Tell the process that delivers (the primary of --workers) that
        new entries were written."""
        self.ensure()
        with open(os.path.join(self.directory, NEW_MARKER), "wb"):
            pass

    def take_load(self) -> bool:
        """Whether another process wrote new entries (and forget it)."""
        try:
            os.unlink(os.path.join(self.directory, NEW_MARKER))
            return True
        except FileNotFoundError:
            return False

    def take_flush(self) -> bool:
        """Whether a flush was asked for (and forget the request)."""
        try:
            os.unlink(os.path.join(self.directory, FLUSH_MARKER))
            return True
        except FileNotFoundError:
            return False


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
