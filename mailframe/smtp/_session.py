"""The connection logic SMTP and LMTP share, on twisted.mail's ESMTP class.

What Twisted's ESMTP lacks and this adds:

- SIZE (RFC 1870): advertised, checked on ``MAIL FROM:<> SIZE=n`` and
  counted during DATA (552 5.3.4 when exceeded).
- PIPELINING (RFC 2920): Twisted runs the next command while a recipient
  lookup is still pending; here every line waits until the previous
  command's reply was sent, so replies keep the order of the commands.
- ENHANCEDSTATUSCODES (RFC 2034/3463): every reply but the greeting, the
  EHLO/LHLO reply and 354 carries a status code.
- Replies after DATA only once every copy is durably stored; one reply
  (SMTP, RFC 5321 §4.1.1.4) or one per recipient (LMTP, RFC 2033 §4.2).
- Over-long lines do not desynchronise the session (RFC 5321 §4.5.3.1.6).
- STARTTLS (RFC 3207 §4.2) forgets the session and any plaintext pipelined
  after the command.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from twisted.mail import smtp
from twisted.python.failure import Failure

from mailframe.smtp._message import Outcome, StoreMessageDelivery, Transaction
from mailframe.smtp.delivery import Delivery

__all__ = ["DeliverySession", "DEFAULT_MAX_SIZE"]

DEFAULT_MAX_SIZE = 50 * 1024 * 1024
DATA_LINE_LIMIT = 256 * 1024
COMMAND_LINE_LIMIT = 2048
_QUEUE_PAUSE = 1000
TOO_LONG = b"<line too long>"  # a sentinel compared by identity
_ENHANCED = re.compile(rb"^[245]\.\d{1,3}\.\d{1,3}( |$)")
_DEFAULT_STATUS = {
    221: b"2.0.0", 250: b"2.0.0", 421: b"4.4.2", 451: b"4.3.0", 452: b"4.3.1", 454: b"4.7.0",
    500: b"5.5.2", 501: b"5.5.4", 502: b"5.5.1", 503: b"5.5.1", 504: b"5.5.4",
    550: b"5.0.0", 552: b"5.3.4", 553: b"5.1.3", 554: b"5.0.0",
}  # fmt: skip
_NO_STATUS = {354}


class DeliverySession(smtp.ESMTP):
    """Base of :class:`mailframe.smtp.esmtp.ESMTPDelivery` and
    :class:`mailframe.smtp.lmtp.LMTPDelivery`."""

    protocol_name = "ESMTP"
    max_recipients = 100  # RFC 5321 §4.5.3.1.8 minimum
    noisy = False

    def __init__(
        self,
        delivery: Delivery,
        domains: Iterable[str],
        max_size: int = DEFAULT_MAX_SIZE,
        tls: Any = None,
        hostname: str | None = None,
        delimiter: str = "+",
    ) -> None:
        smtp.ESMTP.__init__(self, chal={}, contextFactory=tls)
        self.delivery_api = delivery
        self.domains = frozenset(d.lower().rstrip(".") for d in domains)
        self.max_size = max_size
        self.detail_delimiter = delimiter
        if hostname:
            self.host = hostname
        self.delivery = StoreMessageDelivery(self)
        self.transaction = Transaction(max_size)
        self._busy = False
        self._draining = False
        self._paused = False
        self._queue: deque[bytes] = deque()
        self._partial = b""
        self._discarding = False
        self._plain_reply = False
        self._data_lines = 0
        self._drop_rest = False

    @property
    def _tr(self) -> Any:
        """The transport (TCP, TLS or UNIX), untyped: Twisted declares it
        Optional[ITransport], which lacks ``disconnecting`` and producers."""
        return self.transport

    # -- identity ----------------------------------------------------------

    def with_protocol(self) -> str:
        """The Received ``with`` keyword (RFC 3848)."""
        name = self.protocol_name
        if name == "ESMTP" and self._helo and self._helo[0] is not None and not self._ehlo:
            name = "SMTP"
        return name + ("S" if self.startedTLS else "")

    _ehlo = False

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        ext: dict[bytes, list[bytes] | None] = smtp.ESMTP.extensions(self)
        ext.pop(b"AUTH", None)
        ext[b"SIZE"] = [str(self.max_size).encode()]
        ext[b"8BITMIME"] = None
        ext[b"PIPELINING"] = None
        ext[b"ENHANCEDSTATUSCODES"] = None
        return dict(ext)

    def connectionMade(self) -> None:
        self._plain_reply = True  # the greeting carries no status code
        try:
            smtp.ESMTP.connectionMade(self)
        finally:
            self._plain_reply = False
        self._helo = (None, self._peer())

    def _peer(self) -> bytes:
        """The client's address for Received: an IP, or ``local`` on a
        UNIX socket (where Twisted's own EHLO would fail)."""
        host = getattr(self._tr.getPeer(), "host", None)
        if host is None:
            return b"local"
        return host.encode("ascii", "replace") if isinstance(host, str) else bytes(host)

    def _hello(self, rest: bytes, extended: bool) -> None:
        """HELO / EHLO / LHLO (RFC 5321 §4.1.1.1): a new session."""
        self._ehlo = extended
        peer = self._peer()
        self._helo = (rest, peer)
        self._from = None
        self._to = []
        text = self.host + b" Hello " + peer + b", nice to meet you"
        if extended:
            text += b"\n" + self.listExtensions()  # type: ignore[no-untyped-call]
        self._plain_reply = True  # RFC 2034 §3: no status codes on EHLO
        try:
            self.sendCode(250, text)
        finally:
            self._plain_reply = False

    def do_EHLO(self, rest: bytes) -> None:
        self._hello(rest, True)

    def do_HELO(self, rest: bytes) -> None:
        self._hello(rest, False)

    # -- replies -------------------------------------------------------------

    def sendCode(self, code: int, message: bytes = b"") -> None:
        """Prefix RFC 3463 status codes (RFC 2034 §3) where missing."""
        if isinstance(message, str):
            message = message.encode("utf-8", "replace")
        if not self._plain_reply and code not in _NO_STATUS:
            status = _DEFAULT_STATUS.get(code, b"%d.0.0" % (code // 100))
            message = b"\n".join(
                line if _ENHANCED.match(line) else status + b" " + line
                for line in (message.splitlines() or [b""])
            )
        smtp.ESMTP.sendCode(self, code, message)

    def _cbFromValidate(
        self, fromEmail: Any, code: int = 250, msg: bytes = b"2.1.0 Sender OK"
    ) -> None:
        smtp.ESMTP._cbFromValidate(self, fromEmail, code, msg)
        self._resume()

    def _ebFromValidate(self, failure: Failure) -> None:
        smtp.ESMTP._ebFromValidate(self, failure)
        self._resume()

    def _cbToValidate(
        self, to: Any, user: Any = None, code: int = 250, msg: bytes = b"2.1.5 Recipient OK"
    ) -> None:
        smtp.ESMTP._cbToValidate(self, to, user, code, msg)
        self._resume()

    def _ebToValidate(self, failure: Failure) -> None:
        smtp.ESMTP._ebToValidate(self, failure)
        self._resume()

    def _messageHandled(self, resultList: Any) -> None:
        outcomes: list[Outcome] = []
        if isinstance(resultList, list):
            for ok, result in resultList:
                outcomes.append(result if ok else Outcome(451, "4.3.0", "Temporary local error"))
        self.reply_after_data(outcomes)
        self.transaction = Transaction(self.max_size)
        self._resume()

    def reply_after_data(self, outcomes: list[Outcome]) -> None:
        """SMTP: one reply for the whole message (RFC 5321 §4.1.1.4): 250
        when every copy is stored, else the first temporary failure (so the
        client retries), else the first permanent one.  Copies already
        stored stay stored: a retry may duplicate, never lose."""
        failed = [o for o in outcomes if o.code >= 400]
        if not failed:
            self.sendCode(250, f"2.0.0 Ok: queued as {self.transaction.queue_id}".encode())
            return
        temporary = [o for o in failed if o.code < 500]
        chosen = (temporary or failed)[0]
        note = f" ({len(failed)} of {len(outcomes)} recipients failed)" if len(outcomes) > 1 else ""
        self.sendCode(chosen.code, chosen.line() + note.encode())

    def reply_data_failed(self, error: smtp.SMTPServerError) -> None:
        """The reply when DATA failed before the end (size, line length)."""
        self.sendCode(error.code, _bytes(error.resp))

    # -- commands ------------------------------------------------------------

    def do_MAIL(self, rest: bytes) -> None:
        """RFC 1870 §6: refuse a declared SIZE above the limit at once."""
        m = self.mail_re.match(rest)
        if m and m.group("opts"):
            for opt in m.group("opts").split():
                key, _, value = opt.partition(b"=")
                if key.upper() == b"SIZE":
                    if not value.isdigit():
                        self.sendCode(501, b"5.5.4 Bad SIZE parameter")
                        return
                    if int(value) > self.max_size:
                        self.sendCode(552, b"5.3.4 Message size exceeds fixed maximum message size")
                        return
        smtp.ESMTP.do_MAIL(self, rest)

    def do_DATA(self, rest: bytes) -> None:
        self.transaction = Transaction(self.max_size)
        self._data_lines = 0
        smtp.ESMTP.do_DATA(self, rest)

    def do_RSET(self, rest: bytes) -> None:
        self._from = None
        self._to = []
        self.sendCode(250, b"2.0.0 Ok")

    def do_NOOP(self, rest: bytes) -> None:
        self.sendCode(250, b"2.0.0 Ok")

    def do_QUIT(self, rest: bytes) -> None:
        self.sendCode(221, b"2.0.0 Bye")
        self._tr.loseConnection()

    def do_VRFY(self, rest: bytes) -> None:
        self.sendCode(252, b"2.5.2 Cannot VRFY user, but will accept message")

    def ext_STARTTLS(self, rest: bytes) -> None:
        before = self.startedTLS
        smtp.ESMTP.ext_STARTTLS(self, rest)
        if self.startedTLS and not before:
            # RFC 3207 §4.2: discard session state and pipelined plaintext.
            self._helo = (None, self._helo[1] if self._helo else b"")
            self._from = None
            self._to = []
            self._queue.clear()
            self._partial = b""
            self._drop_rest = True  # dataReceived drops the rest of its packet

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        d = smtp.ESMTP.validateFrom(self, helo, origin)
        self._busy = True  # cleared by _cb/_ebFromValidate, sync or not
        return d

    def validateTo(self, user: Any) -> Any:
        self._busy = True  # cleared by _cb/_ebToValidate
        return smtp.ESMTP.validateTo(self, user)

    # -- lines -----------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Split lines ourselves: an over-long line is answered and skipped
        instead of dropping the rest of the packet (LineOnlyReceiver)."""
        if self._partial:
            data = self._partial + data
            self._partial = b""
        start = 0
        while not self._tr.disconnecting:
            if self._bulk_ok():
                start = self._bulk_data(data, start)
                if self._bulk_ok():
                    break  # no end of data yet: what is left is a partial line
                continue
            end = data.find(b"\r\n", start)
            if end < 0:
                break
            line = data[start:end]
            start = end + 2
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > DATA_LINE_LIMIT:
                self._line_too_long()
                continue
            self.lineReceived(line)
            if self._drop_rest:  # STARTTLS: what followed was plaintext
                self._drop_rest = False
                return
        rest = data[start:]
        if len(rest) > DATA_LINE_LIMIT:
            if not self._discarding:
                self._line_too_long()
            self._discarding = True
            rest = b""
        self._partial = rest

    def _bulk_ok(self) -> bool:
        """In the body of DATA with nothing pending: take lines in bulk.
        (The first line goes through Twisted, which may add a blank line
        after the Received header when the data has no header.)"""
        return (
            self.mode == smtp.DATA
            and self._data_lines > 0
            and not self._busy
            and not self._queue
            and not self._discarding
        )

    def _bulk_data(self, data: bytes, start: int) -> int:
        """Consume the complete lines of ``data[start:]`` as message body,
        undoing dot-stuffing (RFC 5321 §4.5.2), up to the ``.`` line, which
        is dispatched as usual.  Returns the new start."""
        last = data.rfind(b"\r\n", start)
        if last < 0:
            return start
        chunk = data[start : last + 2]
        if chunk.startswith(b".\r\n"):
            term = 0
        else:
            term = chunk.find(b"\r\n.\r\n")
            term = term + 2 if term >= 0 else -1
        body = chunk if term < 0 else chunk[:term]
        if len(body) > DATA_LINE_LIMIT and max(map(len, body.split(b"\r\n"))) > DATA_LINE_LIMIT:
            self._fail_data(smtp.SMTPServerError(500, "5.5.2 Line too long"))
        if body and getattr(self, "datafailed", None) is None:
            if body[:1] == b".":
                body = body[1:]
            body = body.replace(b"\r\n.", b"\r\n")
            try:
                self.transaction.feed_bulk(body)
            except smtp.SMTPServerError as e:
                self._fail_data(e)
        self.resetTimeout()  # type: ignore[no-untyped-call]
        if term < 0:
            return last + 2
        self.lineReceived(b".")
        return start + term + 3

    def _line_too_long(self) -> None:
        self.lineReceived(TOO_LONG)  # queued like a line, so handled in order

    def _dispatch(self, line: bytes) -> None:
        if line is TOO_LONG:
            if self.mode == smtp.DATA:
                self._fail_data(smtp.SMTPServerError(500, "5.5.2 Line too long"))
            else:
                self.sendCode(500, b"5.5.2 Line too long")
            return
        smtp.ESMTP.lineReceived(self, line)

    def _fail_data(self, error: smtp.SMTPServerError) -> None:
        if getattr(self, "datafailed", None) is None:
            self.datafailed = error
            for message in self.transaction.messages:
                message.connectionLost()

    def lineReceived(self, line: bytes) -> None:
        if self._busy or self._queue:
            self._queue.append(line)
            if len(self._queue) > _QUEUE_PAUSE and not self._paused:
                self._paused = True
                self._tr.pauseProducing()
            return
        self._dispatch(line)

    def state_COMMAND(self, line: bytes) -> None:
        if len(line) > COMMAND_LINE_LIMIT:
            self.sendCode(500, b"5.5.2 Line too long")
            return
        smtp.ESMTP.state_COMMAND(self, line)

    def state_DATA(self, line: bytes) -> None:
        self._data_lines += 1
        if line == b".":
            error = getattr(self, "datafailed", None)
            if error is not None:
                self.mode = smtp.COMMAND
                self.datafailed = None
                self.reply_data_failed(error)
                self.transaction = Transaction(self.max_size)
                return
            self._busy = True  # cleared by _messageHandled once stored
        smtp.ESMTP.dataLineReceived(self, line)

    def _resume(self) -> None:
        """The pending command replied: run the lines that waited for it."""
        self._busy = False
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue and not self._busy and not self._tr.disconnecting:
                self._dispatch(self._queue.popleft())
        finally:
            self._draining = False
        if self._paused and not self._queue:
            self._paused = False
            self._tr.resumeProducing()

    def connectionLost(self, reason: Any = None) -> None:
        self._queue.clear()
        smtp.ESMTP.connectionLost(self, reason)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "replace")
