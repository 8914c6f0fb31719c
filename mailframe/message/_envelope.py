"""ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) and the sent date.

``envelope_wire`` turns a message's header fields into the ENVELOPE in
wire form: date, subject, from, sender,
reply-to, to, cc, bcc, in-reply-to, message-id.  Values are unfolded and
trimmed but otherwise as sent (8-bit octets go out as literals); a missing
or empty Sender / Reply-To takes the From value (RFC 3501 §7.4.2).
"""

from __future__ import annotations

import datetime
from email._parseaddr import _parsedate_tz

from mailframe.imap.serialize import NIL, nstring, string

from ._address import parse_addresses

__all__ = ["ENVELOPE_FIELDS", "envelope_wire", "sent_date"]

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


def _address_list(values: list[bytes] | None) -> bytes:
    """An address list in wire form, NIL when empty (RFC 3501 §7.4.2)."""
    if not values:
        return NIL
    addrs = [a for v in values for a in parse_addresses(v)]
    if not addrs:
        return NIL
    return (
        b"("
        + b" ".join(
            b"(%s %s %s %s)" % (nstring(n), nstring(r), nstring(m), nstring(h))
            for n, r, m, h in addrs
        )
        + b")"
    )


def _last(values: list[bytes] | None) -> bytes:
    return NIL if not values else string(values[-1])


def envelope_wire(fields: dict[bytes, list[bytes]]) -> bytes:
    """The ENVELOPE in wire form from the unfolded values of each header
    field (built from :mod:`mailframe.imap.serialize` primitives).

    A repeated address field contributes all its addresses, a repeated
    text field its last value (as Dovecot does).
    """
    get = fields.get
    frm = _address_list(get(b"from"))
    sender = _address_list(get(b"sender"))
    reply_to = _address_list(get(b"reply-to"))
    return b"(%s)" % b" ".join(
        (
            _last(get(b"date")),
            _last(get(b"subject")),
            frm,
            frm if sender == NIL else sender,
            frm if reply_to == NIL else reply_to,
            _address_list(get(b"to")),
            _address_list(get(b"cc")),
            _address_list(get(b"bcc")),
            _last(get(b"in-reply-to")),
            _last(get(b"message-id")),
        )
    )


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
