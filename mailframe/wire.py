"""IMAP wire primitives (RFC 3501 §4): NIL, quoted strings, literals.

A leaf module: the message model pre-encodes ENVELOPE and BODYSTRUCTURE
with these, and :mod:`mailframe.imap.serialize` builds every response on
them, so neither layer imports the other for them.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from mailframe.errors import ProtocolError

__all__ = ["NIL", "QUOTED_MAX", "MONTHS", "quote", "string", "literal", "nstring", "date_time", "b64decode"]

#: Month names of ``date-month`` (RFC 3501 §9).
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Quoted strings are for short, clean text; longer ones go as literals
# (Dovecot's threshold is similar and keeps lines short).
QUOTED_MAX = 1024

_QUOTABLE = frozenset(range(0x20, 0x7F))

NIL = b"NIL"


def quote(data: bytes) -> bytes | None:
    """``data`` as a quoted string, or None when it cannot be one."""
    if len(data) > QUOTED_MAX or not _QUOTABLE.issuperset(data):
        return None
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def string(data: bytes) -> bytes:
    """``data`` as quoted or literal, whichever the bytes allow."""
    quoted = quote(data)
    if quoted is not None:
        return quoted
    return b"{%d}\r\n" % len(data) + data


def literal(data: bytes, binary: bool = False) -> bytes:
    """``data`` as a literal (RFC 3501 §4.3), or a ``literal8`` (``~{n}``,
    RFC 3516 §4.3) when ``binary``.  A plain literal may not carry NUL
    (RFC 3501 §9 CHAR8): like Dovecot, NUL octets go out as 0x80, so the
    size stays the size of the stored section."""
    if binary:
        return b"~{%d}\r\n" % len(data) + data
    if b"\x00" in data:
        data = data.replace(b"\x00", b"\x80")
    return b"{%d}\r\n" % len(data) + data


def nstring(data: bytes | None) -> bytes:
    return NIL if data is None else string(data)


#: ``"dd-Mon-yyyy `` by proleptic ordinal and `` +hhmm"`` by fixed zone:
#: a mailbox's dates fall on a few thousand days in a few zones, so a
#: header sync of 20 000 messages formats only the time of day of each
#: (the LRU cache of :func:`date_time` holds fewer than that).
_DAYS: dict[int, bytes] = {}
_ZONES: dict[tzinfo | None, bytes] = {}


def _zone(when: datetime) -> bytes:
    offset = when.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f' {sign}{hh:02d}{mm:02d}"'.encode("ascii")


@lru_cache(maxsize=8192)
def date_time(when: datetime) -> bytes:
    """``date-time`` (RFC 3501 §9), quoted: ``"07-Jul-1996 02:44:25 -0700"``
    (the day as two digits: the grammar's ``2DIGIT`` form, as Dovecot
    writes it, rather than the space-padded one).  The one formatter: INTERNALDATE in FETCH
    and APPEND dates written by clients alike.  A naive datetime is taken
    as UTC, as the stores take it (INTERNALDATE always has a zone)."""
    tz = when.tzinfo
    if tz is None or type(tz) is timezone:  # a fixed offset: the same suffix for every date
        zone = _ZONES.get(tz)
        if zone is None:
            zone = _ZONES[tz] = _zone(when)
    else:  # a zone with daylight saving: the offset of this date
        zone = _zone(when)
    key = when.toordinal()
    day = _DAYS.get(key)
    if day is None:
        if len(_DAYS) >= 8192:
            _DAYS.clear()
        day = _DAYS[key] = f'"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} '.encode("ascii")
    return day + b"%02d:%02d:%02d" % (when.hour, when.minute, when.second) + zone


def b64decode(data: bytes) -> bytes:
    """Strict base64 for SASL responses (RFC 4422 §5); BAD otherwise."""
    try:
        return base64.b64decode(data, validate=True)
    except (ValueError, TypeError) as e:
        raise ProtocolError("Invalid base64 data") from e
