"""Twisted's IMessageDelivery / IMessage for the store, shared by SMTP and LMTP.

One DATA phase is a :class:`Transaction`: Twisted feeds every line to every
recipient's :class:`StoredMessage`; only the first one records it, so a
message to N recipients is held once, and the size limit (RFC 1870 SIZE) is
checked once.  Each copy gets its own ``Return-Path:`` and ``Received: ...
for <rcpt>`` (RFC 5321 §4.4) and is stored through the one delivery API.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.python.failure import Failure
from zope.interface import implementer

from mailframe.errors import NoPermission, OverQuota, TooBig
from mailframe.ops import events
from mailframe.smtp.addressing import Recipient, parse_recipient
from mailframe.smtp.hooks import DeliveryRefused, DeliveryRequest
from mailframe.smtp.trace import received_header, return_path_header

if TYPE_CHECKING:
    from mailframe.smtp._session import DeliverySession

__all__ = ["Outcome", "StoreMessageDelivery", "StoredMessage", "Transaction", "outcome_for_failure"]

_log = Logger()


@dataclass(frozen=True)
class Outcome:
    """The reply one copy earns: code, RFC 3463 enhanced status, text."""

    code: int
    status: str
    text: str

    def line(self) -> bytes:
        return f"{self.status} {self.text}".encode("utf-8", "replace")


def outcome_for_failure(failure: Failure, rcpt: str) -> Outcome:
    """Map a delivery failure to its reply (RFC 3463 §3.3, §3.4)."""
    err = failure.value
    if isinstance(err, DeliveryRefused):
        return Outcome(err.code, err.status, f"<{rcpt}> {err.text}")
    if isinstance(err, OverQuota):
        return Outcome(552, "5.2.2", f"<{rcpt}> Mailbox full")
    if isinstance(err, TooBig):
        return Outcome(552, "5.3.4", f"<{rcpt}> Message too big for mailbox")
    if isinstance(err, NoPermission):
        return Outcome(550, "5.7.1", f"<{rcpt}> Delivery not permitted")
    _log.failure("delivery to {rcpt} failed", failure, rcpt=rcpt)
    return Outcome(451, "4.3.0", f"<{rcpt}> Temporary local error, try again later")


class Transaction:
    """The body of one DATA phase, recorded once for every recipient."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.queue_id = secrets.token_hex(6).upper()
        self.messages: list[StoredMessage] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._body: bytes | None = None

    def feed(self, message: StoredMessage, line: bytes) -> None:
        """One line (without CRLF) from Twisted's per-line DATA path."""
        if message is self.messages[0]:
            self.feed_bulk(line + b"\r\n")

    def feed_bulk(self, data: bytes) -> None:
        """Whole CRLF-ended lines, already dot-unstuffed (the fast path)."""
        self._size += len(data)
        if self._size > self.max_size:
            self._chunks = []
            raise smtp.SMTPServerError(552, "5.3.4 Message size exceeds fixed maximum message size")
        self._chunks.append(data)

    def body(self) -> bytes:
        """The data as received, dot-unstuffed, every line CRLF-ended."""
        if self._body is None:
            self._body = b"".join(self._chunks)
            self._chunks = []
        return self._body


@implementer(smtp.IMessage)
class StoredMessage:
    """One recipient's copy (twisted.mail IMessage)."""

    def __init__(
        self, session: DeliverySession, user: smtp.User, rcpt: Recipient, username: str
    ) -> None:
        self.session = session
        self.user = user
        self.rcpt = rcpt
        self.username = username
        self.transaction = session.transaction
        self.transaction.messages.append(self)
        self._trace: bytes | None = None
        self.lost = False

    def lineReceived(self, line: bytes) -> None:
        if self._trace is None:  # Twisted sends receivedHeader() first
            self._trace = line + b"\r\n"
            return
        self.transaction.feed(self, line)

    def eomReceived(self) -> Deferred[Outcome]:
        sender = str(self.user.orig)
        content = return_path_header(sender) + (self._trace or b"") + self.transaction.body()
        request = DeliveryRequest(
            username=self.username,
            mailbox=self.rcpt.mailbox,
            content=content,
            sender=sender,
            recipient=str(self.user.dest),
        )
        started = time.monotonic()
        d = self.session.delivery_api.deliver_request(request)
        rcpt = str(self.user.dest)
        qid = self.transaction.queue_id
        folder: list[str] = []

        def stored(m: Any) -> Outcome:
            folder.append(m.mailbox)
            return Outcome(250, "2.0.0", f"<{rcpt}> Ok: stored as UID {m.uid} ({qid})")

        def logged(outcome: Outcome) -> Outcome:
            events.delivery(
                self.session.protocol_name.lower().replace("esmtp", "smtp"), queue_id=qid,
                sender=sender, recipient=rcpt, user=self.username, size=len(content),
                folder=folder[0] if folder else None, code=outcome.code,
                seconds=time.monotonic() - started)
            return outcome

        return d.addCallbacks(stored, lambda f: outcome_for_failure(f, rcpt)).addCallback(logged)

    def connectionLost(self) -> None:
        self.lost = True


@implementer(smtp.IMessageDelivery)
class StoreMessageDelivery:
    """Recipient policy: local domains only, known users only, no relay."""

    def __init__(self, session: DeliverySession) -> None:
        self.session = session

    def receivedHeader(
        self, helo: tuple[bytes | None, bytes], origin: smtp.Address, recipients: list[smtp.User]
    ) -> bytes:
        s = self.session
        return received_header(
            helo=helo[0],
            peer=helo[1],
            by=s.host,
            protocol=s.with_protocol(),
            recipient=str(recipients[0].dest) if len(recipients) == 1 else None,
            queue_id=s.transaction.queue_id,
        )[:-2]

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        return origin  # no relaying happens, so any sender may deliver locally

    def validateTo(self, user: smtp.User) -> Deferred[Any]:
        s = self.session
        dest = user.dest
        addr = str(dest)
        domain = dest.domain.decode("ascii", "replace").lower().rstrip(".")
        if len(s._to) >= s.max_recipients:
            raise smtp.SMTPBadRcpt(user, 452, "4.5.3 Too many recipients")
        if domain not in s.domains:
            raise smtp.SMTPBadRcpt(user, 550, f"5.7.1 <{addr}>: Relay access denied")
        rcpt = parse_recipient(dest.local.decode("utf-8", "replace"), domain, s.detail_delimiter)
        d = s.delivery_api.lookup(rcpt.local, domain)

        def found(username: str | None) -> Any:
            if username is None:
                raise smtp.SMTPBadRcpt(
                    user, 550, f"5.1.1 <{addr}>: Recipient address rejected: User unknown"
                )
            return lambda: StoredMessage(s, user, rcpt, username)

        def failed(f: Failure) -> Failure:
            if f.check(smtp.SMTPServerError):
                return f
            _log.failure("recipient lookup for {addr} failed", f, addr=addr)
            return Failure(smtp.SMTPBadRcpt(user, 451, "4.3.0 Temporary lookup failure"))

        return d.addCallback(found).addErrback(failed)
