"""SEARCH: return options, charset and search keys.

RFC 3501 §6.4.4 and §9 (``search``, ``search-key``), RFC 4731 (``RETURN``
options), RFC 5182 (SAVE and ``$``), RFC 7162 §3.1.5 (MODSEQ), RFC 5032
(OLDER, YOUNGER).  Keys nest through parentheses, NOT and OR; the depth is
bounded by ``Limits.max_depth`` so hostile input meets a BAD, never a
RecursionError.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailframe.imap.command import Search
from mailframe.imap.grammar_reader import MAX_MODSEQ, ParseError, Reader
from mailframe.imap.grammar_return import return_options
from mailframe.imap.types import (
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchWithin,
)
from mailframe.message import text_charset

__all__ = ["parse_search", "search_key", "RETURN_OPTIONS"]

#: The argument-less ``search-return-opt`` (RFC 4731 §3, SAVE from RFC
#: 5182 §2); PARTIAL (RFC 9394 §3.1) takes a range: see grammar_return.
RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})

_FLAG_KEYS: dict[str, SearchKey] = {
    "ANSWERED": SearchFlag("\\Answered"),
    "DELETED": SearchFlag("\\Deleted"),
    "DRAFT": SearchFlag("\\Draft"),
    "FLAGGED": SearchFlag("\\Flagged"),
    "SEEN": SearchFlag("\\Seen"),
    "RECENT": SearchFlag("\\Recent"),
    "UNANSWERED": SearchFlag("\\Answered", False),
    "UNDELETED": SearchFlag("\\Deleted", False),
    "UNDRAFT": SearchFlag("\\Draft", False),
    "UNFLAGGED": SearchFlag("\\Flagged", False),
    "UNSEEN": SearchFlag("\\Seen", False),
    "ALL": SearchAll(),
    # NEW = RECENT UNSEEN, OLD = NOT RECENT (RFC 3501 §6.4.4)
    "NEW": SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))),
    "OLD": SearchNot(SearchFlag("\\Recent")),
    # RFC 8514 §3: every mailbox of every store mailframe ships has save dates
    "SAVEDATESUPPORTED": SearchAll(),
}

#: Keys RFC 9051's ``search-key`` no longer has (Appendix E: \Recent
#: removed): BAD once a session enabled IMAP4rev2.
_REV1_KEYS = frozenset({"RECENT", "NEW", "OLD"})

_DATE_KEYS = {
    "BEFORE": ("before", False),
    "ON": ("on", False),
    "SINCE": ("since", False),
    "SENTBEFORE": ("before", True),
    "SENTON": ("on", True),
    "SENTSINCE": ("since", True),
}

#: RFC 8514 §3: the save date ("disregarding time and timezone").
_SAVED_KEYS = {"SAVEDBEFORE": "before", "SAVEDON": "on", "SAVEDSINCE": "since"}

_HEADER_KEYS = frozenset({"FROM", "TO", "CC", "BCC", "SUBJECT"})


class _Search:
    """State of one SEARCH parse: the reader and the charset for values."""

    def __init__(self, r: Reader, charset: str | None) -> None:
        self.r = r
        self.codec = "utf-8" if charset in (None, "US-ASCII", "UTF-8") else charset

    def value(self) -> str:
        """An astring value, decoded with the CHARSET (RFC 3501 §6.4.4)."""
        raw = self.r.astring("search value")
        try:
            return raw.decode(self.codec or "utf-8")
        except (ValueError, LookupError):  # UnicodeError is a ValueError
            self.r.fail("Search string not valid in its charset")

    def key(self) -> SearchKey:
        """One ``search-key``."""
        r = self.r
        c = r.peek()
        if c == 0x28:  # "(" search-key *(SP search-key) ")"
            r.open()
            keys = [self.key()]
            while r.skip(0x20):
                keys.append(self.key())
            r.close()
            return SearchAnd(tuple(keys))
        if c == 0x2A or c == 0x24 or 0x30 <= c <= 0x39:
            return SearchSet(r.sequence_set())
        name = r.keyword("search key")
        if name in _REV1_KEYS and r.rev2:
            r.fail(f"Search key {name} is not in IMAP4rev2 (RFC 9051 removed \\Recent)")
        simple = _FLAG_KEYS.get(name)
        if simple is not None:
            return simple
        handler = _KEYS.get(name)
        if handler is None:
            r.fail(f"Unknown search key {name}")
        r.sp()
        return handler(self)

    def nested(self) -> SearchKey:
        """A key inside NOT / OR, counted against the depth limit."""
        r = self.r
        r.depth += 1
        if r.depth > r.limits.max_depth:
            r.fail("Too deeply nested")
        key = self.key()
        r.depth -= 1
        return key


def _not(s: _Search) -> SearchKey:
    return SearchNot(s.nested())


def _or(s: _Search) -> SearchKey:
    left = s.nested()
    s.r.sp()
    return SearchOr(left, s.nested())


def _header(s: _Search) -> SearchKey:
    raw = s.r.astring("header field name")
    if not raw or not raw.isascii():
        s.r.fail("Invalid header field name")
    s.r.sp()
    return SearchHeader(raw.decode("ascii").upper(), s.value())


def _keyword(present: bool) -> Callable[[_Search], SearchKey]:
    def parse(s: _Search) -> SearchKey:
        return SearchFlag(s.r.atom("keyword"), present)  # flag-keyword = atom

    return parse


def _size(op: str) -> Callable[[_Search], SearchKey]:
    def parse(s: _Search) -> SearchKey:
        return SearchSize(op, s.r.number(MAX_MODSEQ, "size"))

    return parse


def _date(name: str) -> Callable[[_Search], SearchKey]:
    op, sent = _DATE_KEYS[name]

    def parse(s: _Search) -> SearchKey:
        return SearchDate(op, s.r.date(), sent)

    return parse


def _saved(name: str) -> Callable[[_Search], SearchKey]:
    op = _SAVED_KEYS[name]

    def parse(s: _Search) -> SearchKey:
        return SearchDate(op, s.r.date(), saved=True)

    return parse


def _hdr(name: str) -> Callable[[_Search], SearchKey]:
    def parse(s: _Search) -> SearchKey:
        return SearchHeader(name, s.value())

    return parse


def _within(op: str) -> Callable[[_Search], SearchKey]:
    def parse(s: _Search) -> SearchKey:
        return SearchWithin(op, s.r.nz_number(what="interval"))

    return parse


def _uid(s: _Search) -> SearchKey:
    return SearchSet(s.r.sequence_set(), uid=True)


def _modseq(s: _Search) -> SearchKey:
    """``"MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer``
    (RFC 7162 §3.1.5); the metadata entry is accepted and ignored."""
    r = s.r
    if r.peek() == 0x22:
        r.quoted()
        r.sp()
        if r.keyword("entry type") not in ("PRIV", "SHARED", "ALL"):
            r.fail("Invalid MODSEQ entry type")
        r.sp()
    return SearchModSeq(r.number(MAX_MODSEQ, "mod-sequence"))


_KEYS: dict[str, Callable[[_Search], SearchKey]] = {
    "NOT": _not,
    "OR": _or,
    "HEADER": _header,
    "KEYWORD": _keyword(True),
    "UNKEYWORD": _keyword(False),
    "LARGER": _size("larger"),
    "SMALLER": _size("smaller"),
    "BODY": lambda s: SearchBody(s.value()),
    "TEXT": lambda s: SearchBody(s.value(), text=True),
    "UID": _uid,
    "MODSEQ": _modseq,
    "OLDER": _within("older"),
    "YOUNGER": _within("younger"),
    **{name: _date(name) for name in _DATE_KEYS},
    **{name: _saved(name) for name in _SAVED_KEYS},
    **{name: _hdr(name) for name in _HEADER_KEYS},
}
# OBJECTID (RFC 8474 §6): resolved against the mailbox by mailframe.imap.search_keys.
_KEYS["EMAILID"] = lambda s: _objectid(s, "EMAILID")
_KEYS["THREADID"] = lambda s: _objectid(s, "THREADID")


def _objectid(s: _Search, name: str) -> SearchKey:
    """``"EMAILID" SP objectid`` / ``"THREADID" SP objectid`` (RFC 8474 §7)."""
    raw = s.r.astring("object id")
    if not re.fullmatch(rb"[A-Za-z0-9_-]{1,255}", raw):
        s.r.fail(f"Invalid {name}")
    return SearchHeader("\x00" + name, raw.decode("ascii"))


def search_key(r: Reader, charset: str | None = None) -> SearchKey:
    """One ``search-key`` read from ``r``."""
    return _Search(r, charset).key()


def parse_search(r: Reader, tag: str, uid: bool) -> Search:
    """``"SEARCH" [search-return-opts] SP [charset SP] search-key *(SP search-key)``
    — from just after ``SEARCH``."""
    r.sp()
    returns: tuple[str, ...] | None = None
    partial: tuple[int, int] | None = None
    if r.peek_word() == "RETURN":
        r.word("RETURN")
        r.sp()
        returns, partial = return_options(r)
        r.sp()
    charset: str | None = None
    if r.peek_word() == "CHARSET":
        r.word("CHARSET")
        r.sp()
        charset = r.text_of(r.astring("charset"), "charset").upper()
        if charset not in ("US-ASCII", "UTF-8") and not text_charset(charset):
            raise ParseError(
                f"Unsupported charset {charset}", r.tag, "BADCHARSET (US-ASCII UTF-8)", "NO"
            )
        r.sp()
    s = _Search(r, charset)
    keys = [s.key()]
    while r.skip(0x20):
        keys.append(s.key())
    r.end()
    key = keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))
    return Search(tag, key, uid=uid, charset=charset, returns=returns, partial=partial)
