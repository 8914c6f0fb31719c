"""Typed IMAP commands: what the grammar produces and handlers consume.

One frozen dataclass per command (RFC 3501 §6 and the extensions mailframe
offers).  ``tag`` is the client's tag as text.  Mailbox names are already
decoded from modified UTF-7 (RFC 3501 §5.1.3), use ``/`` as separator, and
``INBOX`` in any case is normalised to ``"INBOX"``.  UID forms set ``uid``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailframe.imap.types import (
    AppendMessage,
    FetchAtt,
    ListOptions,
    SearchKey,
    SequenceSet,
)


@dataclass(frozen=True)
class Command:
    tag: str


# --- any state (RFC 3501 §6.1) ----------------------------------------------


@dataclass(frozen=True)
class Capability(Command):
    pass


@dataclass(frozen=True)
class Noop(Command):
    pass


@dataclass(frozen=True)
class Logout(Command):
    pass


@dataclass(frozen=True)
class Id(Command):
    """ID (RFC 2971); ``params`` None for NIL."""

    params: tuple[tuple[str, str | None], ...] | None


# --- not authenticated (§6.2) -----------------------------------------------


@dataclass(frozen=True)
class StartTLS(Command):
    pass


@dataclass(frozen=True)
class Authenticate(Command):
    """AUTHENTICATE mechanism [initial-response] (RFC 3501 §6.2.2, SASL-IR
    RFC 4959).  ``initial`` is the still-base64 initial response, ``b"="``
    for an empty one, None when absent."""

    mechanism: str
    initial: bytes | None = None


@dataclass(frozen=True)
class Login(Command):
    username: str
    password: str


@dataclass(frozen=True)
class Unauthenticate(Command):
    """UNAUTHENTICATE (RFC 8437)."""


# --- authenticated (§6.3) ---------------------------------------------------


@dataclass(frozen=True)
class Compress(Command):
    """COMPRESS algorithm (RFC 4978 §3); ``algorithm`` upper-cased."""

    algorithm: str


@dataclass(frozen=True)
class Select(Command):
    """SELECT, or EXAMINE when ``readonly``.  ``condstore`` for the
    (CONDSTORE) parameter; ``qresync`` (uidvalidity, modseq, known-uids)
    for RFC 7162 §3.2.5; ``seq_match`` its seq-match-data (known
    sequence numbers, their UIDs), which narrows VANISHED (EARLIER) when
    the server no longer has the expunges that old (§3.2.5.2)."""

    mailbox: str
    readonly: bool = False
    condstore: bool = False
    qresync: tuple[int, int, SequenceSet | None] | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True)
class Create(Command):
    mailbox: str
    special_use: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Delete(Command):
    mailbox: str


@dataclass(frozen=True)
class Rename(Command):
    old: str
    new: str


@dataclass(frozen=True)
class Subscribe(Command):
    mailbox: str


@dataclass(frozen=True)
class Unsubscribe(Command):
    mailbox: str


@dataclass(frozen=True)
class List(Command):
    """LIST / LSUB (``lsub``).  ``reference`` and ``patterns`` are decoded
    from modified UTF-7 but keep their ``%`` and ``*`` wildcards."""

    reference: str
    patterns: tuple[str, ...]
    lsub: bool = False
    options: ListOptions = ListOptions()


@dataclass(frozen=True)
class Namespace(Command):
    pass


@dataclass(frozen=True)
class Status(Command):
    """STATUS mailbox (items); items upper-cased."""

    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Append(Command):
    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True)
class Enable(Command):
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Idle(Command):
    pass


# --- selected (§6.4) --------------------------------------------------------


@dataclass(frozen=True)
class Check(Command):
    pass


@dataclass(frozen=True)
class Close(Command):
    pass


@dataclass(frozen=True)
class Unselect(Command):
    pass


@dataclass(frozen=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE set (RFC 4315) when ``uids`` is given."""

    uids: SequenceSet | None = None


@dataclass(frozen=True)
class Search(Command):
    """SEARCH / UID SEARCH.  ``charset`` upper-cased or None; ``returns``
    the ESEARCH RETURN options (RFC 4731), None when absent."""

    key: SearchKey
    uid: bool = False
    charset: str | None = None
    returns: tuple[str, ...] | None = None
    partial: tuple[int, int] | None = None  # RETURN (PARTIAL lo:hi), RFC 9394


@dataclass(frozen=True)
class Sort(Command):
    """SORT / UID SORT (RFC 5256 §3; RETURN options: ESORT, RFC 5267).
    ``criteria`` are (key, reverse) pairs, keys upper-cased."""

    criteria: tuple[tuple[str, bool], ...]
    key: SearchKey
    charset: str
    uid: bool = False
    returns: tuple[str, ...] | None = None
    partial: tuple[int, int] | None = None


@dataclass(frozen=True)
class CancelUpdate(Command):
    """CANCELUPDATE tag-string... (RFC 5267 §4.3.5)."""

    tags: tuple[str, ...]


@dataclass(frozen=True)
class Thread(Command):
    """THREAD / UID THREAD (RFC 5256 §3); ``algorithm`` upper-cased."""

    algorithm: str
    key: SearchKey
    charset: str
    uid: bool = False


@dataclass(frozen=True)
class Fetch(Command):
    """FETCH / UID FETCH; ``changedsince`` and ``vanished`` per RFC 7162."""

    numbers: SequenceSet
    items: tuple[FetchAtt, ...]
    uid: bool = False
    changedsince: int | None = None
    vanished: bool = False


@dataclass(frozen=True)
class Store(Command):
    """STORE / UID STORE.  ``mode`` is ``"set"``, ``"add"`` or
    ``"remove"`` (FLAGS, +FLAGS, -FLAGS); ``silent`` for .SILENT."""

    numbers: SequenceSet
    mode: str
    flags: frozenset[str]
    silent: bool = False
    uid: bool = False
    unchangedsince: int | None = None


@dataclass(frozen=True)
class Copy(Command):
    numbers: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True)
class Move(Command):
    numbers: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True)
class Replace(Command):
    """REPLACE / UID REPLACE (RFC 8508 §3): ``numbers`` holds the one
    message (sequence number or UID) that ``message`` replaces once it is
    appended to ``mailbox``."""

    numbers: SequenceSet
    mailbox: str
    message: AppendMessage
    uid: bool = False


@dataclass(frozen=True)
class NotifyGroup:
    """One ``event-group`` of NOTIFY SET (RFC 5465 §8): the mailbox
    filter (``SELECTED``, ``SELECTED-DELAYED``, ``INBOXES``, ``PERSONAL``,
    ``SUBSCRIBED``, ``SUBTREE``, ``MAILBOXES``, upper-cased), the
    mailboxes of SUBTREE / MAILBOXES, the events in their RFC spelling
    (empty for ``NONE``) and MessageNew's fetch attributes."""

    filter: str
    mailboxes: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    fetch: tuple[FetchAtt, ...] = ()


@dataclass(frozen=True)
class Notify(Command):
    """NOTIFY SET [STATUS] groups, or NOTIFY NONE (``groups`` None)
    (RFC 5465 §3.1)."""

    groups: tuple[NotifyGroup, ...] | None = None
    status: bool = False
