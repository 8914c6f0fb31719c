"""METADATA and METADATA-SERVER (RFC 5464) for the stores we ship:
:class:`MetadataStore` wraps an :class:`mailframe.interfaces.IMailStore`
so that its accounts provide :class:`mailframe.interfaces.IMetadataAccount`.

Where the entries live:

- memory store: a dict per user, kept by the wrapper (gone with the
  process, like the mail);
- Maildir: one file per user at the Maildir root, ``mailframe-metadata``
  (as Dovecot keeps one ``dovecot-attributes`` file per user);
- mbox: the same file in the store's ``.mailframe`` index directory;
- SQL: a table of its own in the same database
  (:mod:`mailframe.store._metadata_sql`).

The file is JSON (``{"mailbox": {"/private/comment": "base64"}}``, the
server's entries under ``""``), replaced atomically (written beside,
renamed over) under an ``flock`` so that ``--workers`` processes and
concurrent sessions never lose each other's changes; it is read and
written in a thread.  Server entries (mailbox ``""``) belong to the user,
as in Dovecot.  Entries follow their mailbox through RENAME (those of
INBOX are copied, INBOX keeps its own) and go with it on DELETE
(RFC 5464 §4.1).  The limits (RFC 5464 §4.3: ``[METADATA MAXSIZE n]``,
``[METADATA TOOMANY]``) are checked under the same lock as the write.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet import defer, threads

from mailframe.errors import CannotDo, CommandFailed, NonexistentMailbox
from mailframe.interfaces import IMetadataAccount
from mailframe.store._names import INBOX, is_inferior, normalize_name, rename_inferior
from mailframe.store.layer import AccountLayer, StoreLayer

__all__ = [
    "MetadataLimits",
    "MetadataStore",
    "MetadataAccount",
    "DictMetadata",
    "FileMetadata",
    "apply_changes",
    "with_metadata",
]

Entries = dict[str, bytes]

#: Server entries clients cannot change (RFC 5464 §3.2.1.1).
READ_ONLY_SERVER_ENTRIES = frozenset({"/shared/admin"})
Table = dict[str, Entries]


@dataclass(frozen=True)
class MetadataLimits:
    """RFC 5464 §4.1: a server must take values of at least 1024 octets
    and at least 10 entries per mailbox (and for the server)."""

    max_size: int = 64 * 1024  #: octets of one value
    max_entries: int = 100  #: entries on one mailbox, or on the server


def apply_changes(
    current: Entries, changes: Mapping[str, bytes | None], limits: MetadataLimits
) -> Entries:
    """``current`` with ``changes`` applied (None removes), or a
    CommandFailed with RFC 5464 §4.3's code; all or none."""
    for value in changes.values():
        if value is not None and len(value) > limits.max_size:
            raise CommandFailed(
                "Metadata entry value too large", code=f"METADATA MAXSIZE {limits.max_size}"
            )
    out = dict(current)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = bytes(value)
    if len(out) > max(limits.max_entries, len(current)):
        raise CommandFailed("Too many metadata entries", code="METADATA TOOMANY")
    return out


class MetadataBackend(Protocol):
    """Where one user's entries live (synchronous: run in a thread when it
    touches disk)."""

    def load(self, mailbox: str) -> Entries: ...

    def update(self, mailbox: str, change: Callable[[Entries], Entries]) -> None: ...

    def rename(self, old: str, new: str) -> None: ...

    def drop(self, mailbox: str) -> None: ...


def _renamed(table: Table, old: str, new: str) -> Table:
    """RENAME: ``old`` and its inferiors move; INBOX's are copied (and its
    inferiors stay), RFC 5464 §4.1."""
    out = dict(table)
    if old == INBOX:
        if table.get(INBOX):
            out[new] = dict(table[INBOX])
        return out
    for name in list(table):
        if name == old or is_inferior(name, old):
            out[rename_inferior(name, old, new)] = out.pop(name)
    return out


class DictMetadata:
    """Entries in memory (the memory store's)."""

    def __init__(self) -> None:
        self.table: Table = {}

    def load(self, mailbox: str) -> Entries:
        return dict(self.table.get(mailbox, {}))

    def update(self, mailbox: str, change: Callable[[Entries], Entries]) -> None:
        new = change(self.load(mailbox))
        if new:
            self.table[mailbox] = new
        else:
            self.table.pop(mailbox, None)

    def rename(self, old: str, new: str) -> None:
        self.table = _renamed(self.table, old, new)

    def drop(self, mailbox: str) -> None:
        self.table.pop(mailbox, None)


