"""The in-memory backend: every IMailStore method, nothing on disk.

For tests, trials (``twistd -n mailframe --store memory``) and as the
reference the conformance suite (:mod:`mailframe.testing`) is written
against.  The bookkeeping lives in :class:`mailframe.store._log.MailboxLog`;
this module adds the message bytes, the parsed structure (computed once, at
APPEND, by :func:`mailframe.message.parse`) and the account's mailbox tree
with the CREATE / DELETE / RENAME rules of RFC 3501 §6.3.3-6.3.5.

Every method returns a Deferred (already fired: nothing here waits).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from twisted.internet import defer
from zope.interface import implementer

from mailframe.errors import (
    CannotDo,
    ExpungeIssued,
    MailboxExists,
    MailboxHasChildren,
    NonexistentMailbox,
    TryCreate,
)
from mailframe.interfaces import IAccount, IMailbox, IMailStore
from mailframe.records import (
    Changes,
    MailboxEntry,
    MailboxStatus,
    MessageRecord,
    Snapshot,
    StoreResult,
)
from mailframe.store._log import MailboxLog, new_uidvalidity
from mailframe.store._names import (
    INBOX,
    is_inferior,
    normalize_name,
    parents_of,
    rename_inferior,
)

if TYPE_CHECKING:
    from mailframe.message import MessageInfo

__all__ = ["MemoryStore", "MemoryAccount", "MemoryMailbox", "from_url", "SPECIAL_USE"]

#: The special-use attributes of RFC 6154 §2.
SPECIAL_USE = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)

NOSELECT = "\\Noselect"

T = TypeVar("T")


def _deferred(fn: Callable[..., T]) -> Callable[..., defer.Deferred[T]]:
    """Run ``fn`` now; its result or exception as a fired Deferred."""

    def wrapper(*args: Any, **kwargs: Any) -> defer.Deferred[T]:
        try:
            return defer.succeed(fn(*args, **kwargs))
        except Exception:
            return defer.fail()

    wrapper.__name__ = fn.__name__
    wrapper.__qualname__ = fn.__qualname__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _parse(content: bytes) -> MessageInfo:
    from mailframe.message import parse

    return parse(content)


def to_crlf(content: bytes) -> bytes:
    from mailframe.message import to_crlf as convert

    return convert(content)


@dataclass(frozen=True)
class _Stored:
    """One message's bytes and what was computed when it arrived."""

    content: bytes
    internaldate: datetime
    info: MessageInfo
    saved: datetime  # SAVEDATE (RFC 8514): when it entered this mailbox


