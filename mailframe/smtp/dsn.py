"""Delivery status notifications: the bounce for mail the queue gave up on.

A ``multipart/report; report-type=delivery-status`` message (RFC 6522)
with a human-readable part, a ``message/delivery-status`` part (RFC 3464
§2: per-message fields, then one block of per-recipient fields with
``Action: failed``, ``Status`` from RFC 3463, ``Diagnostic-Code`` quoting
the remote reply) and the returned headers (``text/rfc822-headers``,
RFC 6522 §3) — the headers only, so a bounce never doubles a large
message.  Sans-IO.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

__all__ = ["Bounced", "build_bounce"]


@dataclass(frozen=True)
class Bounced:
    """One failed recipient."""

    recipient: str
    status: str  # RFC 3463, e.g. "5.1.1"
    diagnostic: str  # the remote reply, e.g. "550 5.1.1 User unknown"
    remote_mta: str = ""


def _header_block(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[: end + 2]
    return head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _field(value: str) -> bytes:
    """One header field value on one line, ASCII-safe (RFC 3464 §2.1.1)."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in value)
    return clean.strip().encode("ascii")


def build_bounce(
    *,
    reporting_mta: str,
    sender: str,
    failures: Sequence[Bounced],
    original: bytes,
    arrival: datetime,
    when: datetime | None = None,
) -> bytes:
    """The whole bounce message, CRLF lines, addressed to ``sender``."""
    when = when or datetime.now(UTC)
    boundary = "=_mailframe_" + secrets.token_hex(12)
    mta = _field(reporting_mta).decode()
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{mta}>",
        f"To: <{_field(sender).decode()}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <{secrets.token_hex(16)}@{mta}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Description: Notification",
        "",
        f"This is the mail system at {mta}.",
        "",
        "Your message could not be delivered to the following recipients:",
        "",
    ]
    for f in failures:
        lines.append(f"<{_field(f.recipient).decode()}>: {_field(f.diagnostic).decode()}")
    lines += [
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "Content-Description: Delivery report",
        "",
        f"Reporting-MTA: dns; {mta}",
        f"Arrival-Date: {format_datetime(arrival)}",
    ]
    for f in failures:
        lines += [
            "",
            f"Final-Recipient: rfc822; {_field(f.recipient).decode()}",
            "Action: failed",
            f"Status: {_field(f.status).decode()}",
        ]
        if f.remote_mta:
            lines.append(f"Remote-MTA: dns; {_field(f.remote_mta).decode()}")
        lines += [
            f"Diagnostic-Code: smtp; {_field(f.diagnostic).decode()}",
            f"Last-Attempt-Date: {format_datetime(when)}",
        ]
    lines += [
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "Content-Description: Undelivered message headers",
        "",
    ]
    head = "\r\n".join(lines).encode("ascii") + b"\r\n" + _header_block(original)
    return head + f"\r\n--{boundary}--\r\n".encode("ascii")
