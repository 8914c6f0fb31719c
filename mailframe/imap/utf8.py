"""UTF8=ACCEPT (RFC 6855): what changes on the wire once a client has
enabled it.

- Mailbox names go both ways as UTF-8, not modified UTF-7 (§3): the
  grammar reads them so (``Reader.utf8``) and :func:`mailbox_name`
  writes them as an atom or a quoted string holding UTF-8 (RFC 6855 §3
  extends ``quoted`` with ``UTF8-2 / UTF8-3 / UTF8-4``, as RFC 9051 §9
  has it).
- Strings the server sends may hold UTF-8 (§3, §7): a header value that
  is UTF-8 (a message/global header, RFC 6532) goes as a quoted string in
  ENVELOPE and BODYSTRUCTURE (:func:`quote_utf8_literals`) instead of the
  literal an IMAP4rev1 client gets (as Dovecot sends 8-bit values); what
  is not valid UTF-8, or holds CR, LF or other controls, stays a literal.
  Encoded-words (RFC 2047) are passed on as they are, as before.

A client that has not enabled it sees exactly what it saw before.
"""

from __future__ import annotations

import re
from typing import Any

from mailframe.imap import mutf7
from mailframe.imap.serialize import astring
from mailframe.wire import QUOTED_MAX

__all__ = ["UTF8_ACCEPT", "enabled", "mailbox_name", "quote_utf8_literals"]

UTF8_ACCEPT = "UTF8=ACCEPT"

#: Octets an atom may hold (RFC 3501 §9 ATOM-CHAR, "]" allowed as in astring).
_ATOM = re.compile(rb'[^(){ %*"\\\x00-\x20\x7f-\xff]+')
#: Octets that keep a value out of a quoted string: controls but TAB.
_UNQUOTABLE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_LITERAL = re.compile(rb"\{([0-9]+)\}\r\n")


def enabled(session: Any) -> bool:
    """Whether the session's client has sent ``ENABLE UTF8=ACCEPT``."""
    return UTF8_ACCEPT in session.enabled


def _quoted(data: bytes) -> bytes | None:
    """``data`` as a quoted string that may hold UTF-8, or None when it
    must be a literal (not UTF-8, a control in it, or long)."""
    if len(data) > QUOTED_MAX or _UNQUOTABLE.search(data):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def mailbox_name(name: str, utf8: bool) -> bytes:
    """A mailbox name for a response (LIST, LSUB, STATUS...): modified
    UTF-7 for an IMAP4rev1 client (RFC 3501 §5.1.3), UTF-8 once enabled
    (RFC 6855 §3); an atom when it can be one (as Dovecot writes them)."""
    if not utf8:
        return astring(mutf7.encode(name))
    raw = name.encode("utf-8")
    if raw and raw.upper() != b"NIL" and _ATOM.fullmatch(raw):
        return raw
    quoted = _quoted(raw)
    if quoted is not None:
        return quoted
    return b"{%d}\r\n" % len(raw) + raw


def quote_utf8_literals(wire: bytes) -> bytes:
    """A pre-encoded response value (ENVELOPE, BODYSTRUCTURE) with every
    literal whose octets are UTF-8 text turned into a quoted string.

    Walks the value token by token (quoted strings and literals are
    skipped whole), so octets inside strings are never mistaken for
    syntax."""
    if b"{" not in wire:
        return wire
    out = bytearray()
    i, n = 0, len(wire)
    while i < n:
        c = wire[i]
        if c == 0x22:  # a quoted string: copy it through its closing quote
            j = i + 1
            while wire[j] != 0x22:
                j += 2 if wire[j] == 0x5C else 1
            out += wire[i : j + 1]
            i = j + 1
        elif c == 0x7B:
            m = _LITERAL.match(wire, i)
            if m is None:  # not a literal: leave the rest untouched
                out += wire[i:]
                break
            start = m.end()
            end = start + int(m.group(1))
            quoted = _quoted(wire[start:end])
            out += quoted if quoted is not None else wire[i:end]
            i = end
        else:
            j = i + 1
            while j < n and wire[j] not in (0x22, 0x7B):
                j += 1
            out += wire[i:j]
            i = j
    return bytes(out)
