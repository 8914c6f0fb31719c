"""Factories for ``python -m mailframe.testing`` tests: a read-only store
that already holds mail, and a store that forgot a primitive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zope.interface import implementer

from mailframe.interfaces import IMailStore
from mailframe.records import NewMessage
from mailframe.store.base import LogMailbox
from mailframe.store.memory import MemoryAccount, MemoryStore
from tests.support.deferreds import result as _done


@implementer(IMailStore)
class _ReadOnly:
    """Wraps a filled memory store; the suite only reads."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    def account(self, username: str) -> Any:
        return self.inner.account(username)

    def close(self) -> Any:
        return self.inner.close()


def filled_store() -> _ReadOnly:
    store = MemoryStore()
    account = _done(store.account("archive"))
    _done(account.create_mailbox("Old/2019"))
    when = datetime(2019, 5, 1, 12, 0, tzinfo=UTC)
    for name in ("INBOX", "Old/2019"):
        box = _done(account.mailbox(name))
        batch = [NewMessage(b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i), frozenset(), when) for i in range(5)]
        _done(box.append_many(batch))
    return _ReadOnly(store)


class _Forgetful(LogMailbox):
    """A LogMailbox subclass that implements no primitive at all."""


class _ForgetfulAccount(MemoryAccount):
    def make_mailbox(self, name: str, uidvalidity: int) -> LogMailbox:
        from mailframe.store._log import MailboxLog

        return _Forgetful(name, MailboxLog(uidvalidity))


class _ForgetfulStore(MemoryStore):
    def make_account(self, username: str) -> Any:
        return _ForgetfulAccount(self, username)


def forgetful_store() -> _ForgetfulStore:
    return _ForgetfulStore()
