"""ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) and the sent date.

``envelope_wire`` turns a message's header fields into the ENVELOPE in
wire form: date, subject, from, sender,
reply-to, to, cc, bcc, in-reply-to, message-id.  Values are unfolded the
way Dovecot 2.3.19 does it, byte for byte: the subject and display names
"for humans" (white space runs become one space, see :func:`for_humans`),
date and message ids only losing their line breaks; a missing or empty
Sender / Reply-To takes the From value (RFC 3501 §7.4.2).
"""

from __future__ import annotations

import datetime
import re
from email._parseaddr import _parsedate_tz

from mailframe.wire import NIL

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


_CRLF = re.compile(rb"[\r\n]+")
_LWSP_RUN = re.compile(rb"[ \t]+")
_QUOTED_OK = re.compile(rb"[\t\x20-\x7e]*")


def _nstring(value: bytes | None) -> bytes:
    """An nstring as Dovecot writes one (``imap_append_nstring``): quoted,
    with ``"`` and ``\\`` escaped and TAB allowed, unless a line break, a
    control or an 8-bit octet asks for a literal."""
    if value is None:
        return NIL
    if _QUOTED_OK.fullmatch(value):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(value) + value


def _value(field_value: bytes) -> bytes:
    """A field's value as Dovecot's header parser hands it on: without the
    white space after the colon and the CR ending its last line."""
    value = field_value.lstrip(b" \t")
    return value[:-1] if value.endswith(b"\r") else value


def _nolf(value: bytes) -> bytes:
    """Date, In-Reply-To, Message-ID: the value with its line breaks (and
    NUL) removed; folding white space stays as sent, even at the start of
    a value that begins on a continuation line, as in Dovecot's ENVELOPE."""
    value = _CRLF.sub(b"", value)
    if b"\x00" in value:
        value = value.replace(b"\x00", b"")
    return value


def for_humans(value: bytes) -> bytes:
    """Subject and display names as Dovecot 2.3 sends them
    (``imap_append_string_for_humans``): line breaks removed, every run of
    spaces and TABs one space, none at either end, NUL as 0x80.  Text that
    needed none of that (and holds no ``"``, ``\\`` or 8-bit octet) goes
    quoted as it is; otherwise the cleaned text goes as a literal -- or
    as ``""`` when nothing is left."""
    out = _CRLF.sub(b"", value)
    out = _LWSP_RUN.sub(b" ", out).strip(b" ")
    if b"\x00" in out:
        out = out.replace(b"\x00", b"\x80")
    if out == value and _PLAIN.fullmatch(value):
        return b'"' + value + b'"'
    if not out:
        return b'""'
    return b"{%d}\r\n" % len(out) + out


_PLAIN = re.compile(rb'[\x20-\x21\x23-\x5b\x5d-\x7e]*')  # no CTL, ", \\ or 8-bit


def _address_list(values: list[bytes] | None) -> bytes:
    """An address list in wire form, NIL when empty (RFC 3501 §7.4.2:
    ``"(" 1*address ")"``, no space between the addresses)."""
    if not values:
        return NIL
    addrs = [a for v in values for a in parse_addresses(v)]
    if not addrs:
        return NIL
    return (
        b"("
        + b"".join(
            b"(%s %s %s %s)"
            % (NIL if n is None else for_humans(n), _nstring(r), _nstring(m), _nstring(h))
            for n, r, m, h in addrs
        )
        + b")"
    )


def _last(values: list[bytes] | None) -> bytes:
    return NIL if not values else _nstring(_nolf(values[-1]))


def envelope_wire(fields: dict[bytes, list[bytes]]) -> bytes:
    """The ENVELOPE in wire form from the raw (folded) values of each
    header field, byte for byte what Dovecot 2.3.19 sends.

    A repeated address field contributes all its addresses, a repeated
    text field its last value (as Dovecot does).
    """
    fields = {k: [_value(v) for v in vs] for k, vs in fields.items()}
    get = fields.get
    frm = _address_list(get(b"from"))
    sender = _address_list(get(b"sender"))
    reply_to = _address_list(get(b"reply-to"))
    subjects = get(b"subject")
    return b"(%s)" % b" ".join(
        (
            _last(get(b"date")),
            NIL if not subjects else for_humans(subjects[-1]),
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
