"""Trace headers added at final delivery (RFC 5321 §4.4).

``Return-Path:`` records the envelope sender (MAIL FROM, ``<>`` for bounces)
and is added only by the final delivery agent; ``Received:`` records who
handed the message over, to whom, and with which protocol.  The ``with``
keywords come from RFC 3848 (ESMTP, ESMTPS, LMTP, LMTPS, ...).  Sans-IO.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime

__all__ = ["received_header", "return_path_header"]

_UNSAFE = re.compile(rb"[^\x21-\x7e ]")


def _clean(value: bytes | str | None) -> bytes:
    """Printable ASCII only: peer-supplied text must not break a header."""
    if value is None:
        return b""
    if isinstance(value, str):
        value = value.encode("utf-8", "replace")
    return _UNSAFE.sub(b"?", value).strip()


def return_path_header(sender: bytes | str) -> bytes:
    """``Return-Path: <sender>`` + CRLF (RFC 5321 §4.4)."""
    return b"Return-Path: <" + _clean(sender).strip(b"<>") + b">\r\n"


def received_header(
    *,
    helo: bytes | str | None,
    peer: bytes | str,
    by: bytes | str,
    protocol: str,
    recipient: bytes | str | None,
    queue_id: str,
    when: datetime | None = None,
) -> bytes:
    """A folded ``Received:`` header + CRLF (RFC 5321 §4.4, RFC 5322 §3.6.7).

    It reads::

        Received: from HELO ([PEER])
                by BY (mailframe) with PROTOCOL id QUEUEID
                for <RCPT>; DATE
    """
    when = when or datetime.now(UTC)
    helo_b = _clean(helo) or b"unknown"
    lines = [
        b"Received: from " + helo_b + b" ([" + _clean(peer) + b"])",
        b"\tby "
        + _clean(by)
        + b" (mailframe) with "
        + _clean(protocol)
        + b" id "
        + _clean(queue_id),
    ]
    stamp = format_datetime(when).encode("ascii")
    if recipient:
        lines.append(b"\tfor <" + _clean(recipient).strip(b"<>") + b">; " + stamp)
    else:
        lines[-1] += b"; " + stamp
    return b"\r\n".join(lines) + b"\r\n"
