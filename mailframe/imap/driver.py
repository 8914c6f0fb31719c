"""Drive an IMAP :class:`mailframe.imap.session.Session` with bytes in and
bytes out: no reactor, no socket, no transport.

:class:`SessionDriver` is the session's :class:`SessionIO`: it frames what
you :meth:`SessionDriver.send` with the real :class:`Framer`, runs the
session's coroutine by hand until it waits for the next command, and hands
back what the session wrote.  The store must answer at once (its
Deferreds already fired), as the memory store does; a store that would
wait raises :class:`NotSynchronous`.  Used by ``tests/imap/test_sansio_session.py``
and handy for a store author's own protocol-level tests (this module
imports no Twisted; the memory store's Deferreds need no reactor)::

    driver = SessionDriver(MemoryStore(), {"alice": "secret"})
    driver.send(b"a LOGIN alice secret\\r\\n")
    assert b"a OK" in driver.send(b"b SELECT INBOX\\r\\n")
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

from mailframe.errors import AuthenticationFailed, CannotDo
from mailframe.imap.framing import ContinuationRequest, Frame, FrameError, Framer, SpooledFrame
from mailframe.imap.session import WAKEUP, ServerConfig, Session, Wakeup

__all__ = ["SessionDriver", "NotSynchronous"]


class NotSynchronous(RuntimeError):
    """The session waited on something other than the next command."""


class _NextEvent:
    """What :meth:`SessionDriver.next_event` returns: resumes once an event
    is queued (the driver steps the coroutine then)."""

    def __init__(self, driver: SessionDriver) -> None:
        self.driver = driver

    def __await__(self) -> Generator[Any, None, Frame | FrameError | Wakeup | None]:
        while not self.driver._events and not self.driver.closed:
            yield self
        if self.driver._events:
            return self.driver._events.popleft()
        return None


async def _nothing() -> None:
    return None


class _PlainAuth:
    """LOGIN against a dict of passwords; no SASL."""

    def __init__(self, store: Any, users: dict[str, str]) -> None:
        self.store = store
        self.users = users

    def mechanisms(
        self, secure: bool, peer: str, channel_binding: dict[str, bytes] | None = None
    ) -> list[str]:
        return []

    def plaintext_allowed(self, secure: bool, peer: str) -> bool:
        return True

    async def _login(self, username: str, password: str) -> Any:
        if self.users.get(username) != password:
            raise AuthenticationFailed("Authentication failed.")
        return await self.store.account(username)

    def login(self, username: str, password: str, secure: bool, peer: str) -> Awaitable[Any]:
        return self._login(username, password)

    def start(
        self, mechanism: str, secure: bool, peer: str, channel_binding: dict[str, bytes] | None = None
    ) -> Any:
        raise CannotDo("no SASL mechanism in the sans-IO driver")


class SessionDriver:
    """One connection's session, driven by hand."""

    secure = False
    peer = "127.0.0.1"

    def __init__(
        self, store: Any, users: dict[str, str] | None = None, config: ServerConfig | None = None
    ) -> None:
        self.config = config or ServerConfig()
        self.framer = Framer(self.config.limits)
        self.closed = False
        self.timeout: float | None = None
        self.errors: list[tuple[str, BaseException]] = []
        self._out = bytearray()
        self._events: deque[Frame | FrameError | Wakeup | None] = deque()
        auth = _PlainAuth(store, users if users is not None else {"alice": "secret"})
        self.session = Session(self, auth, self.config)
        self._coro: Coroutine[Any, Any, None] | None = self.session.run()
        self._step()

    # ---------------------------------------------------------------- driving

    def send(self, data: bytes) -> bytes:
        """Feed client octets; return everything the server wrote since."""
        for event in self.framer.feed(data):
            if isinstance(event, ContinuationRequest):
                self._out += b"+ Ready for literal data\r\n"
            elif not isinstance(event, SpooledFrame):  # none: this framer has no spool
                self._events.append(event)
        self._step()
        return self.take()

    def take(self) -> bytes:
        """What the server wrote and nobody took yet."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def disconnect(self) -> None:
        """The client went away: the session finishes."""
        self.closed = True
        self._step()

    @property
    def finished(self) -> bool:
        return self._coro is None

    def _step(self) -> None:
        while self._coro is not None:
            try:
                waited = self._coro.send(None)
            except StopIteration:
                self._coro = None
                return
            if isinstance(waited, _NextEvent):
                if not self._events and not self.closed:
                    return
                continue
            raise NotSynchronous(f"the session waited on {waited!r}; the store must answer at once")

    # ------------------------------------------------------------- SessionIO

    def write(self, data: bytes) -> None:
        self._out += data

    def drain(self) -> Awaitable[None]:
        return _nothing()

    def pause(self) -> Awaitable[None]:
        return _nothing()

    def next_event(self) -> Awaitable[Frame | FrameError | Wakeup | None]:
        return _NextEvent(self)

    def start_tls(self) -> None:
        raise CannotDo("no TLS in the sans-IO driver")

    def tls_available(self) -> bool:
        return False

    @property
    def compressing(self) -> bool:
        return False

    def compress_available(self) -> bool:
        return False

    def start_compress(self) -> None:
        raise CannotDo("no COMPRESS in the sans-IO driver")

    def unauthenticated(self) -> None:
        """Back to the not-authenticated state (RFC 8437): nothing to give back."""

    def channel_binding(self) -> dict[str, bytes] | None:
        return None

    def admit_user(self, username: str) -> bool:
        return True

    def set_timeout(self, seconds: float | None) -> None:
        self.timeout = seconds

    def close(self) -> None:
        self.closed = True

    def wakeup(self) -> None:
        """A watched mailbox changed: queue a wakeup (the session catches
        up when it next runs; call :meth:`send` with ``b""`` to run it)."""
        if self.session.idling:
            self._events.append(WAKEUP)

    def log_error(self, message: str, error: BaseException) -> None:
        self.errors.append((message, error))
