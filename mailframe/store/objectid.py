"""OBJECTID (RFC 8474) for the stores we ship: :class:`ObjectIdStore`
wraps a store so that its accounts provide the marker
:class:`mailframe.interfaces.IObjectIdAccount`, which tells the framework
the identifiers it derives (:mod:`mailframe.imap.commands.objectid`) are
stable there: the log-backed stores (memory, mbox, anything on
:class:`mailframe.store.logaccount.LogAccount`), Maildir and SQL keep a
mailbox's UIDVALIDITY through RENAME and never rewrite a message.  An
account of another kind is handed out unchanged (OBJECTID not offered).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from zope.interface import directlyProvides, providedBy

from mailframe.interfaces import IMailStore, IObjectIdAccount

__all__ = ["ObjectIdAccount", "ObjectIdStore", "stable_ids"]


def stable_ids(account: Any) -> bool:
    """Whether ``account`` (a store's own) keeps UIDVALIDITY through RENAME
    and messages' bytes unchanged."""
    from mailframe.store.logaccount import LogAccount
    from mailframe.store.maildir import MaildirAccount
    from mailframe.store.sql.store import SqlAccount

    inner = account
    while hasattr(inner, "wrapped"):  # through the other wrappers
        inner = inner.wrapped
    return isinstance(inner, (LogAccount, MaildirAccount, SqlAccount))


class ObjectIdAccount:
    """The wrapped account, with IObjectIdAccount added."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        directlyProvides(self, providedBy(inner), IObjectIdAccount)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"<ObjectIdAccount {self._inner!r}>"

    @property
    def wrapped(self) -> Any:
        return self._inner


class ObjectIdStore:
    """``store`` whose accounts offer OBJECTID where their ids are stable."""

    def __init__(self, store: Any) -> None:
        self._inner = store
        self._accounts: dict[str, ObjectIdAccount] = {}
        directlyProvides(self, providedBy(store), IMailStore)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"<ObjectIdStore {self._inner!r}>"

    @property
    def wrapped(self) -> Any:
        return self._inner

    def account(self, username: str) -> defer.Deferred[Any]:
        async def run() -> Any:
            inner = await self._inner.account(username)
            known = self._accounts.get(username)
            if known is not None and known.wrapped is inner:
                return known
            if not stable_ids(inner):
                return inner
            known = self._accounts[username] = ObjectIdAccount(inner)
            return known

        return defer.Deferred.fromCoroutine(run())

    def close(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.maybeDeferred(self._inner.close)
        return d
