"""The delivery hook seam: quotas, filters and notifications hook in once.

Every delivery path (SMTP, LMTP, ``mailframe deliver``, user code) goes
through :class:`mailframe.smtp.delivery.Delivery`, which calls each hook:

- ``before_delivery(request)`` before the message is stored.  It returns the
  request (possibly changed with ``dataclasses.replace()``: another
  mailbox, extra flags) or a Deferred of it, or raises
  :class:`DeliveryRefused` (or a :mod:`mailframe.errors` error such as
  ``OverQuota``) to refuse this copy.
- ``delivered(message)`` after the copy is durable.  It must not block: the
  return value is ignored, and an exception is logged and swallowed, so a
  notification can never fail or delay a delivery.

Subclass :class:`DeliveryHook` and override what you need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from functools import cached_property
from typing import Any

from zope.interface import Interface, implementer

__all__ = [
    "DeliveredMessage",
    "DeliveryHook",
    "DeliveryRefused",
    "DeliveryRequest",
    "IDeliveryHook",
]


class DeliveryRefused(Exception):
    """A hook's refusal, with the SMTP reply to give (RFC 5321 §4.2,
    enhanced status code from RFC 3463).  ``code`` 4xx is temporary (the
    sender retries), 5xx permanent."""

    def __init__(
        self, code: int = 550, status: str = "5.7.1", text: str = "Delivery refused"
    ) -> None:
        super().__init__(f"{code} {status} {text}")
        self.code = code
        self.status = status
        self.text = text


@dataclass(frozen=True)
class DeliveryRequest:
    """One copy about to be stored (what ``before_delivery`` may change)."""

    username: str
    mailbox: str
    content: bytes
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None
    sender: str | None = None
    recipient: str | None = None


def _decoded(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # malformed RFC 2047: keep the raw text
        return str(value)


@dataclass(frozen=True)
class DeliveredMessage:
    """One copy that is now durably stored."""

    username: str
    mailbox: str
    uid: int
    content: bytes = field(repr=False)
    sender: str | None = None
    recipient: str | None = None

    @cached_property
    def headers(self) -> Message:
        """The header block, parsed on first use only (RFC 5322 §2.2)."""
        end = self.content.find(b"\r\n\r\n")
        head = self.content if end < 0 else self.content[: end + 4]
        return BytesHeaderParser().parsebytes(head)

    @property
    def subject(self) -> str | None:
        """Subject, RFC 2047 encoded-words decoded."""
        return _decoded(self.headers, "Subject")

    @property
    def from_(self) -> str | None:
        """From, RFC 2047 encoded-words decoded."""
        return _decoded(self.headers, "From")

    @property
    def message_id(self) -> str | None:
        return _decoded(self.headers, "Message-ID")

    @property
    def size(self) -> int:
        return len(self.content)


class IDeliveryHook(Interface):
    """Called by :class:`mailframe.smtp.delivery.Delivery` for each copy."""

    def before_delivery(request):  # type: ignore[no-untyped-def]
        """DeliveryRequest or Deferred[DeliveryRequest]; may raise
        DeliveryRefused to refuse the copy."""

    def delivered(message):  # type: ignore[no-untyped-def]
        """Called with a DeliveredMessage once stored; must not block."""


@implementer(IDeliveryHook)
class DeliveryHook:
    """No-op base: override ``before_delivery`` and/or ``delivered``."""

    def before_delivery(self, request: DeliveryRequest) -> Any:
        return request

    def delivered(self, message: DeliveredMessage) -> None:
        return None
