"""ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) and the sent date.

``envelope_value`` turns a message's header fields into the ENVELOPE value
for :func:`mailframe.imap.serialize.encode`: date, subject, from, sender,
reply-to, to, cc, bcc, in-reply-to, message-id.  Values are unfolded and
trimmed but otherwise as sent (8-bit octets go out as literals); a missing
or empty Sender / Reply-To takes the From value (RFC 3501 §7.4.2).
"""

from __future__ import annotations

import datetime
from email.utils import _parsedate_tz
from typing import Any

from mailframe.imap.serialize import Value

from ._address import parse_addresses

__all__ = ["ENVELOPE_FIELDS", "envelope_value", "sent_date"]

ENVELOPE_FIELDS = frozenset(
    {
        b"date",
        b"subject",
        b"from",
        b"sender",
        b"reply-to",
        b"to",
        b"cc",
        b"bcc",
        b"in-reply-to",
        b"message-id",
    }
)


def _addresses(values: list[bytes] | None) -> Value:
    if not values:
        return None
    addrs = [a for v in values for a in parse_addresses(v)]
    if not addrs:
        return None
    return [list(a) for a in addrs]


def envelope_value(fields: dict[bytes, list[bytes]]) -> Value:
    """The ENVELOPE value from the unfolded values of each header field.

    A repeated address field contributes all its addresses, a repeated
    text field its last value (as Dovecot does).
    """
    fields = dict(fields)
    for key in (b"date", b"subject", b"in-reply-to", b"message-id"):
        if key in fields:
            fields[key] = fields[key][-1]  # type: ignore[assignment]
    get: Any = fields.get
    frm = _addresses(get(b"from"))
    sender = _addresses(get(b"sender"))
    reply_to = _addresses(get(b"reply-to"))
    return [
        get(b"date"),
        get(b"subject"),
        frm,
        frm if sender is None else sender,
        frm if reply_to is None else reply_to,
        _addresses(get(b"to")),
        _addresses(get(b"cc")),
        _addresses(get(b"bcc")),
        get(b"in-reply-to"),
        get(b"message-id"),
    ]


def sent_date(value: bytes | None) -> datetime.date | None:
    """The date part of a Date: header in the header's own zone.

    RFC 3501 §6.4.4 (SENTBEFORE/SENTON/SENTSINCE) compares "disregarding
    time and timezone", so the calendar date as written is what counts.
    """
    if not value:
        return None
    try:
        parsed = _parsedate_tz(value.decode("latin-1"))
        if not parsed:
            return None
        return datetime.date(parsed[0], parsed[1], parsed[2])
    except Exception:
        return None
