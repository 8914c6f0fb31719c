"""Mailbox names ⇄ Maildir++ folder names, the way Dovecot spells them.

Clients see ``/`` as the hierarchy separator (``mailframe.interfaces``);
on disk a mailbox ``a/b`` is the directory ``.a.b`` beside the INBOX's
``cur/ new/ tmp/`` (Maildir++, Courier's README.maildirquota).  Dovecot 2.3
stores each level in modified UTF-7 (RFC 3501 §5.1.3) unless told
otherwise, so we do too; a ``.`` inside a level (impossible in plain
Maildir++) is written ``\\2e`` and a backslash ``\\5c``, as Dovecot's
listescape plugin does.

Names are checked before they reach the file system: no empty level, no
``.``/``..`` level, no control characters, no level longer than a file
name may be, so no name can escape the Maildir root or land on ``cur``,
``new``, ``tmp`` or one of the index files.
"""

from __future__ import annotations

import base64

from mailframe.errors import InvalidMailboxName

__all__ = [
    "INBOX",
    "check_name",
    "folder_for",
    "name_for",
    "mutf7_encode",
    "mutf7_decode",
]

INBOX = "INBOX"
_MAX_FOLDER = 250


def mutf7_encode(text: str) -> str:
    """Modified UTF-7 of RFC 3501 §5.1.3: printable ASCII as is, ``&`` as
    ``&-``, everything else as ``&<modified base64 of UTF-16BE>-``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode("ascii").rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
            pending.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(text: str) -> str:
    """Inverse of :func:`mutf7_encode`; raises ``InvalidMailboxName`` on
    malformed input."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = text.find("-", i)
        if end < 0:
            raise InvalidMailboxName("bad modified UTF-7")
        chunk = text[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64, validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as e:
                raise InvalidMailboxName("bad modified UTF-7") from e
        i = end + 1
    return "".join(out)


def check_name(name: str) -> str:
    """Validate a client mailbox name; return it with INBOX canonical.

    ``INBOX`` in any case is the INBOX (RFC 3501 §5.1); so is the first
    level of ``inbox/x``.
    """
    if not name or name.startswith("/") or name.endswith("/"):
        raise InvalidMailboxName("empty hierarchy level")
    levels = name.split("/")
    if levels[0].upper() == INBOX:
        levels[0] = INBOX
    for level in levels:
        if level in ("", ".", ".."):
            raise InvalidMailboxName("empty or dot hierarchy level")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in level):
            raise InvalidMailboxName("control character in mailbox name")
        if "*" in level or "%" in level:
            raise InvalidMailboxName("wildcard in mailbox name")
    out = "/".join(levels)
    if len(folder_for(out)) > _MAX_FOLDER:
        raise InvalidMailboxName("mailbox name too long")
    return out


def _escape_level(level: str) -> str:
    enc = mutf7_encode(level)
    return enc.replace("\\", "\\5c").replace(".", "\\2e")


def _unescape_level(level: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(level):
        if level[i] == "\\" and level[i + 1 : i + 3].lower() in ("2e", "5c"):
            out.append(chr(int(level[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(level[i])
            i += 1
    return mutf7_decode("".join(out))


def folder_for(name: str) -> str:
    """The directory name (relative to the Maildir root) of a checked
    mailbox name: ``""`` for INBOX, ``.a.b`` for ``a/b``."""
    if name == INBOX:
        return ""
    return "." + ".".join(_escape_level(level) for level in name.split("/"))


def name_for(folder: str) -> str | None:
    """The mailbox name of a root entry such as ``.a.b``; None for entries
    that are not mailbox folders (``cur``, ``.``, ``..``, files...)."""
    if not folder.startswith(".") or folder in (".", ".."):
        return None
    levels = folder[1:].split(".")
    if any(not level for level in levels):
        return None
    try:
        name = "/".join(_unescape_level(level) for level in levels)
    except InvalidMailboxName:
        return None
    if name.split("/")[0].upper() == INBOX:
        name = INBOX + name[len(INBOX) :]
    return None if name == INBOX else name
