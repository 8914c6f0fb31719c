"""A store of your own: wrap any IMailStore so that every account starts
with the special-use folders clients look for (RFC 6154).

Run it as the server's store, from the top of a checkout (no packaging
needed: ``--store`` takes ``module.path:factory``)::

    twistd -n mailframe --store examples.default_folders:make_store --user alice:secret

``DEFAULT_FOLDERS_INNER`` names the wrapped store (default
``maildir:./mail``).  Packaged, register an entry point in your own
package's setup.cfg and name it by URL (``--store default-folders:maildir:./mail``)::

    [options.entry_points]
    mailframe.stores =
        default-folders = default_folders:from_url

or use it directly when embedding: ``DefaultFoldersStore(open_store("memory"))``.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from mailframe.errors import MailboxExists
from mailframe.interfaces import IMailStore
from mailframe.store import open_store

FOLDERS = {
    "Drafts": frozenset({"\\Drafts"}),
    "Sent": frozenset({"\\Sent"}),
    "Junk": frozenset({"\\Junk"}),
    "Trash": frozenset({"\\Trash"}),
}


@implementer(IMailStore)
class DefaultFoldersStore:
    """Delegates everything to ``inner``; creates missing folders once per
    account, the first time the account is opened."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._provisioned: set[str] = set()

    def account(self, username: str) -> Deferred[Any]:
        return Deferred.fromCoroutine(self._account(username))

    async def _account(self, username: str) -> Any:
        account = await self.inner.account(username)
        if username not in self._provisioned:
            existing = {e.name for e in await account.list_mailboxes()}
            for name, use in FOLDERS.items():
                if name not in existing:
                    try:
                        await account.create_mailbox(name, use)
                    except MailboxExists:  # another process made it first
                        pass
                    await account.subscribe(name)
            self._provisioned.add(username)
        return account

    def close(self) -> Deferred[None]:
        return self.inner.close()


def from_url(url: str) -> DefaultFoldersStore:
    """``default-folders:<inner store URL>``"""
    _, _, inner = url.partition(":")
    return DefaultFoldersStore(open_store(inner or "memory"))


def make_store() -> DefaultFoldersStore:
    """The factory for ``--store examples.default_folders:make_store``."""
    return DefaultFoldersStore(open_store(os.environ.get("DEFAULT_FOLDERS_INNER", "maildir:./mail")))
