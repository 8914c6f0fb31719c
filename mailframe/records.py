"""Plain values that cross the backend seam.

Backends return these from the :mod:`mailframe.interfaces` methods; the IMAP
session never sees a backend's own objects.  All are frozen so that a record
handed to one session cannot be changed under another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailframe.message import MessageInfo


@dataclass(frozen=True)
class FlagState:
    """A message's flags at a modification sequence (the log's unit)."""

    uid: int
    flags: frozenset[str]
    modseq: int


@dataclass(frozen=True)
class MessageRecord:
    """What FETCH and SEARCH need of one message without opening it.

    ``info`` is the parsed structure computed once when the message arrived
    (:func:`mailframe.message.parse`) and cached by the backend.
    """

    uid: int
    flags: frozenset[str]
    modseq: int
    size: int
    internaldate: datetime
    info: MessageInfo
    #: When the message was saved into this mailbox (RFC 8514 SAVEDATE),
    #: None when the store cannot tell.
    savedate: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """A mailbox's whole state at one modseq: what SELECT starts from.

    ``messages`` is sorted by UID.
    """

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: tuple[FlagState, ...]


@dataclass(frozen=True)
class Changes:
    """What happened after a modseq (DESIGN.md, "the mailbox is a log").

    ``changed`` holds every message appended or whose flags changed after
    the asked-for modseq (sorted by UID); ``expunged`` the UIDs expunged
    after it (sorted).  ``highestmodseq`` is the mailbox's modseq now.
    """

    highestmodseq: int
    uidnext: int
    changed: tuple[FlagState, ...]
    expunged: tuple[int, ...]


@dataclass(frozen=True)
class MailboxStatus:
    """Counters for STATUS (RFC 3501 §6.3.10) and SELECT."""

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    unseen: int
    recent: int = 0
    size: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class MailboxEntry:
    """One mailbox as LIST shows it.

    ``name`` uses ``/`` as the hierarchy separator; ``attributes`` holds
    backslash names such as ``\\Noselect`` or ``\\Sent`` (RFC 6154).  The
    framework adds ``\\HasChildren`` / ``\\HasNoChildren`` itself.
    """

    name: str
    attributes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class StoreResult:
    """Outcome of a flag change: new states, and UIDs refused by
    UNCHANGEDSINCE (RFC 7162 §3.1.3)."""

    changed: tuple[FlagState, ...]
    failed: tuple[int, ...] = ()


