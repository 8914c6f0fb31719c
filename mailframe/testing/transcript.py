"""Golden IMAP transcripts through the real Twisted protocol.

A transcript is the client's lines and the server's exact lines::

    # comment
    C: a1 LOGIN alice secret
    S: a1 OK [CAPABILITY IMAP4rev1 ...] Logged in
    S~ \\* OK \\[UIDVALIDITY \\d+\\] UIDs valid

``C:`` lines are sent (CRLF added); ``S:`` lines must come next, byte for
byte; ``S~`` lines are regular expressions (for UIDVALIDITY, dates); ``S*``
skips any number of lines up to the next expected one.  A named group of
an ``S~`` line (``(?P<uv>\\d+)``) is remembered, and ``${uv}`` in a later
``C:`` line is replaced by what it matched (a client sending back the
UIDVALIDITY it was told, as QRESYNC does).  ``C2:`` / ``S2:``
address a second connection (up to 9).  A literal's content is written as
the following ``C:`` lines.  Every session must have said exactly what the
transcript expects and nothing more.

After a ``COMPRESS DEFLATE`` command answered OK (RFC 4978), the runner
speaks raw deflate on that connection, as a client would: each ``C:`` line
goes out compressed and sync-flushed, and the server's octets are inflated
before they are compared, so transcripts read the same either way.

Connections run over ``twisted.internet.testing.StringTransport`` on the
real reactor, so any backend (synchronous or not) can be used, and the
same transcripts run against every store::

    from mailframe.testing.transcript import run_transcript
    await run_transcript(text, store)  # inside a trial/pytest async test
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.task import deferLater
from twisted.internet.testing import StringTransport

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import LoginThrottle
from mailframe.imap.session import ServerConfig
from mailframe.server.protocol import IMAPServerProtocol, ServerContext

_LINE = re.compile(r"^(S~|S\*|C|S)(\d?)[:]? ?(.*)$")


class TranscriptMismatch(AssertionError):
    pass


@dataclass
class _Conn:
    protocol: IMAPServerProtocol
    transport: StringTransport
    pending: bytes = b""
    lines: list[bytes] = field(default_factory=list)
    #: Tag of a COMPRESS command waiting for its answer.
    compress_tag: bytes | None = None
    inflater: Any = None
    deflater: Any = None

    def send(self, line: bytes) -> None:
        data = line + b"\r\n"
        if self.deflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        else:
            words = line.split(b" ")
            if len(words) == 3 and words[1].upper() == b"COMPRESS":
                self.compress_tag = words[0]
        self.protocol.dataReceived(data)

    def collect(self) -> None:
        data = self.transport.value()
        self.transport.clear()
        if self.inflater is not None:
            data = self.inflater.decompress(data)
        self.pending += data
        while b"\r\n" in self.pending:
            line, self.pending = self.pending.split(b"\r\n", 1)
            self.lines.append(line)
            tag = self.compress_tag
            if tag is not None and line.startswith(tag + b" "):
                self.compress_tag = None
                if line.startswith(tag + b" OK"):
                    # RFC 4978 §3: compressed from the octet after this CRLF.
                    self.inflater = zlib.decompressobj(-15)
                    self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
                    self.pending = self.inflater.decompress(self.pending)


def context_for(
    store: Any,
    users: dict[str, str] | None = None,
    config: ServerConfig | None = None,
    realm: MailRealm | None = None,
) -> ServerContext:
    """A ServerContext over ``store`` with in-memory users and no login
    delays, as tests want (``realm``: one of your own, e.g. with sharing)."""
    checker = InMemoryChecker(users or {"alice": "secret", "bob": "hunter2"})
    portal = Portal(realm or MailRealm(store), [checker])
    throttle = LoginThrottle(reactor, base=0.0, maximum=0.0)
    auth = Authenticator(portal, throttle=throttle)
    return ServerContext(auth, config or ServerConfig())


def connect(context: ServerContext) -> _Conn:
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    proto = IMAPServerProtocol(context)
    proto.makeConnection(transport)  # type: ignore[no-untyped-call]
    return _Conn(proto, transport)


async def _wait_line(conn: _Conn, timeout: float) -> bytes | None:
    deadline = time.monotonic() + timeout
    while True:
        conn.collect()
        if conn.lines:
            return conn.lines.pop(0)
        if time.monotonic() > deadline:
            return None
        await deferLater(reactor, 0.002, lambda: None)


async def run_transcript(
    text: str,
    store: Any,
    users: dict[str, str] | None = None,
    config: ServerConfig | None = None,
    timeout: float = 5.0,
    realm: MailRealm | None = None,
) -> None:
    """Play ``text`` against a server over ``store``; raise
    TranscriptMismatch at the first difference."""
    context = context_for(store, users, config, realm)
    conns: dict[str, _Conn] = {}

    def conn(n: str) -> _Conn:
        if n not in conns:
            conns[n] = connect(context)
        return conns[n]

    skipping: dict[str, bool] = {}
    captured: dict[str, str] = {}
    try:
        for lineno, raw in enumerate(text.splitlines(), 1):
            if not raw.strip() or raw.startswith("#"):
                continue
            m = _LINE.match(raw)
            if m is None:
                raise TranscriptMismatch(f"line {lineno}: cannot read {raw!r}")
            kind, n, body = m.group(1), m.group(2) or "1", m.group(3)
            c = conn(n)
            if kind == "C":
                for name, value in captured.items():
                    body = body.replace("${" + name + "}", value)
                c.send(body.encode("utf-8"))
                continue
            if kind == "S*":
                skipping[n] = True
                continue
            while True:
                got = await _wait_line(c, timeout)
                if got is None:
                    raise TranscriptMismatch(f"line {lineno}: expected {body!r}, got nothing")
                text_got = got.decode("utf-8", "replace")
                match = None if kind == "S" else re.fullmatch(body, text_got)
                ok = text_got == body if kind == "S" else match is not None
                if match is not None:
                    captured.update({k: v for k, v in match.groupdict().items() if v is not None})
                if ok:
                    skipping[n] = False
                    break
                if not skipping.get(n):
                    raise TranscriptMismatch(
                        f"line {lineno}: expected {body!r}\n{' ' * 10}got {text_got!r}"
                    )
        for n, c in conns.items():
            await deferLater(reactor, 0.01, lambda: None)
            c.collect()
            if c.lines and not skipping.get(n):
                raise TranscriptMismatch(f"session {n} said more than expected: {c.lines!r}")
    finally:
        for c in conns.values():
            c.protocol.connectionLost(None)  # type: ignore[arg-type]
