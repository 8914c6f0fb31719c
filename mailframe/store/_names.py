"""Mailbox-name rules shared by the backends.

Names reach a backend as ``str`` (already decoded from modified UTF-7,
RFC 3501 §5.1.3) with ``/`` as the hierarchy separator
(:data:`mailframe.interfaces.SEPARATOR`).
"""

from __future__ import annotations

from mailframe.errors import InvalidMailboxName
from mailframe.interfaces import SEPARATOR

__all__ = ["INBOX", "normalize_name", "parents_of", "is_inferior", "rename_inferior"]

INBOX = "INBOX"


def normalize_name(name: str) -> str:
    """The canonical spelling of ``name``, or InvalidMailboxName.

    ``INBOX`` is case-insensitive (RFC 3501 §5.1), and so is it as the first
    level of a hierarchy (``inbox/x`` is ``INBOX/x``).  Refused: the empty
    name, empty levels (``a//b``), ``.`` and ``..`` levels, a leading or
    trailing separator, and
    control characters (U+0000..U+001F, U+007F), which no client can type
    and many cannot display.
    """
    if not isinstance(name, str) or not name:
        raise InvalidMailboxName("empty mailbox name")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidMailboxName("control character in mailbox name")
    levels = name.split(SEPARATOR)
    if any(level == "" for level in levels):
        raise InvalidMailboxName("empty hierarchy level in mailbox name")
    if any(level in (".", "..") for level in levels):
        # Harmless as a name here, but a path in most stores: refuse it
        # everywhere alike (Dovecot refuses it too).
        raise InvalidMailboxName("'.' and '..' are not mailbox names")
    if levels[0].upper() == INBOX:
        levels[0] = INBOX
    return SEPARATOR.join(levels)


def parents_of(name: str) -> list[str]:
    """The superior names of ``name``, outermost first (``a/b/c`` →
    ``["a", "a/b"]``): what CREATE makes when missing (RFC 3501 §6.3.3)."""
    levels = name.split(SEPARATOR)
    return [SEPARATOR.join(levels[:i]) for i in range(1, len(levels))]


def is_inferior(name: str, parent: str) -> bool:
    """True when ``name`` lies below ``parent`` in the hierarchy."""
    return name.startswith(parent + SEPARATOR)


def rename_inferior(name: str, old: str, new: str) -> str:
    """``name`` (``old`` itself or below it) with the ``old`` prefix
    replaced by ``new`` (RENAME moves inferiors along, RFC 3501 §6.3.5)."""
    if name == old:
        return new
    return new + name[len(old) :]
