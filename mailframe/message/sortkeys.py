"""Sort and thread keys of one message (RFC 5256, RFC 5957, RFC 5051).

:func:`sort_keys` turns a parsed :class:`MessageInfo` plus the two facts
the store keeps beside it (size, internal date) into a :class:`SortKeys`:
every value SORT and THREAD compare, already in collation form, so a SORT
of a big mailbox is one ``list.sort`` over cached tuples.  Strings follow
Dovecot 2.3: header text RFC 2047-decoded, then mapped with
:func:`unicode_casemap` (titlecase, then canonical decomposition, RFC 5051
§2) and compared code point by code point (which is UTF-8 octet order).
"""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from email.utils import _parsedate_tz  # type: ignore[attr-defined]
from typing import TYPE_CHECKING

from ._address import parse_addresses
from ._decode import decode_words
from ._headers import _FIELD, unfold

if TYPE_CHECKING:
    from datetime import datetime

    from ._info import MessageInfo

__all__ = [
    "SortKeys",
    "sort_keys",
    "base_subject",
    "unicode_casemap",
    "ascii_casemap",
    "parse_date",
    "message_ids",
]


def ascii_casemap(text: str) -> str:
    """The ``i;ascii-casemap`` collation key (RFC 4790 §9.2): a-z as A-Z,
    everything else as is."""
    return text.upper() if text.isascii() else text.translate(_ASCII_UPPER)


_ASCII_UPPER = {c: c - 32 for c in range(0x61, 0x7B)}


@functools.lru_cache(maxsize=4096)
def _casemap_char(ch: str) -> str:
    """One character of :func:`unicode_casemap`: its simple titlecase
    mapping (UnicodeData field 14; a character whose titlecase is several
    characters stays), then its compatibility decomposition, not cased
    again.  Titlecase digraphs (category Lt: ǅ ǈ ǋ ǲ) stay whole.  Each
    rule measured against Dovecot 2.3.19's SORT: ``Ｆ`` sorts as ``F``,
    ``Ⅸ`` as ``IX``, ``ſ`` as ``S``, ``µ`` as ``Μ``, ``ﬁ`` as ``fi``
    (lower case, after ``Z``), ``ß`` and ``ǅ`` as themselves."""
    t = ch.title()
    if len(t) != 1:
        t = ch
    if unicodedata.category(t) == "Lt":
        return t
    return unicodedata.normalize("NFKD", t)


def unicode_casemap(text: str) -> str:
    """The ``i;unicode-casemap`` collation key (RFC 5051 §2) as Dovecot
    2.3 computes it: each character titlecased, then decomposed (see
    :func:`_casemap_char`).  Dovecot's SORT uses this collation."""
    if text.isascii():
        return text.upper()
    return "".join(map(_casemap_char, text))


# --- base subject (RFC 5256 §2.1) ----------------------------------------

_WS = re.compile(r"[ \t\r\n]+")


def _remove_blob(s: str, i: int) -> int:
    """``subj-blob = "[" *BLOBCHAR "]" *WSP`` at ``i``: the index after it,
    or -1 when there is none."""
    if i >= len(s) or s[i] != "[":
        return -1
    j = i + 1
    n = len(s)
    while j < n and s[j] not in "[]":
        j += 1
    if j >= n or s[j] != "]":
        return -1
    j += 1
    if j < n and s[j] == " ":
        j += 1
    return j


def _remove_leader(s: str, i: int) -> tuple[int, bool, bool]:
    """Step (3): a ``subj-leader`` at ``i``; (new index, found, was a
    reply/forward marker)."""
    found = False
    if i < len(s) and s[i] == " ":
        i += 1
        found = True
    j = i
    while j < len(s) and s[j] == "[":
        k = _remove_blob(s, j)
        if k < 0:
            return i, found, False
        j = k
    if s.startswith("RE", j):
        j += 2
    elif s.startswith("FWD", j):
        j += 3
    elif s.startswith("FW", j):
        j += 2
    else:
        return i, found, False
    if j < len(s) and s[j] == " ":
        j += 1
    if j < len(s) and s[j] == "[":
        k = _remove_blob(s, j)
        if k < 0:
            return i, found, False
        j = k
    if j >= len(s) or s[j] != ":":
        return i, found, False
    return j + 1, True, True


def base_subject(subject: str) -> tuple[str, bool]:
    """The base subject of an already decoded subject (RFC 5256 §2.1),
    in ``i;unicode-casemap`` form, and whether it was a reply or forward
    (it lost a ``Re:``, ``Fwd:``, ``(fwd)`` or ``[fwd: ...]``).

    Follows the RFC's steps as Dovecot 2.3 applies them: whitespace runs
    become one space (step 1); trailing ``(fwd)`` and spaces go (2);
    leading ``subj-leader`` (3) and non-final ``subj-blob`` (4) repeatedly
    (5); a ``[fwd: ...]`` wrapper is unwrapped and we start over (6).
    """
    s = _WS.sub(" ", unicode_casemap(subject))
    start = 0
    end = len(s)
    reply = False
    while True:
        # (2) subj-trailer = "(fwd)" / WSP
        while end > start:
            if s[end - 1] == " ":
                end -= 1
            elif end - start >= 5 and s[end - 5 : end] == "(FWD)":
                end -= 5
                reply = True
            else:
                break
        s = s[:end]
        while True:
            start, found, was = _remove_leader(s, start)
            reply = reply or was
            k = _remove_blob(s, start)  # (4) only when text remains
            if k >= 0 and k < len(s):
                start = k
                found = True
            if not found:
                break
        # (6) subj-fwd = "[fwd:" subj-base "]"
        if s.startswith("[FWD:", start) and len(s) - start >= 6 and s.endswith("]"):
            reply = True
            s = s[:-1]
            start += 5
            end = len(s)
            continue
        return s[start:], reply


