"""Response values to bytes (RFC 3501 §4 data formats, §7 responses).

A response is built from plain Python values and encoded here, never
concatenated by hand in a handler:

============  =========================================================
value         wire form
============  =========================================================
``None``      ``NIL``
``int``       number
``bytes``     string: ``quoted`` when every octet is a 7-bit TEXT-CHAR
              and it is short, else a ``literal`` (§4.3)
``str``       the same, UTF-8 encoded
``Atom``      sent as is (flags, keywords, response words)
``Literal``   always a literal (``literal8`` ``~{n}`` when ``binary``)
``Raw``       pre-encoded bytes, sent as is (cached ENVELOPE etc.)
list/tuple    parenthesised list, items separated by one space
============  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from mailframe.wire import NIL as NIL
from mailframe.wire import QUOTED_MAX as QUOTED_MAX
from mailframe.wire import literal as literal
from mailframe.wire import nstring as nstring
from mailframe.wire import quote as quote
from mailframe.wire import string as string


@dataclass(frozen=True)
class Atom:
    """An atom or other bare token, sent exactly as given."""

    text: str


@dataclass(frozen=True)
class Literal:
    """A string that must go as a literal."""

    data: bytes
    binary: bool = False


@dataclass(frozen=True)
class Raw:
    """Bytes already in wire form."""

    data: bytes


Value = Union[None, int, bytes, str, Atom, Literal, Raw, list["Value"], tuple["Value", ...]]  # noqa: UP007

def astring(data: bytes) -> bytes:
    """An astring: an atom when possible (RFC 3501 §9), else a string.
    ``NIL`` is quoted, so a parser expecting an nstring cannot misread it."""
    if data and data.upper() != NIL and _is_atom(data, allow=b"]"):
        return data
    return string(data)


_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0, 0x20)) | {0x7F}


def _is_atom(data: bytes, allow: bytes = b"") -> bool:
    specials = _ATOM_SPECIALS - frozenset(allow)
    return all(0x20 < b < 0x7F and b not in specials for b in data)


def encode(value: Value) -> bytes:
    """Encode one response value to wire bytes."""
    parts: list[bytes] = []
    _encode_into(value, parts)
    return b"".join(parts)


def _encode_into(value: Value, out: list[bytes]) -> None:
    if value is None:
        out.append(NIL)
    elif isinstance(value, bool):
        raise TypeError("booleans have no IMAP form")
    elif isinstance(value, int):
        out.append(b"%d" % value)
    elif isinstance(value, bytes):
        out.append(string(value))
    elif isinstance(value, str):
        out.append(string(value.encode("utf-8")))
    elif isinstance(value, Atom):
        out.append(value.text.encode("utf-8"))
    elif isinstance(value, Raw):
        out.append(value.data)
    elif isinstance(value, Literal):
        prefix = b"~{%d}\r\n" if value.binary else b"{%d}\r\n"
        out.append(prefix % len(value.data))
        out.append(value.data)
    elif isinstance(value, (list, tuple)):
        out.append(b"(")
        first = True
        for item in value:
            if not first:
                out.append(b" ")
            first = False
            _encode_into(item, out)
        out.append(b")")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as IMAP")


def untagged(*values: Value) -> bytes:
    """``* v1 v2 ...\\r\\n``"""
    return b"* " + b" ".join(encode(v) for v in values) + b"\r\n"


def status_line(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    """A tagged (or ``*``-tagged) status response (RFC 3501 §7.1).

    ``text`` is human-readable; CR and LF are removed so a reason can never
    split the line.
    """
    text = text.replace("\r", " ").replace("\n", " ")
    head = f"{tag} {status} "
    if code:
        head += f"[{code}] "
    return (head + (text or status)).encode("utf-8") + b"\r\n"


def continuation(text: str = "Ready for literal data") -> bytes:
    """``+ text`` (RFC 3501 §7.5)."""
    return b"+ " + text.encode("utf-8") + b"\r\n"


#: the order system flags are written in: the order
#: Dovecot writes them in (``imap_write_flags``), ``\\Recent`` last.
_SYSTEM_ORDER = {f: i for i, f in enumerate(
    ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent"))}


def flag_list(flags: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> list[Value]:
    """Flags as a parenthesised list of atoms: system flags first, in
    :data:`_SYSTEM_ORDER` (byte for byte what Dovecot answers), then
    keywords sorted."""
    system = sorted((f for f in flags if f.startswith("\\")),
                    key=lambda f: (_SYSTEM_ORDER.get(f, len(_SYSTEM_ORDER)), f))
    keywords = sorted(f for f in flags if not f.startswith("\\"))
    return [Atom(f) for f in system + keywords]
