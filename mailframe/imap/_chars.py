"""Octet classes of the IMAP grammar (RFC 3501 §9, RFC 9051 §9).

Frozen sets of byte values, so membership is one hash lookup per octet.
"""

from __future__ import annotations

__all__ = [
    "ATOM_CHARS",
    "ASTRING_CHARS",
    "TAG_CHARS",
    "LIST_CHARS",
    "DIGITS",
    "BASE64_CHARS",
]

#: ``atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
#: quoted-specials / resp-specials``
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')

#: ``ATOM-CHAR = <any CHAR except atom-specials>``; CHAR is %x01-7F and CTL
#: %x00-1F / %x7F, so this is the printable ASCII range minus the specials.
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - _ATOM_SPECIALS

#: ``ASTRING-CHAR = ATOM-CHAR / resp-specials``
ASTRING_CHARS = ATOM_CHARS | {ord("]")}

#: ``tag = 1*<any ASTRING-CHAR except "+">``
TAG_CHARS = ASTRING_CHARS - {ord("+")}

#: ``list-char = ATOM-CHAR / list-wildcards / resp-specials``
LIST_CHARS = ATOM_CHARS | frozenset(b"%*]")

DIGITS = frozenset(b"0123456789")

#: ``base64-char = ALPHA / DIGIT / "+" / "/"`` (RFC 3501 §9)
BASE64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def read_tag(line: bytes) -> str | None:
    """The tag at the start of ``line``, or None when there is no valid one."""
    end = line.find(b" ")
    token = line if end < 0 else line[:end]
    if not token or not TAG_CHARS.issuperset(token):
        return None
    return token.decode("ascii")
