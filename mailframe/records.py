"""Plain values that cross the backend seam.

Backends return these from the :mod:`mailframe.interfaces` methods; the IMAP
session never sees a backend's own objects.  All are frozen so that a record
handed to one session cannot be changed under another.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mailframe.message import MessageInfo


@dataclass(frozen=True)
class FlagState:
    """A message's flags at a modification sequence (the log's unit)."""

    uid: int
    flags: frozenset[str]
    modseq: int


class StoreMode(enum.StrEnum):
    """How STORE changes flags (RFC 3501 §6.4.6): ``FLAGS`` replaces them,
    ``+FLAGS`` adds, ``-FLAGS`` removes.  A ``str`` enum, so ``"add"``
    compares equal to :attr:`ADD`."""

    SET = "set"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True)
class MessageState:
    """The cheap per-message state: what FLAGS, UID, MODSEQ, RFC822.SIZE,
    INTERNALDATE and the flag/size/date SEARCH keys need, without the
    parsed structure or the bytes."""

    uid: int
    flags: frozenset[str]
    modseq: int
    size: int
    internaldate: datetime


@dataclass(frozen=True)
class MessageRecord(MessageState):
    """A message's state plus its parsed structure, for ENVELOPE,
    BODYSTRUCTURE, body sections and header/text SEARCH.

    ``info`` is the parsed structure computed once when the message arrived
    (:func:`mailframe.message.parse`) and cached by the backend.
    """

    info: MessageInfo
    #: When the message was saved into this mailbox (RFC 8514 SAVEDATE),
    #: None when the store cannot tell.
    savedate: datetime | None = None


class NewMessage(NamedTuple):
    """One message to append (RFC 3501 §6.3.11): its bytes, its flags
    (``\\Recent`` is ignored) and its internal date (``None``: now)."""

    content: bytes
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    """What an all-or-none batch append gives back: the destination's
    UIDVALIDITY and the new UIDs, in the order of the messages (APPENDUID,
    RFC 4315 §3; MULTIAPPEND, RFC 3502)."""

    uidvalidity: int
    uids: tuple[int, ...]


@dataclass(frozen=True)
class CopyResult:
    """What COPY and MOVE give back: the destination's UIDVALIDITY and
    ``(source uid, new uid)`` pairs in source UID order (COPYUID,
    RFC 4315 §3).  Iterating yields the pairs."""

    uidvalidity: int
    pairs: tuple[tuple[int, int], ...]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return self.pairs[index]


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


