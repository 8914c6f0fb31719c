"""METADATA commands (RFC 5464 §4.2, §4.3, ABNF in §5): their typed forms
and their grammar.  Registered in :data:`mailframe.imap.grammar._COMMANDS`.

::

    getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries
    getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"
    maxsize-opt = "MAXSIZE" SP number
    scope-opt   = "DEPTH" SP ("0" / "1" / "infinity")
    entries     = entry / "(" entry *(SP entry) ")"
    setmetadata = "SETMETADATA" SP mailbox SP entry-values
    entry-values = "(" entry-value *(SP entry-value) ")"
    entry-value = entry SP value
    value       = nstring / literal8

The empty mailbox name means the server (METADATA-SERVER).  Entry names
are checked here (§3.2) and answered ``BAD`` with Dovecot's words; they
are case-insensitive, so they are lower-cased.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailframe.imap.command import Command
from mailframe.imap.grammar_reader import Reader

__all__ = ["GetMetadata", "SetMetadata", "INFINITY", "check_entry", "parse_getmetadata",
           "parse_setmetadata"]

#: DEPTH infinity (RFC 5464 §4.2.2).
INFINITY = -1


@dataclass(frozen=True)
class GetMetadata(Command):
    """GETMETADATA (RFC 5464 §4.2); ``mailbox`` "" for the server,
    ``depth`` 0, 1 or :data:`INFINITY`, ``maxsize`` None when not given."""

    mailbox: str
    entries: tuple[str, ...]
    depth: int = 0
    maxsize: int | None = None


@dataclass(frozen=True)
class SetMetadata(Command):
    """SETMETADATA (RFC 5464 §4.3): each entry's new value, None to
    remove it."""

    mailbox: str
    values: tuple[tuple[str, bytes | None], ...]


def check_entry(name: str, top: bool = False) -> str | None:
    """Why ``name`` is not a valid entry name (RFC 5464 §3.2), in
    Dovecot's words; None when it is.  ``top``: ``/private`` and
    ``/shared`` themselves may be asked for (with DEPTH), not set."""
    lower = name.lower()
    if not (lower.startswith("/private/") or lower.startswith("/shared/")):
        if lower in ("/private", "/shared"):
            return None if top else "Entry name must have a name after /private or /shared"
        return "Entry name must begin with /private or /shared"
    for bad in ("*", "%"):
        if bad in name:
            return f"Entry name can't contain '{bad}'"
    if "//" in name:
        return "Entry name can't contain consecutive '/'"
    if name.endswith("/"):
        return "Entry name can't end with '/'"
    if not name.isascii() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "Entry name can't contain control or non-ASCII characters"
    return None


def _entry(r: Reader, top: bool = False) -> str:
    name = r.text_of(r.astring("entry name"), "entry name")
    wildcard = r.peek()
    if wildcard in (0x2A, 0x25):  # "*", "%": not ASTRING-CHARs, so the astring stopped
        r.fail(f"Entry name can't contain '{chr(wildcard)}'")
    problem = check_entry(name, top)
    if problem is not None:
        r.fail(problem)
    return name.lower()


def _mailbox(r: Reader) -> str:
    """A mailbox, or "" for the server."""
    if r.peek() == 0x22 and r.text[r.pos : r.pos + 2] == b'""':
        r.pos += 2
        return ""
    return r.mailbox()


def _options(r: Reader) -> tuple[int, int | None]:
    depth, maxsize = 0, None
    r.open()
    first = True
    while first or r.skip(0x20):
        first = False
        name = r.atom("option").upper()
        r.sp()
        if name == "MAXSIZE":
            maxsize = r.number(what="MAXSIZE")
        elif name == "DEPTH":
            value = r.atom("DEPTH").lower()
            if value not in ("0", "1", "infinity"):
                r.fail("Invalid value for DEPTH option")
            depth = INFINITY if value == "infinity" else int(value)
        else:
            r.fail("Unknown option")
    r.close()
    return depth, maxsize


def parse_getmetadata(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    depth, maxsize = 0, None
    if r.peek() == 0x28:  # "(": options (a mailbox cannot start so)
        depth, maxsize = _options(r)
        r.sp()
    mailbox = _mailbox(r)
    r.sp()
    if r.peek() == 0x28:
        r.open()
        entries = [_entry(r, True)]
        while r.skip(0x20):
            entries.append(_entry(r, True))
        r.close()
    else:
        entries = [_entry(r, True)]
    return GetMetadata(tag, mailbox, tuple(entries), depth, maxsize)


def parse_setmetadata(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    mailbox = _mailbox(r)
    r.sp()
    r.open()
    values: list[tuple[str, bytes | None]] = []
    while True:
        name = _entry(r)
        r.sp()
        if r.peek() == 0x7E:  # "~": literal8 (RFC 3516)
            value: bytes | None = r.literal(allow8=True)[0]
        else:
            value = r.nstring()
        values.append((name, value))
        if not r.skip(0x20):
            break
    r.close()
    return SetMetadata(tag, mailbox, tuple(values))
