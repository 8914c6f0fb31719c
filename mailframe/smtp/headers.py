"""What a message submission agent adds to a message (RFC 6409 §8).

A submitted message without ``Date:`` (§8.3) or ``Message-ID:`` (§8.2)
gets one, appended to its header section; nothing else is changed.
Sans-IO.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

__all__ = ["complete_headers", "header_names"]

_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def _split(message: bytes) -> tuple[bytes, bytes]:
    """(header section with its final CRLF, the rest from the blank line)."""
    if message.startswith(b"\r\n"):
        return b"", message
    end = message.find(b"\r\n\r\n")
    if end < 0:
        if message and not message.endswith(b"\r\n"):
            message += b"\r\n"
        return message, b""
    return message[: end + 2], message[end + 2 :]


def header_names(message: bytes) -> set[str]:
    """The lower-cased names of the header fields present."""
    head, _ = _split(message)
    names = set()
    for line in head.split(b"\r\n"):
        m = _NAME.match(line)
        if m:
            names.add(m.group(1).decode("ascii").lower())
    return names


def complete_headers(message: bytes, *, domain: str, when: datetime | None = None) -> bytes:
    """``message`` with ``Date:`` and ``Message-ID:`` added when missing;
    the Message-ID's right side is ``domain``."""
    names = header_names(message)
    added = b""
    if "date" not in names:
        added += b"Date: " + format_datetime(when or datetime.now(UTC)).encode("ascii") + b"\r\n"
    if "message-id" not in names:
        added += b"Message-ID: <" + secrets.token_hex(16).encode() + b"@" + domain.encode(
            "idna") + b">\r\n"
    if not added:
        return message
    head, rest = _split(message)
    if not rest:
        rest = b"\r\n"
    return head + added + rest
