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

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure
from zope.interface import implementer

from mailframe.errors import (
    CannotDo,
    MailboxExists,
    MailboxHasChildren,
    NonexistentMailbox,
)
from mailframe.interfaces import IAccount, IMailbox, IMailStore
from mailframe.records import MailboxEntry
from mailframe.store._log import MailboxLog, new_uidvalidity
from mailframe.store._names import (
    INBOX,
    is_inferior,
    normalize_name,
    parents_of,
    rename_inferior,
)
from mailframe.store.base import LogMailbox, StoredMessage, StoredMeta
from mailframe.vocabulary import NOSELECT, SPECIAL_USE

__all__ = ["MemoryStore", "MemoryAccount", "MemoryMailbox", "from_url", "SPECIAL_USE"]

T = TypeVar("T")
P = ParamSpec("P")


def _deferred(fn: Callable[P, T]) -> Callable[P, defer.Deferred[T]]:
    """Run ``fn`` now; its result or exception as a fired Deferred."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> defer.Deferred[T]:
        try:
            return defer.succeed(fn(*args, **kwargs))
        except Exception:
            return defer.fail()

    wrapper.__name__ = fn.__name__
    wrapper.__qualname__ = fn.__qualname__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a :class:`LogMailbox` coroutine to its end now: the memory
    primitives never wait, so it finishes before this returns."""
    results: list[T] = []
    failures: list[Failure] = []
    defer.Deferred.fromCoroutine(coro).addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    assert results, "a memory-store coroutine waited"
    return results[0]


class MemoryMailbox(LogMailbox):
    """One mailbox: a :class:`LogMailbox` whose primitives are a dict.

    A mailbox object outlives RENAME (it takes the new name) and DELETE:
    after DELETE its messages are expunged (so selected sessions hear of
    it) and APPEND/COPY into it fail with TryCreate.
    """

    def __init__(self, account: MemoryAccount, name: str, uidvalidity: int) -> None:
        super().__init__(name, MailboxLog(uidvalidity))
        self.account = account
        self.special_use: frozenset[str] = frozenset()
        self._messages: dict[int, tuple[bytes, StoredMeta]] = {}

    @property
    def uidvalidity(self) -> int:
        """Cheap here (no I/O); not part of the interface."""
        return self.log.uidvalidity

    def __repr__(self) -> str:
        return f"<MemoryMailbox {self.account.username}:{self.name} uidvalidity={self.uidvalidity}>"

    def put_messages(self, messages: Sequence[StoredMessage]) -> None:
        for m in messages:
            self._messages[m.uid] = (m.content, m.meta)

    def message_meta(self, uid: int) -> StoredMeta:
        return self._messages[uid][1]

    def read_range(self, uid: int, start: int, end: int | None) -> bytes:
        return self._messages[uid][0][start:end]

    def drop_messages(self, uids: Sequence[int]) -> None:
        for uid in uids:
            self._messages.pop(uid, None)


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
    def mailbox(self, name: str) -> IMailbox:
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
        _now(box.mark_deleted())

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
            uids = inbox.log.uids
            _now(inbox.copy_into(uids, target))
            _now(inbox.expunge_uids(uids))
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
    def account(self, username: str) -> IAccount:
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