# --- dates and addresses --------------------------------------------------


def parse_date(value: bytes | None) -> float | None:
    """A Date: header as a UTC timestamp (RFC 5322 §3.3, obsolete forms
    included), or None when it is missing or does not parse."""
    if not value:
        return None
    try:
        t = _parsedate_tz(value.decode("latin-1"))
        if not t:
            return None
        stamp = calendar.timegm((t[0], t[1], t[2], t[3], t[4], t[5], 0, 1, 0))
        return float(stamp - (t[9] or 0))
    except Exception:
        return None


def _first_address(value: bytes | None) -> tuple[str, str]:
    """(mailbox key, display key) of the first address of an address
    list (RFC 5256 §3 "addr-mailbox"; RFC 5957 §3 display name, else the
    address spec)."""
    if value is None:
        return "", ""
    addrs = parse_addresses(unfold(value))
    if not addrs:
        return "", ""
    name, _adl, local, domain = addrs[0]
    mailbox = (local or b"").decode("utf-8", "replace")
    display = ""
    if name:
        display = decode_words(name)
    if not display:
        if local is not None and domain is not None:
            display = mailbox + "@" + domain.decode("utf-8", "replace")
        else:
            display = mailbox
    return unicode_casemap(mailbox), unicode_casemap(display)


_MSGID = re.compile(rb"<([^<>]*)>")


def message_ids(value: bytes | None) -> list[str]:
    """The msg-ids of a References / In-Reply-To / Message-ID value
    (RFC 5256 §2.2: anything between ``<`` and ``>``, whitespace removed),
    empty ones dropped."""
    if not value:
        return []
    out = []
    for m in _MSGID.findall(value):
        ident = re.sub(rb"[ \t\r\n]", b"", m)
        if ident:
            out.append(ident.decode("utf-8", "replace"))
    return out


class SortKeys:
    """Every SORT / THREAD key of one message, computed once.

    ``date`` is the sent date as a UTC timestamp, the internal date when
    the message has no usable Date: (RFC 5256 §3, SORT DATE; as Dovecot).
    """

    __slots__ = (
        "arrival",
        "size",
        "date",
        "subject",
        "reply",
        "from_",
        "to",
        "cc",
        "displayfrom",
        "displayto",
        "message_id",
        "references",
        "in_reply_to",
    )

    def __init__(
        self,
        arrival: float,
        size: int,
        date: float,
        subject: str,
        reply: bool,
        from_: str,
        to: str,
        cc: str,
        displayfrom: str,
        displayto: str,
        message_id: str | None,
        references: tuple[str, ...],
        in_reply_to: tuple[str, ...],
    ) -> None:
        self.arrival = arrival
        self.size = size
        self.date = date
        self.subject = subject
        self.reply = reply
        self.from_ = from_
        self.to = to
        self.cc = cc
        self.displayfrom = displayfrom
        self.displayto = displayto
        self.message_id = message_id
        self.references = references
        self.in_reply_to = in_reply_to

    def __repr__(self) -> str:
        return f"<SortKeys subject={self.subject!r} date={self.date}>"


def _first_fields(header: bytes) -> dict[bytes, bytes]:
    """The first occurrence of each top-level field, by lower-case name."""
    out: dict[bytes, bytes] = {}
    for name, value in _FIELD.findall(header):
        out.setdefault(name.rstrip(b" \t").lower(), value)
    return out


def sort_keys(info: MessageInfo, size: int, internaldate: datetime) -> SortKeys:
    """The :class:`SortKeys` of a message (never raises)."""
    fields = _first_fields(info.header)
    arrival = internaldate.timestamp()
    date = parse_date(unfold(fields[b"date"])) if b"date" in fields else None
    raw_subject = fields.get(b"subject")
    if raw_subject is None:
        subject, reply = "", False
    else:
        subject, reply = base_subject(decode_words(unfold(raw_subject)))
    from_, displayfrom = _first_address(fields.get(b"from"))
    to, displayto = _first_address(fields.get(b"to"))
    cc, _ = _first_address(fields.get(b"cc"))
    ids = message_ids(fields.get(b"message-id"))
    return SortKeys(
        arrival=arrival,
        size=size,
        date=arrival if date is None else date,
        subject=subject,
        reply=reply,
        from_=from_,
        to=to,
        cc=cc,
        displayfrom=displayfrom,
        displayto=displayto,
        message_id=ids[0] if ids else None,
        references=tuple(message_ids(fields.get(b"references"))),
        in_reply_to=tuple(message_ids(fields.get(b"in-reply-to"))),
    )
