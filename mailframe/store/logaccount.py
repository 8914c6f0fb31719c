"""Public bases for a store's accounts and the store itself, beside
:class:`mailframe.store.base.LogMailbox`.

:class:`LogAccount` keeps one user's mailbox tree in memory and applies
the rules of the :mod:`mailframe.interfaces` contract (RFC 3501
§6.3.3-6.3.5): names normalised and checked, missing parents created,
``\\Noselect`` placeholders, DELETE and RENAME of INBOX, handed-out mailbox
objects that follow a RENAME and see a DELETE.  A subclass only says how to
make a mailbox (:meth:`LogAccount.make_mailbox`).  :class:`LogStore` keeps
the accounts and a store-wide increasing UIDVALIDITY; a subclass says how
to make an account (:meth:`LogStore.make_account`).

Account methods are coroutines behind ``Deferred.fromCoroutine``: with
synchronous primitives (the memory store) their Deferreds have fired
before they return.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet import defer
from zope.interface import implementer

from mailframe.errors import CannotDo, MailboxExists, MailboxHasChildren, NonexistentMailbox
from mailframe.interfaces import IAccount, IMailbox, IMailStore
from mailframe.records import MailboxEntry
from mailframe.store._log import new_uidvalidity
from mailframe.store._names import (
    INBOX,
    is_inferior,
    normalize_name,
    parents_of,
    rename_inferior,
)
from mailframe.store.base import LogMailbox
from mailframe.vocabulary import NOSELECT, SPECIAL_USE

__all__ = ["LogAccount", "LogStore"]

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> defer.Deferred[T]:
    return defer.Deferred.fromCoroutine(coro)


@implementer(IAccount)
class LogAccount:
    """One user's mailbox tree.  INBOX always exists."""

    def __init__(self, store: LogStore, username: str) -> None:
        self.store = store
        self.username = username
        self._mailboxes: dict[str, LogMailbox] = {}
        #: names kept only as \Noselect parents (RFC 3501 §6.3.4).
        self._noselect: set[str] = set()
        self._subscriptions: set[str] = set()
        self._special_use: dict[str, frozenset[str]] = {}
        self._new_mailbox(INBOX)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.username}>"

    # ---------------------------------------------------------- the primitive

    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        """A new, empty mailbox object (override this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_mailbox()")

    # -------------------------------------------------------------- internals

    def _new_mailbox(self, name: str, special_use: frozenset[str] = frozenset()) -> LogMailbox:
        box = self.make_mailbox(name, self.store.next_uidvalidity())
        self._mailboxes[name] = box
        self._special_use[name] = special_use
        self._noselect.discard(name)
        return box

    def _exists(self, name: str) -> bool:
        return name in self._mailboxes or name in self._noselect

    def _children(self, name: str) -> list[str]:
        return sorted(n for n in (*self._mailboxes, *self._noselect) if is_inferior(n, name))

    def mailboxes(self) -> list[LogMailbox]:
        """Every selectable mailbox object (for closing watchers)."""
        return list(self._mailboxes.values())

    # -------------------------------------------------------------- IAccount

    def list_mailboxes(self) -> defer.Deferred[list[MailboxEntry]]:
        """Every mailbox, sorted by name; placeholders carry \\Noselect,
        others their special-use attributes (RFC 6154)."""
        entries = [MailboxEntry(n, self._special_use.get(n, frozenset())) for n in self._mailboxes]
        entries += [MailboxEntry(n, frozenset({NOSELECT})) for n in self._noselect]
        return defer.succeed(sorted(entries, key=lambda e: e.name))

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        try:
            name = normalize_name(name)
        except Exception:
            return defer.fail()
        box = self._mailboxes.get(name)
        if box is None:
            if name in self._noselect:
                return defer.fail(NonexistentMailbox(f"mailbox {name!r} is \\Noselect"))
            return defer.fail(NonexistentMailbox(f"no mailbox {name!r}"))
        return defer.succeed(box)

    def create_mailbox(
        self, name: str, special_use: frozenset[str] = frozenset()
    ) -> defer.Deferred[None]:
        """CREATE (RFC 3501 §6.3.3) with missing parents; a \\Noselect
        placeholder becomes a real mailbox with a new UIDVALIDITY.
        ``special_use`` per RFC 6154 §3; an unknown attribute fails with
        [USEATTR]."""

        async def run() -> None:
            checked = normalize_name(name)
            unknown = frozenset(special_use) - SPECIAL_USE
            if unknown:
                raise CannotDo(
                    f"unsupported special-use attribute {sorted(unknown)[0]}", code="USEATTR"
                )
            if checked in self._mailboxes:
                raise MailboxExists(f"mailbox {checked!r} already exists")
            for parent in parents_of(checked):
                if not self._exists(parent):
                    self._new_mailbox(parent)
            self._new_mailbox(checked, frozenset(special_use))

        return _run(run())

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        """DELETE (RFC 3501 §6.3.4): INBOX cannot go; with children the
        mailbox becomes \\Noselect (its messages go); a \\Noselect one with
        children fails with [HASCHILDREN]."""

        async def run() -> None:
            checked = normalize_name(name)
            if checked == INBOX:
                raise CannotDo("INBOX cannot be deleted")
            if not self._exists(checked):
                raise NonexistentMailbox(f"no mailbox {checked!r}")
            has_children = bool(self._children(checked))
            if checked in self._noselect:
                if has_children:
                    raise MailboxHasChildren(f"{checked!r} has inferior hierarchical names")
                self._noselect.discard(checked)
                return
            box = self._mailboxes.pop(checked)
            self._special_use.pop(checked, None)
            if has_children:
                self._noselect.add(checked)
            await box.mark_deleted()

        return _run(run())

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        """RENAME (RFC 3501 §6.3.5): inferiors move along, missing parents of
        the new name are created; renaming INBOX moves its messages to a new
        mailbox and leaves INBOX empty (its inferiors stay)."""

        async def run() -> None:
            src, dst = normalize_name(old), normalize_name(new)
            if not self._exists(src):
                raise NonexistentMailbox(f"no mailbox {src!r}")
            if self._exists(dst) or dst == INBOX:
                raise MailboxExists(f"mailbox {dst!r} already exists")
            if is_inferior(dst, src):
                raise CannotDo("cannot rename a mailbox into its own hierarchy")
            for parent in parents_of(dst):
                if not self._exists(parent):
                    self._new_mailbox(parent)
            if src == INBOX:
                inbox = self._mailboxes[INBOX]
                target = self._new_mailbox(dst)
                uids = inbox.log.uids
                await inbox.copy_into(uids, target)
                await inbox.expunge_uids(uids)
                return
            for name in [src, *self._children(src)]:
                moved = rename_inferior(name, src, dst)
                if name in self._noselect:
                    self._noselect.discard(name)
                    self._noselect.add(moved)
                else:
                    box = self._mailboxes.pop(name)
                    box.name = moved
                    self._mailboxes[moved] = box
                    self._special_use[moved] = self._special_use.pop(name, frozenset())

        return _run(run())

    def subscriptions(self) -> defer.Deferred[set[str]]:
        """LSUB's set (RFC 3501 §6.3.6); names need not exist."""
        return defer.succeed(set(self._subscriptions))

    def subscribe(self, name: str) -> defer.Deferred[None]:
        try:
            self._subscriptions.add(normalize_name(name))
        except Exception:
            return defer.fail()
        return defer.succeed(None)

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        try:
            self._subscriptions.discard(normalize_name(name))
        except Exception:
            return defer.fail()
        return defer.succeed(None)


@implementer(IMailStore)
class LogStore:
    """Accounts by username, created on first use."""

    def __init__(self) -> None:
        self._accounts: dict[str, LogAccount] = {}
        self._last_uidvalidity = 0

    def make_account(self, username: str) -> LogAccount:
        """A new account object (override this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_account()")

    def next_uidvalidity(self) -> int:
        """Store-wide increasing, so no (name, UIDVALIDITY) pair recurs
        after DELETE+CREATE or RENAME (RFC 3501 §2.3.1.1)."""
        self._last_uidvalidity = new_uidvalidity(self._last_uidvalidity)
        return self._last_uidvalidity

    def account(self, username: str) -> defer.Deferred[IAccount]:
        account = self._accounts.get(username)
        if account is None:
            try:
                account = self._accounts[username] = self.make_account(username)
            except Exception:
                return defer.fail()
        return defer.succeed(account)

    def close(self) -> defer.Deferred[None]:
        for account in self._accounts.values():
            for box in account.mailboxes():
                box.log.clear_watchers()
        return defer.succeed(None)
