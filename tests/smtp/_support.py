"""Shared fixtures for the SMTP/LMTP tests: a tiny user directory, a
server on 127.0.0.1:0, blocking clients run in threads, store read-back."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from mailframe.interfaces import IUserDirectory


@implementer(IUserDirectory)
class Users:
    """The smallest IUserDirectory: a fixed set of names."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)

    def exists(self, username: str) -> Deferred[bool]:
        return succeed(username in self.names)


def listen(factory: Any) -> tuple[Any, int]:
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, port.getHost().port


def in_thread(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """Run a blocking client without blocking the reactor."""
    return deferToThread(fn, *args)


async def read_mailbox(store: Any, user: str, mailbox: str = "INBOX") -> list[bytes]:
    """Every message's bytes in ``user``'s ``mailbox``, in UID order."""
    account = await store.account(user)
    box = await account.mailbox(mailbox)
    snap = await box.snapshot()
    out = []
    for state in snap.messages:
        out.append(await box.read(state.uid))
    return out


class RawClient:
    """A line-level SMTP/LMTP client on a blocking socket (for exact
    replies, including LMTP's one-reply-per-recipient after DATA)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> list[bytes]:
        """One (possibly multi-line) reply."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return lines

    def command(self, data: bytes) -> list[bytes]:
        self.send(data + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()
