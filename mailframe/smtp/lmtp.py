"""LMTP (RFC 2033) on the same classes as SMTP.

Differences from ESMTP (RFC 2033 §4): the greeting names LMTP; ``LHLO``
replaces HELO/EHLO, which get 500 (§4.1); after the final ``.`` of DATA
there is one reply per accepted recipient, in RCPT order (§4.2), each sent
once that recipient's copy is stored.  PIPELINING and ENHANCEDSTATUSCODES
are always offered (§5).  Twisted has no LMTP server: this is ESMTP with
those changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.mail import smtp

from mailframe.smtp._message import Outcome
from mailframe.smtp._session import DEFAULT_MAX_SIZE, DeliverySession
from mailframe.smtp.delivery import Delivery
from mailframe.smtp.esmtp import DeliveryFactory

__all__ = ["LMTPDelivery", "lmtp_factory"]


class LMTPDelivery(DeliverySession):
    """An LMTP server session delivering into a :class:`Delivery`."""

    protocol_name = "LMTP"

    def greeting(self) -> bytes:
        host: bytes = self.host
        return host + b" LMTP ready"

    def with_protocol(self) -> str:
        return "LMTPS" if self.startedTLS else "LMTP"

    def do_LHLO(self, rest: bytes) -> None:
        self._hello(rest, True)

    def do_HELO(self, rest: bytes) -> None:
        self.sendCode(500, b"5.5.1 Use LHLO (this is LMTP, RFC 2033)")

    def do_EHLO(self, rest: bytes) -> None:
        self.sendCode(500, b"5.5.1 Use LHLO (this is LMTP, RFC 2033)")

    def reply_after_data(self, outcomes: list[Outcome]) -> None:
        """RFC 2033 §4.2: one reply per successful RCPT, in order."""
        for outcome in outcomes:
            self.sendCode(outcome.code, outcome.line())

    def reply_data_failed(self, error: smtp.SMTPServerError) -> None:
        """RFC 2033 §4.2: even a failed DATA gets one reply per recipient."""
        for _ in range(max(1, len(self.transaction.messages))):
            DeliverySession.reply_data_failed(self, error)


def lmtp_factory(
    delivery: Delivery,
    domains: Sequence[str] = ("localhost",),
    max_size: int = DEFAULT_MAX_SIZE,
    tls: Any = None,
    hostname: str | None = None,
) -> DeliveryFactory:
    """A ServerFactory for LMTP (use a unix socket or loopback TCP; never
    port 25, RFC 2033 §1)."""
    return DeliveryFactory(LMTPDelivery, delivery, domains, max_size, tls, hostname)