@implementer(IMailbox)
class MemoryMailbox:
    """One mailbox: a :class:`MailboxLog` plus the messages' bytes.

    A mailbox object outlives RENAME (it takes the new name) and DELETE:
    after DELETE its messages are expunged (so selected sessions hear of
    it) and APPEND/COPY into it fail with TryCreate.
    """

    def __init__(self, account: MemoryAccount, name: str, uidvalidity: int) -> None:
        self.account = account
        self.name = name
        self.log = MailboxLog(uidvalidity)
        self.special_use: frozenset[str] = frozenset()
        self.deleted = False
        self._messages: dict[int, _Stored] = {}

    @property
    def uidvalidity(self) -> int:
        return self.log.uidvalidity

    def __repr__(self) -> str:
        return f"<MemoryMailbox {self.account.username}:{self.name} uidvalidity={self.uidvalidity}>"

    # ------------------------------------------------------------------ reads

    @_deferred
    def status(self) -> MailboxStatus:
        """RFC 3501 §6.3.10 counters, O(log n)."""
        return self.log.status()

    @_deferred
    def snapshot(self) -> Snapshot:
        return self.log.snapshot()

    @_deferred
    def changes_since(self, modseq: int) -> Changes:
        return self.log.changes_since(modseq)

    @_deferred
    def records(self, uids: Iterable[int]) -> list[MessageRecord]:
        """Records of those ``uids`` that still exist, in UID order."""
        out = []
        for state in self.log.states(uids):
            stored = self._messages[state.uid]
            out.append(
                MessageRecord(
                    uid=state.uid,
                    flags=state.flags,
                    modseq=state.modseq,
                    size=len(stored.content),
                    internaldate=stored.internaldate,
                    info=stored.info,
                    savedate=stored.saved,
                )
            )
        return out

    @_deferred
    def open(self, uid: int) -> BinaryIO:
        """The exact appended bytes; ExpungeIssued if ``uid`` is gone."""
        stored = self._messages.get(uid)
        if stored is None:
            raise ExpungeIssued(f"message UID {uid} no longer exists")
        return io.BytesIO(stored.content)

    # ----------------------------------------------------------------- writes

    def _check_alive(self) -> None:
        if self.deleted:
            raise TryCreate(f"mailbox {self.name!r} has been deleted")

    def _append_now(
        self, content: bytes, flags: Iterable[str], internaldate: datetime | None, info: Any
    ) -> int:
        self._check_alive()
        content = bytes(content)
        crlf = to_crlf(content)  # bare LF is stored as CRLF, as Dovecot saves it
        if crlf is not content:
            content, info = crlf, None
        if internaldate is None:
            internaldate = datetime.now(UTC).replace(microsecond=0)
        elif internaldate.tzinfo is None:  # INTERNALDATE always has a zone (RFC 3501 §2.3.3)
            internaldate = internaldate.replace(tzinfo=UTC)
        if info is None:
            info = _parse(content)
        uid = self.log.uidnext
        # Store the bytes before the log announces the UID to watchers.
        saved = datetime.now(UTC).replace(microsecond=0)
        self._messages[uid] = _Stored(content, internaldate, info, saved)
        try:
            state = self.log.append(frozenset(flags), len(content))
        except BaseException:
            del self._messages[uid]
            raise
        return state.uid

    @_deferred
    def append(
        self,
        content: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: datetime | None = None,
    ) -> int:
        """APPEND (RFC 3501 §6.3.11): parse once, keep bytes and record.
        ``internaldate`` defaults to now (UTC)."""
        return self._append_now(content, flags, internaldate, None)

    @_deferred
    def append_many(
        self, items: Iterable[tuple[bytes, frozenset[str], datetime | None]]
    ) -> list[int]:
        """MULTIAPPEND (RFC 3502): all stored in one log batch (watchers
        hear once, after the last), or none: a failure part-way removes the
        ones already stored inside the same batch."""
        self._check_alive()
        batch = [(bytes(c), frozenset(f), d) for c, f, d in items]
        uids: list[int] = []
        with self.log.batch():
            try:
                for content, flags, when in batch:
                    uids.append(self._append_now(content, flags, when, None))
            except BaseException:
                self._expunge_now(uids)
                raise
        return uids

    @_deferred
    def store(
        self,
        uids: Iterable[int],
        mode: str,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> StoreResult:
        """STORE; see :meth:`MailboxLog.store` for the exact semantics."""
        return self.log.store(uids, mode, frozenset(flags), unchangedsince)

    def _expunge_now(self, uids: Iterable[int]) -> list[int]:
        gone = self.log.expunge(uids)
        for uid in gone:
            del self._messages[uid]
        return gone

    @_deferred
    def expunge(self, uids: Iterable[int] | None = None) -> list[int]:
        """EXPUNGE / UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1)."""
        return self._expunge_now(self.log.deleted_uids(uids))

    def _copy_now(self, uids: Iterable[int], destination: MemoryMailbox) -> list[tuple[int, int]]:
        destination._check_alive()
        pairs = []
        with destination.log.batch():
            for state in self.log.states(uids):
                stored = self._messages[state.uid]
                new = destination._append_now(
                    stored.content, state.flags, stored.internaldate, stored.info
                )
                pairs.append((state.uid, new))
        return pairs

    def copy(self, uids: Iterable[int], destination: Any) -> defer.Deferred[list[tuple[int, int]]]:
        """COPY (RFC 3501 §6.4.7): flags and internal date kept, new UIDs in
        the destination, (source, new) pairs for COPYUID (RFC 4315 §3)."""
        if isinstance(destination, MemoryMailbox):
            return _deferred(self._copy_now)(list(uids), destination)
        return defer.Deferred.fromCoroutine(self._copy_foreign(list(uids), destination))

    async def _copy_foreign(self, uids: list[int], destination: Any) -> list[tuple[int, int]]:
        """Copy into another backend's mailbox through its interface."""
        pairs = []
        for state in self.log.states(uids):
            stored = self._messages.get(state.uid)
            if stored is None:
                continue
            new = await destination.append(stored.content, state.flags, stored.internaldate)
            pairs.append((state.uid, new))
        return pairs

    def move(self, uids: Iterable[int], destination: Any) -> defer.Deferred[list[tuple[int, int]]]:
        """MOVE (RFC 6851 §3.1): copy, then expunge the sources (whatever
        their flags), as one step."""
        uids = list(uids)
        if isinstance(destination, MemoryMailbox):

            def both() -> list[tuple[int, int]]:
                pairs = self._copy_now(uids, destination)
                self._expunge_now([src for src, _ in pairs])
                return pairs

            return _deferred(both)()

        async def foreign() -> list[tuple[int, int]]:
            pairs = await self._copy_foreign(uids, destination)
            self._expunge_now([src for src, _ in pairs])
            return pairs

        return defer.Deferred.fromCoroutine(foreign())

    @_deferred
    def claim_recent(self) -> tuple[int, int]:
        """RFC 3501 §2.3.2; see :meth:`MailboxLog.claim_recent`."""
        return self.log.claim_recent()

    @_deferred
    def peek_recent(self) -> tuple[int, int]:
        """What :meth:`claim_recent` would give, unclaimed (for EXAMINE)."""
        return self.log.peek_recent()

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Synchronous hints after each change; returns the unregister."""
        return self.log.watch(callback)


@implementer(IAccount)
class MemoryAccount:
    """One user's mailbox tree.  INBOX always exists."""

    def __init__(self, store: MemoryStore, username: str) -> None:
        self.store = store
        self.username = username
        self._mailboxes: dict[str, MemoryMailbox] = {}
        #: names kept only as \Noselect parents (RFC 3501 §6.3.4).
        self._noselect: set[str] = set()
        self._subscriptions: set[str] = set()
        self._new_mailbox(INBOX)

    def __repr__(self) -> str:
        return f"<MemoryAccount {self.username}>"

    def _new_mailbox(self, name: str, special_use: frozenset[str] = frozenset()) -> MemoryMailbox:
        box = MemoryMailbox(self, name, self.store.next_uidvalidity())
        box.special_use = special_use
        self._mailboxes[name] = box
        self._noselect.discard(name)
        return box

    def _exists(self, name: str) -> bool:
        return name in self._mailboxes or name in self._noselect

    def _children(self, name: str) -> list[str]:
        return sorted(n for n in (*self._mailboxes, *self._noselect) if is_inferior(n, name))

    @_deferred
    def list_mailboxes(self) -> list[MailboxEntry]:
        """Every mailbox, sorted by name; placeholders carry \\Noselect,
        others their special-use attributes (RFC 6154)."""
        entries = [MailboxEntry(n, b.special_use) for n, b in self._mailboxes.items()]
        entries += [MailboxEntry(n, frozenset({NOSELECT})) for n in self._noselect]
        return sorted(entries, key=lambda e: e.name)

    @_deferred
    def mailbox(self, name: str) -> MemoryMailbox:
        name = normalize_name(name)
        box = self._mailboxes.get(name)
        if box is None:
            if name in self._noselect:
                raise NonexistentMailbox(f"mailbox {name!r} is \\Noselect")
            raise NonexistentMailbox(f"no mailbox {name!r}")
        return box

    @_deferred
    def create_mailbox(self, name: str, special_use: frozenset[str] = frozenset()) -> None:
        """CREATE (RFC 3501 §6.3.3) with missing parents; a \\Noselect
        placeholder becomes a real mailbox with a new UIDVALIDITY.
        ``special_use`` per RFC 6154 §3 (CREATE-SPECIAL-USE); an unknown
        attribute fails with [USEATTR]."""
        name = normalize_name(name)
        special_use = frozenset(special_use)
        unknown = special_use - SPECIAL_USE
        if unknown:
            raise CannotDo(
                f"unsupported special-use attribute {sorted(unknown)[0]}", code="USEATTR"
            )
        if name in self._mailboxes:
            raise MailboxExists(f"mailbox {name!r} already exists")
        for parent in parents_of(name):
            if not self._exists(parent):
                self._new_mailbox(parent)
        self._new_mailbox(name, special_use)

    @_deferred
    def delete_mailbox(self, name: str) -> None:
        """DELETE (RFC 3501 §6.3.4): INBOX cannot go; with children the
        mailbox becomes \\Noselect (its messages go); a \\Noselect one with
        children fails with [HASCHILDREN]."""
        name = normalize_name(name)
        if name == INBOX:
            raise CannotDo("INBOX cannot be deleted")
        if not self._exists(name):
            raise NonexistentMailbox(f"no mailbox {name!r}")
        has_children = bool(self._children(name))
        if name in self._noselect:
            if has_children:
                raise MailboxHasChildren(f"{name!r} has inferior hierarchical names")
            self._noselect.discard(name)
            return
        box = self._mailboxes.pop(name)
        if has_children:
            self._noselect.add(name)
        box.deleted = True  # before watchers hear of the expunge
        box._expunge_now(box.log.uids)

    @_deferred
    def rename_mailbox(self, old: str, new: str) -> None:
        """RENAME (RFC 3501 §6.3.5): inferiors move along, missing parents of
        the new name are created; renaming INBOX moves its messages to a new
        mailbox and leaves INBOX empty (its inferiors stay)."""
        old, new = normalize_name(old), normalize_name(new)
        if not self._exists(old):
            raise NonexistentMailbox(f"no mailbox {old!r}")
        if self._exists(new) or new == INBOX:
            raise MailboxExists(f"mailbox {new!r} already exists")
        if is_inferior(new, old):
            raise CannotDo("cannot rename a mailbox into its own hierarchy")
        for parent in parents_of(new):
            if not self._exists(parent):
                self._new_mailbox(parent)
        if old == INBOX:
            inbox = self._mailboxes[INBOX]
            target = self._new_mailbox(new)
            inbox._copy_now(inbox.log.uids, target)
            inbox._expunge_now(inbox.log.uids)
            return
        for name in [old, *self._children(old)]:
            moved = rename_inferior(name, old, new)
            if name in self._noselect:
                self._noselect.discard(name)
                self._noselect.add(moved)
            else:
                box = self._mailboxes.pop(name)
                box.name = moved
                self._mailboxes[moved] = box

    @_deferred
    def subscriptions(self) -> set[str]:
        """LSUB's set (RFC 3501 §6.3.6); names need not exist."""
        return set(self._subscriptions)

    @_deferred
    def subscribe(self, name: str) -> None:
        self._subscriptions.add(normalize_name(name))

    @_deferred
    def unsubscribe(self, name: str) -> None:
        self._subscriptions.discard(normalize_name(name))


@implementer(IMailStore)
class MemoryStore:
    """Accounts by username, created on first use; nothing persists."""

    def __init__(self) -> None:
        self._accounts: dict[str, MemoryAccount] = {}
        self._last_uidvalidity = 0

    def next_uidvalidity(self) -> int:
        """Store-wide increasing, so no (name, UIDVALIDITY) pair recurs
        after DELETE+CREATE or RENAME (RFC 3501 §2.3.1.1)."""
        self._last_uidvalidity = new_uidvalidity(self._last_uidvalidity)
        return self._last_uidvalidity

    @_deferred
    def account(self, username: str) -> MemoryAccount:
        account = self._accounts.get(username)
        if account is None:
            account = self._accounts[username] = MemoryAccount(self, username)
        return account

    @_deferred
    def close(self) -> None:
        for account in self._accounts.values():
            for box in account._mailboxes.values():
                box.log.clear_watchers()


def from_url(url: str = "memory") -> MemoryStore:
    """Entry point ``mailframe.stores: memory``: ``memory`` or ``memory:``
    (anything after the colon is refused, so typos do not pass silently)."""
    scheme, _, rest = url.partition(":")
    if scheme.strip().lower() != "memory" or rest.strip():
        raise ValueError(f"the memory store takes no arguments: {url!r}")
    return MemoryStore()
