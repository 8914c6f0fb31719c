"""Typed errors that carry their IMAP response code.

A command handler raises one of these; the session turns it into a tagged
``NO`` or ``BAD`` for the command's tag (RFC 3501 §7.1; response codes from
RFC 5530).  Backends raise them too, so "mailbox does not exist" reads the
same whatever the store.
"""

from __future__ import annotations


class MailframeError(Exception):
    """Base of every error mailframe answers with a tagged NO or BAD."""

    status: str = "NO"
    code: str | None = None

    def __init__(self, text: str = "", code: str | None = None) -> None:
        super().__init__(text)
        self.text = text or self.__class__.__doc__ or "failed"
        if code is not None:
            self.code = code


class ProtocolError(MailframeError):
    """Malformed command: answered BAD, the connection lives on."""

    status = "BAD"


class CommandFailed(MailframeError):
    """The command was understood but could not be carried out."""


class NonexistentMailbox(CommandFailed):
    """No such mailbox"""

    code = "NONEXISTENT"


class TryCreate(CommandFailed):
    """Destination mailbox does not exist (RFC 3501 §6.3.11)"""

    code = "TRYCREATE"


class MailboxExists(CommandFailed):
    """Mailbox already exists"""

    code = "ALREADYEXISTS"


class MailboxHasChildren(CommandFailed):
    """Mailbox has children"""

    code = "HASCHILDREN"


class CannotDo(CommandFailed):
    """Operation not permitted"""

    code = "CANNOT"


class NoPermission(CommandFailed):
    """Permission denied"""

    code = "NOPERM"


class MailboxInUse(CommandFailed):
    """Mailbox is in use"""

    code = "INUSE"


class OverQuota(CommandFailed):
    """Quota exceeded"""

    code = "OVERQUOTA"


class TooBig(CommandFailed):
    """Too big"""

    code = "TOOBIG"


class LimitExceeded(CommandFailed):
    """Limit exceeded"""

    code = "LIMIT"


class ExpungeIssued(CommandFailed):
    """Some of the requested messages no longer exist (RFC 5530 §3)"""

    code = "EXPUNGEISSUED"


class AuthenticationFailed(CommandFailed):
    """Authentication failed"""

    code = "AUTHENTICATIONFAILED"


class PrivacyRequired(CommandFailed):
    """Encryption required before authentication"""

    code = "PRIVACYREQUIRED"


class UnknownCTE(CommandFailed):
    """Unknown content-transfer-encoding (RFC 3516 §4.3)"""

    code = "UNKNOWN-CTE"


class BadCharset(CommandFailed):
    """Unsupported charset (RFC 3501 §6.4.4)"""

    code = "BADCHARSET (US-ASCII UTF-8)"


class InvalidMailboxName(CommandFailed):
    """Invalid mailbox name"""

    code = "CANNOT"


class ServerBug(CommandFailed):
    """Internal server error; the failure was logged"""

    code = "SERVERBUG"


class StoreUnavailable(Exception):
    """Raised at start-up when a store URL cannot be opened."""
