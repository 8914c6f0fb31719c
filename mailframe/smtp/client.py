"""An SMTP client for one outbound transaction (RFC 5321 §3, §4).

Used by the outbound queue for both the smarthost and direct MX delivery:
EHLO (HELO fallback), STARTTLS (RFC 3207: required and verified for a
smarthost, opportunistic for MX hosts), AUTH PLAIN (RFC 4954, RFC 4616)
when credentials are given, MAIL FROM with SIZE (RFC 1870), BODY=8BITMIME
(RFC 6152) and SMTPUTF8 (RFC 6531) where the server offers them, one RCPT
per recipient, DATA with dot-stuffing (RFC 5321 §4.5.2), QUIT.

The result is one :class:`RcptResult` per recipient; trouble that concerns
the connection as a whole (refused connection, a lost link, a 4xx greeting,
TLS failure) raises :class:`TemporaryFailure` so the caller tries the next
host or retries later, and :class:`PermanentFailure` when no host could ever
take it (e.g. SMTPUTF8 needed but not offered, RFC 6531 §3.4).
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

__all__ = ["Reply", "RcptResult", "TemporaryFailure", "PermanentFailure", "SMTPClient",
           "send_message"]


class TemporaryFailure(Exception):
    """The attempt failed in a way a later attempt may not (RFC 5321 §4.2.1 4yz)."""

    def __init__(self, text: str, status: str = "4.4.1") -> None:
        super().__init__(text)
        self.text = text
        self.status = status


class PermanentFailure(Exception):
    """No attempt can succeed (5yz)."""

    def __init__(self, text: str, status: str = "5.0.0") -> None:
        super().__init__(text)
        self.text = text
        self.status = status


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[bytes, ...]

    @property
    def text(self) -> str:
        return " ".join(line.decode("utf-8", "replace") for line in self.lines)

    def status(self) -> str:
        """The RFC 3463 code of the reply, or one derived from the class."""
        first = self.lines[0].split(b" ", 1)[0] if self.lines and self.lines[0] else b""
        parts = first.split(b".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and first[:1] in b"245":
            return first.decode()
        return f"{self.code // 100}.0.0"

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


@dataclass(frozen=True)
class RcptResult:
    """What became of one recipient in one transaction."""

    recipient: str
    code: int
    status: str
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code >= 500


class SMTPClient(LineOnlyReceiver, TimeoutMixin):
    """Line-level client: :meth:`reply` waits for the next whole reply."""

    MAX_LENGTH = 64 * 1024
    delimiter = b"\r\n"

    def __init__(self, clock: IReactorTime, timeout: float = 300.0) -> None:
        self.clock = clock
        self.command_timeout = timeout
        self._lines: list[bytes] = []
        self._replies: deque[Reply] = deque()
        self._waiting: Deferred[Reply] | None = None
        self._lost: Failure | None = None
        self.connected_d: Deferred[None] = Deferred()

    def callLater(self, delay: float, f: Any, *args: Any) -> Any:  # TimeoutMixin's clock
        return self.clock.callLater(delay, f, *args)

    def connectionMade(self) -> None:
        self.setTimeout(self.command_timeout)  # type: ignore[no-untyped-call]
        self.connected_d.callback(None)

    def lineReceived(self, line: bytes) -> None:
        self.resetTimeout()  # type: ignore[no-untyped-call]
        code = line[:3]
        if len(line) < 3 or not code.isdigit():
            self._fail(TemporaryFailure(f"malformed reply {line[:80]!r}"))
            return
        self._lines.append(line[4:])
        if line[3:4] == b"-":
            return
        reply = Reply(int(code), tuple(self._lines))
        self._lines = []
        if self._waiting is not None:
            d, self._waiting = self._waiting, None
            d.callback(reply)
        else:
            self._replies.append(reply)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._fail(TemporaryFailure("reply line too long"))

    def timeoutConnection(self) -> None:
        self._fail(TemporaryFailure("timed out waiting for the server"))

    def _fail(self, error: Exception) -> None:
        self._lost = Failure(error)
        if self._waiting is not None:
            d, self._waiting = self._waiting, None
            d.errback(self._lost)
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def connectionLost(self, reason: Any = None) -> None:
        self.setTimeout(None)  # type: ignore[no-untyped-call]
        if self._lost is None:
            text = reason.getErrorMessage() if isinstance(reason, Failure) else "connection lost"
            self._lost = Failure(TemporaryFailure(f"connection lost: {text}"))
        if self._waiting is not None:
            d, self._waiting = self._waiting, None
            d.errback(self._lost)

    def reply(self) -> Deferred[Reply]:
        if self._replies:
            d: Deferred[Reply] = Deferred()
            d.callback(self._replies.popleft())
            return d
        if self._lost is not None:
            d = Deferred()
            d.errback(self._lost)
            return d
        self._waiting = Deferred()
        return self._waiting

    async def command(self, line: bytes) -> Reply:
        self.sendLine(line)  # type: ignore[no-untyped-call]
        return await self.reply()

    def send_data(self, content: bytes) -> None:
        """The message, dot-stuffed, every line CRLF-ended, then ``.``."""
        body = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
        if body.startswith(b"."):
            body = b"." + body
        body = body.replace(b"\r\n.", b"\r\n..")
        self.transport.write(body + b".\r\n")  # type: ignore[union-attr]


def _ehlo_keywords(reply: Reply) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for line in reply.lines[1:]:
        key, _, value = line.partition(b" ")
        out[key.upper()] = value
    return out


async def send_message(
    client: SMTPClient,
    *,
    helo: str,
    sender: str,
    recipients: list[str],
    content: bytes,
    tls: Any = None,
    require_tls: bool = False,
    credentials: tuple[str, str] | None = None,
    smtputf8: bool = False,
    peer_name: str = "",
) -> list[RcptResult]:
    """Run one transaction on a connected ``client`` (see module docs).

    ``tls`` is a client TLS connection creator for STARTTLS (None: no
    STARTTLS); with ``require_tls`` a server that does not offer it is a
    temporary failure (never send in clear to a smarthost that should be
    secure).
    """
    where = f" ({peer_name})" if peer_name else ""
    greeting = await client.reply()
    if greeting.code != 220:
        raise TemporaryFailure(f"greeting{where}: {greeting}")
    hello = helo.encode("idna") if helo.isascii() is False else helo.encode()
    ehlo = await client.command(b"EHLO " + hello)
    keywords: dict[bytes, bytes] = {}
    if ehlo.code == 250:
        keywords = _ehlo_keywords(ehlo)
    else:
        reply = await client.command(b"HELO " + hello)
        if reply.code != 250:
            raise TemporaryFailure(f"HELO{where}: {reply}")
    if tls is not None and b"STARTTLS" in keywords:
        reply = await client.command(b"STARTTLS")
        if reply.code != 220:
            if require_tls:
                raise TemporaryFailure(f"STARTTLS{where}: {reply}")
        else:
            client.transport.startTLS(tls)  # type: ignore[union-attr]
            ehlo = await client.command(b"EHLO " + hello)
            if ehlo.code != 250:
                raise TemporaryFailure(f"EHLO after STARTTLS{where}: {ehlo}")
            keywords = _ehlo_keywords(ehlo)
    elif require_tls:
        raise TemporaryFailure(f"the server{where} offers no STARTTLS", "4.7.10")
    if credentials is not None:
        mechs = keywords.get(b"AUTH", b"").upper().split()
        if b"PLAIN" not in mechs:
            raise TemporaryFailure(f"the server{where} offers no AUTH PLAIN", "4.7.12")
        token = b"\0" + credentials[0].encode() + b"\0" + credentials[1].encode()
        reply = await client.command(b"AUTH PLAIN " + base64.b64encode(token))
        if reply.code != 235:
            raise TemporaryFailure(f"AUTH{where}: {reply}", "4.7.8")
    if smtputf8 and b"SMTPUTF8" not in keywords:
        raise PermanentFailure(f"the server{where} does not offer SMTPUTF8", "5.6.7")
    params = b""
    if b"SIZE" in keywords:
        params += b" SIZE=%d" % len(content)
    if b"8BITMIME" in keywords and any(b > 127 for b in content):
        params += b" BODY=8BITMIME"
    if smtputf8:
        params += b" SMTPUTF8"
    reply = await client.command(b"MAIL FROM:<" + sender.encode() + b">" + params)
    if reply.code != 250:
        return [RcptResult(r, reply.code, reply.status(), f"MAIL FROM{where}: {reply}")
                for r in recipients]
    results: dict[str, RcptResult] = {}
    accepted: list[str] = []
    for rcpt in recipients:
        reply = await client.command(b"RCPT TO:<" + rcpt.encode() + b">")
        if reply.code in (250, 251):
            accepted.append(rcpt)
        else:
            results[rcpt] = RcptResult(rcpt, reply.code, reply.status(), f"RCPT{where}: {reply}")
    if accepted:
        reply = await client.command(b"DATA")
        if reply.code == 354:
            client.send_data(content)
            reply = await client.reply()
        for rcpt in accepted:
            results[rcpt] = RcptResult(rcpt, reply.code, reply.status(), f"{where.strip()} {reply}")
    else:
        await client.command(b"RSET")
    try:
        client.sendLine(b"QUIT")  # type: ignore[no-untyped-call]
        client.transport.loseConnection()  # type: ignore[union-attr]
    except Exception:  # the link is already gone: the results stand
        pass
    return [results[r] for r in recipients]
