"""The IMAP words every layer shares, defined once.

Flags, special-use attributes, search charsets, the INBOX name and the
hierarchy separator.  A leaf module: it imports nothing of mailframe, so
the grammar, the session, the message model and every store can use it.
"""

from __future__ import annotations

__all__ = [
    "INBOX",
    "SEPARATOR",
    "SYSTEM_FLAGS",
    "RECENT",
    "SEEN",
    "DELETED",
    "SPECIAL_USE",
    "NOSELECT",
    "SEARCH_CHARSETS",
]

#: The one mailbox name that is case-insensitive (RFC 3501 §5.1).
INBOX = "INBOX"

#: mailframe's hierarchy separator (RFC 3501 §6.3.8); stores see ``/``.
SEPARATOR = "/"

#: The system flags a client may store (RFC 3501 §2.3.2), in the order
#: Dovecot lists them in FLAGS and PERMANENTFLAGS.
SYSTEM_FLAGS: tuple[str, ...] = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")

RECENT = "\\Recent"
SEEN = "\\Seen"
DELETED = "\\Deleted"

#: Special-use attributes (RFC 6154 §2, ``\\Important`` RFC 8457 §3).
SPECIAL_USE: frozenset[str] = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Important", "\\Junk", "\\Sent", "\\Trash"}
)

#: LIST's "cannot be selected" attribute (RFC 3501 §7.2.2).
NOSELECT = "\\Noselect"

#: The charsets SEARCH accepts (RFC 3501 §6.4.4: US-ASCII at least; UTF-8
#: as RFC 9051 requires), upper case.
SEARCH_CHARSETS: frozenset[str] = frozenset({"US-ASCII", "UTF-8"})
