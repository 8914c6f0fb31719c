"""SORT and THREAD (RFC 5256 §4), with the RETURN options of ESORT
(RFC 5267 §3)."""

from __future__ import annotations

from mailframe.imap.command import CancelUpdate, Sort, Thread
from mailframe.imap.grammar_reader import ParseError, Reader
from mailframe.imap.grammar_return import return_options
from mailframe.imap.grammar_search import search_key
from mailframe.imap.types import SearchAnd
from mailframe.message import text_charset

__all__ = ["parse_sort", "parse_thread", "parse_cancelupdate", "SORT_KEYS", "THREAD_ALGORITHMS"]

#: ``sort-key`` (RFC 5256 §4) and DISPLAYFROM / DISPLAYTO (RFC 5957 §4).
SORT_KEYS = frozenset(
    {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
)

#: ``thread-alg`` values offered (RFC 5256 §3).
THREAD_ALGORITHMS = frozenset({"ORDEREDSUBJECT", "REFERENCES"})

def _charset(r: Reader) -> str:
    """The mandatory ``search-charset`` of SORT and THREAD: the charsets
    SEARCH takes (RFC 5256 §3 requires US-ASCII and UTF-8)."""
    charset = r.text_of(r.astring("charset"), "charset").upper()
    if charset not in ("US-ASCII", "UTF-8") and not text_charset(charset):
        raise ParseError(f"Unsupported charset {charset}", r.tag, "BADCHARSET (US-ASCII UTF-8)", "NO")
    return charset


def _keys(r: Reader, charset: str) -> SearchAnd:
    keys = [search_key(r, charset)]
    while r.skip(0x20):
        keys.append(search_key(r, charset))
    r.end()
    return SearchAnd(tuple(keys))


def parse_sort(r: Reader, tag: str, uid: bool) -> Sort:
    """``"SORT" [SP sort-return-opts] SP sort-criteria SP search-charset
    1*(SP search-key)`` (RFC 5256 §4, RFC 5267 §3) from just after SORT."""
    r.sp()
    returns: tuple[str, ...] | None = None
    partial = None
    if r.peek_word() == "RETURN":
        r.word("RETURN")
        r.sp()
        returns, partial = return_options(r)
        r.sp()
    r.open()
    criteria: list[tuple[str, bool]] = []
    while True:
        name = r.keyword("sort key")
        reverse = False
        if name == "REVERSE":
            reverse = True
            r.sp()
            name = r.keyword("sort key")
        if name not in SORT_KEYS:
            r.fail(f"Unknown sort key {name}")
        criteria.append((name, reverse))
        if not r.skip(0x20):
            break
    r.close()
    r.sp()
    charset = _charset(r)
    r.sp()
    key = _keys(r, charset)
    one = key.keys[0] if len(key.keys) == 1 else key
    return Sort(tag, tuple(criteria), one, charset, uid=uid, returns=returns, partial=partial)


def parse_thread(r: Reader, tag: str, uid: bool) -> Thread:
    """``"THREAD" SP thread-alg SP search-charset 1*(SP search-key)``
    (RFC 5256 §4) from just after THREAD."""
    r.sp()
    algorithm = r.keyword("thread algorithm")
    if algorithm not in THREAD_ALGORITHMS:
        r.fail(f"Unknown thread algorithm {algorithm}")
    r.sp()
    charset = _charset(r)
    r.sp()
    key = _keys(r, charset)
    one = key.keys[0] if len(key.keys) == 1 else key
    return Thread(tag, algorithm, one, charset, uid=uid)


def parse_cancelupdate(r: Reader, tag: str, uid: bool) -> CancelUpdate:
    """``"CANCELUPDATE" 1*(SP tag-string)`` (RFC 5267 §4.3.5), ``tag-string
    = string``, from just after CANCELUPDATE."""
    tags = []
    while True:
        r.sp()
        tags.append(r.text_of(r.string(), "tag"))
        if r.at_end():
            break
    return CancelUpdate(tag, tuple(tags))
