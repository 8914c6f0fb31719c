"""A small SMTP server for the sending tests: plays the smarthost (STARTTLS,
AUTH PLAIN) or an MX host, records what arrives, and answers what the test
tells it to (e.g. 550 for one recipient, 451 for the first attempt)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import ServerFactory
from twisted.protocols.basic import LineOnlyReceiver


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    tls: bool
    user: str | None
    mail_params: str


@dataclass
class Sink:
    """Configuration and record of one sink server."""

    tls: Any = None  # server context factory: offer STARTTLS
    credentials: tuple[str, str] | None = None  # require AUTH PLAIN with these
    rcpt_reply: Callable[[str], bytes | None] = lambda rcpt: None  # None → 250
    data_replies: list[bytes] = field(default_factory=list)  # consumed in order, then 250
    messages: list[Received] = field(default_factory=list)
    connections: int = 0
    waiters: list[tuple[int, Deferred[None]]] = field(default_factory=list)

    def arrived(self, message: Received) -> None:
        self.messages.append(message)
        for n, d in list(self.waiters):
            if len(self.messages) >= n:
                self.waiters.remove((n, d))
                d.callback(None)

    def wait_for(self, n: int = 1) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if len(self.messages) >= n:
            d.callback(None)
        else:
            self.waiters.append((n, d))
        return d

    def factory(self) -> ServerFactory:
        sink = self

        class Factory(ServerFactory):
            def buildProtocol(self, addr: Any) -> SinkProtocol:
                p = SinkProtocol(sink)
                p.factory = self
                return p

        return Factory()

    def listen(self, port: int = 0, interface: str = "127.0.0.1") -> Any:
        return reactor.listenTCP(port, self.factory(), interface=interface)


class SinkProtocol(LineOnlyReceiver):
    MAX_LENGTH = 1 << 20

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.mode = "command"
        self.sender = ""
        self.params = ""
        self.rcpts: list[str] = []
        self.lines: list[bytes] = []
        self.user: str | None = None
        self.tls = False

    def connectionMade(self) -> None:
        self.sink.connections += 1
        self.tls = ISSLTransport.providedBy(self.transport)
        self.sendLine(b"220 sink.test ESMTP")

    def lineReceived(self, line: bytes) -> None:
        if self.mode == "data":
            if line == b".":
                self.mode = "command"
                reply = self.sink.data_replies.pop(0) if self.sink.data_replies else b"250 2.0.0 Ok"
                if reply.startswith(b"2"):
                    self.sink.arrived(Received(self.sender, self.rcpts, b"".join(self.lines),
                                               self.tls, self.user, self.params))
                self.sendLine(reply)
                self.rcpts = []
                self.lines = []
                return
            self.lines.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
            return
        verb = line.split(b" ", 1)[0].upper()
        arg = line[len(verb) + 1:]
        if verb == b"EHLO":
            ext = [b"250-sink.test", b"250-PIPELINING", b"250-8BITMIME", b"250-SIZE 100000000",
                   b"250-SMTPUTF8"]
            if self.sink.tls is not None and not self.tls:
                ext.append(b"250-STARTTLS")
            if self.sink.credentials is not None:
                ext.append(b"250-AUTH PLAIN")
            ext.append(b"250 ENHANCEDSTATUSCODES")
            for x in ext:
                self.sendLine(x)
        elif verb == b"STARTTLS":
            self.sendLine(b"220 2.0.0 go ahead")
            self.transport.startTLS(self.sink.tls)  # type: ignore[attr-defined]
            self.tls = True
        elif verb == b"AUTH":
            mech, _, data = arg.partition(b" ")
            raw = base64.b64decode(data)
            _z, user, password = raw.split(b"\0")
            if self.sink.credentials == (user.decode(), password.decode()):
                self.user = user.decode()
                self.sendLine(b"235 2.7.0 ok")
            else:
                self.sendLine(b"535 5.7.8 no")
        elif verb == b"MAIL":
            if self.sink.credentials is not None and self.user is None:
                self.sendLine(b"530 5.7.0 Authentication required")
                return
            addr, _, params = arg[5:].partition(b" ")
            self.sender = addr.strip(b"<>").decode()
            self.params = params.decode()
            self.sendLine(b"250 2.1.0 ok")
        elif verb == b"RCPT":
            rcpt = arg[3:].strip().strip(b"<>").decode()
            reply = self.sink.rcpt_reply(rcpt)
            if reply is None:
                self.rcpts.append(rcpt)
                self.sendLine(b"250 2.1.5 ok")
            else:
                self.sendLine(reply)
        elif verb == b"DATA":
            self.mode = "data"
            self.sendLine(b"354 go")
        elif verb == b"RSET":
            self.rcpts = []
            self.sendLine(b"250 2.0.0 ok")
        elif verb == b"QUIT":
            self.sendLine(b"221 2.0.0 bye")
            self.transport.loseConnection()  # type: ignore[union-attr]
        else:
            self.sendLine(b"502 5.5.1 what")
