"""Validated IMAP values that commands carry (RFC 3501 §9, RFC 9051 §9).

The grammar (:mod:`mailframe.imap.grammar`) builds these; command handlers
read them.  All are frozen dataclasses so commands can be compared in tests
and hashed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Union

#: ``*`` in a sequence set: "the largest number in use" (RFC 3501 §9,
#: seq-number).
STAR = 0


@dataclass(frozen=True)
class SequenceSet:
    """``sequence-set`` (RFC 3501 §9): ranges of numbers, ``STAR`` for ``*``.

    A range is kept as written (``5:2`` stays ``(5, 2)``); :meth:`resolve`
    orders it.  ``saved`` is true for ``$`` (RFC 5182 SEARCHRES).
    """

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False

    def resolve(self, largest: int) -> list[int]:
        """Ascending, de-duplicated numbers with ``*`` as ``largest``.

        Numbers above ``largest`` are kept: for UIDs they simply match
        nothing, for sequence numbers the caller answers BAD.
        """
        out: set[int] = set()
        for lo, hi in self.ranges:
            lo = largest if lo == STAR else lo
            hi = largest if hi == STAR else hi
            if lo > hi:
                lo, hi = hi, lo
            out.update(range(lo, hi + 1))
        return sorted(out)

    def contains(self, n: int, largest: int) -> bool:
        """True when ``n`` is in the set with ``*`` as ``largest``."""
        for lo, hi in self.ranges:
            lo = largest if lo == STAR else lo
            hi = largest if hi == STAR else hi
            if lo > hi:
                lo, hi = hi, lo
            if lo <= n <= hi:
                return True
        return False

    def bounded(self, largest: int) -> list[tuple[int, int]]:
        """Ordered (lo, hi) ranges with ``*`` replaced; cheap for huge UID
        ranges such as ``1:4294967295``."""
        out = []
        for lo, hi in self.ranges:
            lo = largest if lo == STAR else lo
            hi = largest if hi == STAR else hi
            out.append((min(lo, hi), max(lo, hi)))
        return sorted(out)


@dataclass(frozen=True)
class Section:
    """``section`` of BODY[...] / BINARY[...] (RFC 3501 §6.4.5).

    ``part`` is the dotted part number (empty for the whole message);
    ``text`` one of ``None``, ``"HEADER"``, ``"HEADER.FIELDS"``,
    ``"HEADER.FIELDS.NOT"``, ``"TEXT"``, ``"MIME"``; ``fields`` the header
    names of HEADER.FIELDS[.NOT], upper-cased.
    """

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FetchAtt:
    """One ``fetch-att`` (RFC 3501 §6.4.5; RFC 3516 BINARY; RFC 7162).

    ``name`` is the item in upper case: ``ENVELOPE``, ``FLAGS``,
    ``INTERNALDATE``, ``RFC822``, ``RFC822.HEADER``, ``RFC822.SIZE``,
    ``RFC822.TEXT``, ``BODY`` (no section: the non-extensible
    BODYSTRUCTURE), ``BODYSTRUCTURE``, ``UID``, ``MODSEQ``, ``BODY[]``
    (with ``section``), ``BINARY[]`` (with ``section``), ``BINARY.SIZE``
    (with ``section``).  ``peek`` is true for BODY.PEEK / BINARY.PEEK;
    ``partial`` is ``(origin, count)``.  Macros (ALL, FAST, FULL) are
    expanded by the grammar.
    """

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


# --- search keys (RFC 3501 §6.4.4, RFC 9051 §6.4.4) -------------------------


@dataclass(frozen=True)
class SearchAll:
    """ALL"""


@dataclass(frozen=True)
class SearchFlag:
    """ANSWERED DELETED DRAFT FLAGGED SEEN RECENT KEYWORD, and their UN-
    forms (``present`` false).  ``flag`` is ``\\Seen`` etc. or a keyword.
    NEW is And(Recent, Not Seen); OLD is Not(Recent)."""

    flag: str
    present: bool = True


@dataclass(frozen=True)
class SearchDate:
    """BEFORE ON SINCE (``sent`` false: internal date) and SENTBEFORE
    SENTON SENTSINCE (``sent`` true: the Date: header).  ``op`` is
    ``"before"``, ``"on"`` or ``"since"``."""

    op: str
    when: date
    sent: bool = False
    saved: bool = False  # SAVEDBEFORE / SAVEDON / SAVEDSINCE (RFC 8514 §3)


@dataclass(frozen=True)
class SearchSize:
    """LARGER n (``op`` ``"larger"``) / SMALLER n (``"smaller"``)."""

    op: str
    size: int


@dataclass(frozen=True)
class SearchHeader:
    """HEADER name value; also FROM TO CC BCC SUBJECT (name upper-cased).
    An empty ``value`` matches every message that has the field."""

    name: str
    value: str


@dataclass(frozen=True)
class SearchBody:
    """BODY value (``text`` false) or TEXT value (``text`` true: header
    and body)."""

    value: str
    text: bool = False


@dataclass(frozen=True)
class SearchSet:
    """A sequence set (``uid`` false) or UID set."""

    numbers: SequenceSet
    uid: bool = False


@dataclass(frozen=True)
class SearchModSeq:
    """MODSEQ n (RFC 7162 §3.1.5)."""

    modseq: int


@dataclass(frozen=True)
class SearchWithin:
    """OLDER n / YOUNGER n seconds (RFC 5032); ``op`` ``"older"`` or
    ``"younger"``."""

    op: str
    seconds: int


@dataclass(frozen=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class SearchAnd:
    """A parenthesised list, or the implicit AND of the top level."""

    keys: tuple[SearchKey, ...]


SearchKey = Union[  # noqa: UP007
    SearchAll,
    SearchFlag,
    SearchDate,
    SearchSize,
    SearchHeader,
    SearchBody,
    SearchSet,
    SearchModSeq,
    SearchWithin,
    SearchNot,
    SearchOr,
    SearchAnd,
]


def search_leaves(key: SearchKey) -> Iterator[SearchKey]:
    """Every key below NOT / OR / AND of ``key`` (RFC 3501 §6.4.4's
    search-key tree), in order."""
    if isinstance(key, SearchNot):
        yield from search_leaves(key.key)
    elif isinstance(key, SearchOr):
        yield from search_leaves(key.left)
        yield from search_leaves(key.right)
    elif isinstance(key, SearchAnd):
        for k in key.keys:
            yield from search_leaves(k)
    else:
        yield key


@dataclass(frozen=True)
class AppendMessage:
    """One message of APPEND (RFC 3501 §6.3.11; MULTIAPPEND RFC 3502)."""

    content: bytes
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None
    binary: bool = False  # sent as literal8 (RFC 3516 §4.4)
    #: CATENATE parts (RFC 4469 §5), ``("TEXT", data)`` or ``("URL", url)``
    #: (``content`` is then empty until they are resolved); None otherwise.
    catenate: tuple[tuple[str, bytes], ...] | None = None
    #: Sent as ``UTF8 (literal8)`` (RFC 6855 §4), alone or as a cat-part.
    utf8: bool = False


@dataclass(frozen=True)
class ListOptions:
    """LIST-EXTENDED selection and return options (RFC 5258), upper-cased."""

    select: frozenset[str] = frozenset()
    return_: frozenset[str] = frozenset()
    status_items: tuple[str, ...] = ()
