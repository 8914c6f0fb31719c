"""Recipient addresses → (user, folder): the ``user+detail@domain`` rule.

Sans-IO: no Twisted here, so the deliver tool and user code share it.

The folder rule follows the Postfix ``recipient_delimiter`` / Dovecot
``lmtp_save_to_detail_mailbox`` convention: ``alice+lists@example.org`` is
user ``alice``, folder ``lists``.  An empty detail, or one naming INBOX in any
case, means INBOX (RFC 3501 §5.1: INBOX is case-insensitive).  A detail that
could not be a mailbox name (wildcards ``*`` / ``%``, control characters, a
leading or trailing ``/``, an empty hierarchy level) also means INBOX, so a
strange address never loses mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Recipient", "detail_mailbox", "parse_recipient", "valid_folder", "DEFAULT_DELIMITER"]

DEFAULT_DELIMITER = "+"

_BAD_DETAIL = re.compile(r"[\x00-\x1f\x7f*%\\\"]")


@dataclass(frozen=True)
class Recipient:
    """One RCPT TO address, split for local delivery.

    ``local`` is the local part without its detail; ``mailbox`` the folder
    the detail names (``"INBOX"`` when there is none).
    """

    local: str
    detail: str | None
    domain: str

    @property
    def mailbox(self) -> str:
        return detail_mailbox(self.detail)

    @property
    def address(self) -> str:
        """The address as written (with the detail), for trace headers."""
        local = self.local if self.detail is None else f"{self.local}+{self.detail}"
        return f"{local}@{self.domain}" if self.domain else local


_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"(.*)$', re.S)


def _dequote(local: str) -> str:
    """Undo an RFC 5321 §4.1.2 Quoted-string local part (keeping any
    text after the closing quote, such as a ``+detail``)."""
    m = _QUOTED.match(local)
    if m:
        return re.sub(r"\\(.)", r"\1", m.group(1)) + m.group(2)
    return local


def parse_recipient(local: str, domain: str, delimiter: str = DEFAULT_DELIMITER) -> Recipient:
    """Split ``local`` at the first ``delimiter`` into user and detail.

    ``domain`` is lower-cased (RFC 5321 §2.4: domains are case-insensitive);
    the local part keeps its case (only the receiving host may fold it).
    An empty ``delimiter`` disables details.
    """
    local = _dequote(local)
    detail: str | None = None
    if delimiter and delimiter in local:
        base, _, detail = local.partition(delimiter)
        if base:
            local = base
        else:  # "+foo@" is a user literally named "+foo"
            detail = None
    return Recipient(local=local, detail=detail, domain=domain.lower().rstrip("."))


def valid_folder(name: str) -> bool:
    """Whether ``name`` may be used (or created) as a delivery folder."""
    return not (
        not name
        or _BAD_DETAIL.search(name)
        or name.startswith("/")
        or name.endswith("/")
        or "//" in name
    )


def detail_mailbox(detail: str | None) -> str:
    """The folder a ``+detail`` names, or ``"INBOX"`` (see module docs)."""
    if not detail or detail.upper() == "INBOX" or not valid_folder(detail):
        return "INBOX"
    if detail.upper().startswith("INBOX/"):
        return "INBOX" + detail[5:]
    return detail
