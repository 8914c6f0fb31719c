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

from mailframe.interfaces import IObjectIdAccount
from mailframe.store.layer import AccountLayer, StoreLayer

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


class ObjectIdAccount(AccountLayer):
    """The wrapped account, with IObjectIdAccount added."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, IObjectIdAccount)


class ObjectIdStore(StoreLayer):
    """``store`` whose accounts offer OBJECTID where their ids are stable."""

    def layer_account(self, username: str, inner: Any) -> ObjectIdAccount | None:
        return ObjectIdAccount(inner) if stable_ids(inner) else None