class FileMetadata:
    """Entries in one JSON file per user, replaced atomically under an
    exclusive ``flock`` of ``<path>.lock``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _read(self) -> Table:
        try:
            with open(self.path, encoding="utf-8") as f:
                raw = json.load(f)
        except FileNotFoundError:
            return {}
        return {
            box: {name: base64.b64decode(value) for name, value in entries.items()}
            for box, entries in raw.items()
        }

    def _write(self, table: Table) -> None:
        raw = {
            box: {name: base64.b64encode(value).decode("ascii") for name, value in entries.items()}
            for box, entries in sorted(table.items())
            if entries
        }
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(raw, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _locked(self, fn: Callable[[Table], Table]) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            before = self._read()
            after = fn(before)
            if after != before:
                self._write(after)
        finally:
            os.close(fd)

    def load(self, mailbox: str) -> Entries:
        return self._read().get(mailbox, {})

    def load_all(self) -> Table:
        """Every mailbox's entries ("" the server's) in one read."""
        return self._read()

    def update(self, mailbox: str, change: Callable[[Entries], Entries]) -> None:
        def fn(table: Table) -> Table:
            return {**table, mailbox: change(table.get(mailbox, {}))}

        self._locked(fn)

    def rename(self, old: str, new: str) -> None:
        self._locked(lambda table: _renamed(table, old, new))

    def drop(self, mailbox: str) -> None:
        self._locked(lambda table: {k: v for k, v in table.items() if k != mailbox})


def _in_thread(backend: Any, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    if isinstance(backend, DictMetadata) or getattr(backend, "asynchronous", False):
        return defer.maybeDeferred(fn, *args)
    d: defer.Deferred[Any] = threads.deferToThread(fn, *args)
    return d


class MetadataAccount(AccountLayer):
    """An account of the wrapped store with IMetadataAccount added; RENAME
    and DELETE also move or drop the entries.  Every other attribute is
    the wrapped account's."""

    def __init__(self, inner: Any, backend: Any, limits: MetadataLimits) -> None:
        """``backend``: a :class:`MetadataBackend`, or one whose methods
        return Deferreds (``asynchronous = True``, the SQL one)."""
        super().__init__(inner, IMetadataAccount)
        self._backend = backend
        self.metadata_limits = limits

    async def _existing(self, mailbox: str) -> str:
        """The normalised name of an existing mailbox (``\\Noselect`` ones
        too, RFC 5464 §4.1), "" for the server."""
        if mailbox == "":
            return ""
        try:
            name = normalize_name(mailbox)
        except Exception as e:
            raise NonexistentMailbox("Mailbox doesn't exist") from e
        if name != INBOX and name not in {e.name for e in await self._inner.list_mailboxes()}:
            raise NonexistentMailbox(f"Mailbox doesn't exist: {mailbox}")
        return name

    def get_metadata(self, mailbox: str) -> defer.Deferred[Entries]:
        """IMetadataAccount: every entry of ``mailbox`` ("" the server)."""

        async def run() -> Entries:
            name = await self._existing(mailbox)
            entries: Entries = await _in_thread(self._backend, self._backend.load, name)
            return entries

        return defer.Deferred.fromCoroutine(run())

    def set_metadata(
        self, mailbox: str, changes: Mapping[str, bytes | None]
    ) -> defer.Deferred[None]:
        """IMetadataAccount: all of ``changes`` or none."""

        async def run() -> None:
            name = await self._existing(mailbox)
            wanted = dict(changes)
            if name == "" and READ_ONLY_SERVER_ENTRIES & set(wanted):
                raise CannotDo("The /shared/admin entry cannot be changed")
            await _in_thread(
                self._backend,
                self._backend.update,
                name,
                lambda current: apply_changes(current, wanted, self.metadata_limits),
            )

        return defer.Deferred.fromCoroutine(run())

    def metadata_snapshot(self) -> defer.Deferred[Table | None]:
        """Every entry of every mailbox in one read, where the backend
        can (the file one: NOTIFY compares two to tell metadata changes
        made by other processes, RFC 5465 §5.6, §5.7); else None."""
        load_all = getattr(self._backend, "load_all", None)
        if load_all is None:
            return defer.succeed(None)
        d: defer.Deferred[Table | None] = _in_thread(self._backend, load_all)
        return d

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        """DELETE, then its entries go (RFC 5464 §4.1)."""

        async def run() -> None:
            await self._inner.delete_mailbox(name)
            await _in_thread(self._backend, self._backend.drop, normalize_name(name))

        return defer.Deferred.fromCoroutine(run())

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        """RENAME, the entries along (INBOX's copied), RFC 5464 §4.1."""

        async def run() -> None:
            await self._inner.rename_mailbox(old, new)
            await _in_thread(
                self._backend, self._backend.rename, normalize_name(old), normalize_name(new)
            )

        return defer.Deferred.fromCoroutine(run())


def _backend_for(account: Any, memory: dict[str, DictMetadata]) -> Any:
    from mailframe.store.maildir import MaildirAccount
    from mailframe.store.mbox import MboxAccount
    from mailframe.store.memory import MemoryAccount

    if isinstance(account, MaildirAccount):
        return FileMetadata(os.path.join(account.root, "mailframe-metadata"))
    if isinstance(account, MboxAccount):
        return FileMetadata(os.path.join(account.root, ".mailframe", "metadata.json"))
    if isinstance(account, MemoryAccount):
        return memory.setdefault(account.username, DictMetadata())
    from mailframe.store.sql.store import SqlAccount

    if isinstance(account, SqlAccount):
        from mailframe.store._metadata_sql import SqlMetadata

        return SqlMetadata(account.store.db, account.id)
    return None


class MetadataStore(StoreLayer):
    """``store`` with METADATA where its accounts can keep entries (see the
    module docstring); other accounts are handed out as they are, so the
    capability is not advertised for them."""

    def __init__(self, store: Any, limits: MetadataLimits | None = None) -> None:
        super().__init__(store)
        self.limits = limits or MetadataLimits()
        self._memory: dict[str, DictMetadata] = {}

    def layer_account(self, username: str, inner: Any) -> MetadataAccount | None:
        backend = _backend_for(inner, self._memory)
        if backend is None:
            return None
        return MetadataAccount(inner, backend, self.limits)


def with_metadata(store: Any, limits: MetadataLimits | None = None) -> MetadataStore:
    """``store`` wrapped in a :class:`MetadataStore`."""
    return MetadataStore(store, limits)
