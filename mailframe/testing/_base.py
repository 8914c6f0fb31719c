"""Shared fixtures of the backend conformance suite (see package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from twisted.internet import defer, reactor, task

from mailframe.interfaces import IAccount, IMailbox, IMailStore

T = TypeVar("T")

#: A plain RFC 5322 message, CRLF line ends.
SIMPLE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: hello\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"\r\n"
    b"Hello, Bob.\r\n"
)

#: Awkward but legal-enough content a backend must keep byte for byte:
#: bare LF, bare CR, 8-bit, NUL, trailing whitespace, no final newline.
AWKWARD = (
    b"Subject: =?utf-8?q?caf=C3=A9?=\n"
    b"X-Raw: caf\xc3\xa9 \xff\xfe\r\n"
    b"\r\n"
    b"line with bare CR\r and NUL \x00 and tab\t \n"
    b".\r\n"
    b"From the start of a line\r\n"
    b"no final newline   "
)
#: AWKWARD as a store keeps and serves it: its bare LF line ends are CRLF
#: (stores convert when they save, as Dovecot does); the bare CR, NUL and
#: 8-bit octets stay as they were.
AWKWARD_STORED = (
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
    b"X-Raw: caf\xc3\xa9 \xff\xfe\r\n"
    b"\r\n"
    b"line with bare CR\r and NUL \x00 and tab\t \r\n"
    b".\r\n"
    b"From the start of a line\r\n"
    b"no final newline   "
)

DATE = datetime(2026, 11, 26, 10, 30, 15, tzinfo=UTC)


def message(n: int, size: int = 0) -> bytes:
    """A distinct small message; ``size`` pads the body to about that size."""
    body = b"Body of message %d.\r\n" % n
    if size > len(body):
        line = b"x" * 76 + b"\r\n"
        body += line * ((size - len(body)) // len(line) + 1)
    return (
        b"From: sender%d@example.org\r\nTo: rcpt@example.org\r\n"
        b"Subject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\n" % (n, n, n) + body
    )


class BackendFixture:
    """Store lifecycle and small helpers for the conformance mixins.

    Combine with ``twisted.trial.unittest.TestCase`` and provide
    :meth:`make_store`.  The store is made on first use in each test and
    closed (``IMailStore.close``) when the test ends; override
    :meth:`cleanup_store` for more (removing a temporary directory is not
    needed with ``self.mktemp()``).
    """

    #: How long to wait for a watcher callback ("soon", IMailbox.watch).
    watch_timeout: float = 5.0

    _store: Any = None

    def make_store(self) -> Any:
        """Return a new, empty IMailStore (or a Deferred firing with one)."""
        raise NotImplementedError("a backend's test case must define make_store()")

    def cleanup_store(self, store: Any) -> Any:
        """Release ``store`` after a test; the default calls ``close()``."""
        return store.close()

    # Helpers expected from the trial TestCase this is mixed into.
    addCleanup: Callable[..., None]
    assertEqual: Callable[..., None]
    flushLoggedErrors: Callable[..., list[Any]]

    async def store(self) -> Any:
        """The test's store, made on first use."""
        if self._store is None:
            store = await defer.maybeDeferred(self.make_store)
            if not IMailStore.providedBy(store):
                raise TypeError(f"make_store() returned {store!r}, not an IMailStore")
            self._store = store
            self.addCleanup(self._close_current)
        return self._store

    async def _close_current(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await defer.maybeDeferred(self.cleanup_store, store)

    async def account(self, username: str = "alice") -> Any:
        store = await self.store()
        account = await store.account(username)
        if not IAccount.providedBy(account):
            raise TypeError(f"account() returned {account!r}, not an IAccount")
        return account

    async def mailbox(self, name: str = "INBOX", username: str = "alice") -> Any:
        account = await self.account(username)
        box = await account.mailbox(name)
        if not IMailbox.providedBy(box):
            raise TypeError(f"mailbox() returned {box!r}, not an IMailbox")
        return box

    async def new_mailbox(self, name: str, username: str = "alice") -> Any:
        account = await self.account(username)
        await account.create_mailbox(name)
        return await account.mailbox(name)

    async def append(
        self,
        box: Any,
        content: bytes = SIMPLE,
        flags: Iterable[str] = (),
        internaldate: datetime = DATE,
    ) -> int:
        uid = await box.append(content, frozenset(flags), internaldate)
        if not isinstance(uid, int):
            raise TypeError(f"append() returned {uid!r}, not an int UID")
        return uid

    async def append_many(self, box: Any, n: int, flags: Iterable[str] = ()) -> list[int]:
        return [await self.append(box, message(i), flags) for i in range(n)]

    async def read(self, box: Any, uid: int) -> bytes:
        data = await box.read(uid)
        if not isinstance(data, bytes):
            raise TypeError(f"read() gave {type(data).__name__}, not bytes")
        return data

    async def uidvalidity(self, box: Any) -> int:
        return int((await box.status()).uidvalidity)

    async def flags(self, box: Any, uid: int) -> frozenset[str]:
        (record,) = await box.records([uid])
        return frozenset(record.flags)

    async def names(self, username: str = "alice") -> dict[str, frozenset[str]]:
        """name → attributes of every mailbox the account lists."""
        account = await self.account(username)
        return {e.name: frozenset(e.attributes) for e in await account.list_mailboxes()}

    async def fails(self, error: type[BaseException], d: Any) -> BaseException:
        """Await ``d`` (a Deferred) and return the ``error`` it fails with."""
        if not isinstance(d, defer.Deferred):
            raise AssertionError(f"expected a Deferred, got {d!r}")
        try:
            result = await d
        except error as exc:
            return exc
        raise AssertionError(f"expected {error.__name__}, got result {result!r}")

    async def eventually(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait up to :attr:`watch_timeout` seconds for ``predicate()``."""
        waited = 0.0
        while not predicate():
            if waited >= self.watch_timeout:
                raise AssertionError(f"timed out waiting for {what}")
            await task.deferLater(reactor, 0.01, lambda: None)
            waited += 0.01
