"""SEARCH pushdown (:class:`mailframe.interfaces.ISearchableMailbox`):
a key compiled to SQL, answering exactly what the framework's matcher
answers (RFC 3501 §6.4.4; :mod:`mailframe.store.statesearch` for the
state keys, :mod:`mailframe.message._search` for the text keys).

Each key becomes two conditions over ``mm`` (mailbox_messages) and ``m``
(messages): ``sure`` (every row it admits matches) and ``maybe`` (every
match is a row it admits).  For flags, UIDs, sizes, internal dates and
modseqs both are the same, exact condition.  For BODY, TEXT and the header
keys, ``maybe`` is the full-text prefilter
(:mod:`mailframe.store.sql.textindex`: each word of the needle in the
message's case-folded documents, through the trigram index) and ``sure``
is false (but for BODY of one word, where the index is exact); NOT swaps
them.  Rows that ``maybe`` admits and ``sure`` does
not are confirmed by the matcher (:mod:`mailframe.store.sql.query`).

Rules kept: system flags are bits; keywords compare case-insensitively
(``flag_in``), other backslash names exactly; BEFORE/ON/SINCE compare the
internal date's own calendar day (the stored ISO text starts with it); a
UID set's ``*`` is the largest UID.  Keys this module does not compile
(sent dates, SAVEDATE, OLDER/YOUNGER) make the whole key ``None``: the
framework's matcher answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailframe.imap.types import (
    STAR,
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
)
from mailframe.message._decode import fold_case
from mailframe.store.sql.dialect import Dialect
from mailframe.store.sql.textindex import CUT, fts_phrase, like_pattern, words
from mailframe.store.statesearch import answerable

__all__ = ["compile_key", "Compiled", "compilable", "MAX_RANGES", "FLAG_BITS"]

#: system flags as bits of mailbox_messages.flags.
FLAG_BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16}
#: UID sets with more ranges than this are left to the matcher.
MAX_RANGES = 200


class _TooBig(Exception):
    pass


@dataclass(frozen=True)
class Compiled:
    """A key as SQL: ``sure`` admits only matches, ``maybe`` every match
    (each with its parameters); ``exact`` when they are the same."""

    sure: str
    sure_params: list[Any]
    maybe: str
    maybe_params: list[Any]
    exact: bool
    #: a condition every match meets that names a few message ids (a text
    #: key every match must satisfy): the query starts from it.
    driver: str = ""
    driver_params: tuple[Any, ...] = ()


def compilable(key: SearchKey) -> bool:
    """Whether every leaf of ``key`` is a state key or a text key."""
    if isinstance(key, SearchNot):
        return compilable(key.key)
    if isinstance(key, SearchOr):
        return compilable(key.left) and compilable(key.right)
    if isinstance(key, SearchAnd):
        return all(compilable(k) for k in key.keys)
    return isinstance(key, (SearchHeader, SearchBody)) or answerable(key)


def _textual(key: SearchKey) -> bool:
    if isinstance(key, SearchNot):
        return _textual(key.key)
    if isinstance(key, SearchOr):
        return _textual(key.left) or _textual(key.right)
    if isinstance(key, SearchAnd):
        return any(_textual(k) for k in key.keys)
    return isinstance(key, (SearchHeader, SearchBody))


def compile_key(key: SearchKey, largest: int, dialect: Dialect) -> Compiled | None:
    """``key`` as SQL, or ``None`` when it is not answerable here."""
    if not compilable(key):
        return None
    try:
        if not _textual(key):
            params: list[Any] = []
            exact = _compile(key, largest, dialect, params, True)
            return Compiled(exact, params, exact, list(params), True)
        sure_params: list[Any] = []
        maybe_params: list[Any] = []
        sure = _compile(key, largest, dialect, sure_params, True)
        driver, driver_params = "", ()
        leaf = _driving_leaf(key)
        if leaf is not None:
            params_: list[Any] = []
            driver = _text_condition(leaf, dialect, params_, False)
            driver_params = tuple(params_)
            # the rest of the key (the driver is not tested twice)
            rest = [k for k in key.keys if k is not leaf] if isinstance(key, SearchAnd) else []
            key = SearchAnd(tuple(rest)) if rest else SearchAll()
        maybe = _compile(key, largest, dialect, maybe_params, False)
        return Compiled(sure, sure_params, maybe, maybe_params, False, driver, driver_params)
    except _TooBig:
        return None


def _driving_leaf(key: SearchKey) -> SearchHeader | SearchBody | None:
    """A text key that every match of ``key`` satisfies (``key`` itself,
    or one of a top-level AND), with words to look up."""
    candidates = key.keys if isinstance(key, SearchAnd) else (key,)
    for k in candidates:
        if isinstance(k, (SearchHeader, SearchBody)) and words(k.value):
            return k
    return None


def _word_tests(
    column: str, ws: list[str], dialect: Dialect, params: list[Any], exact: bool
) -> list[str]:
    """Conditions on one row of the text table: every word in ``column``
    (FTS5: through the trigram index where a word has three characters,
    ``instr`` for shorter ones and, when ``exact``, to check what FTS5's
    own case folding admitted; PostgreSQL: ``LIKE``, served by pg_trgm)."""
    table = dialect.text_table
    tests = []
    if dialect.text_match == "fts5":
        long_ = [w for w in ws if len(w) >= 3]  # a trigram index needs three characters
        if long_:
            params.append(" AND ".join(f"{{{column}}} : {fts_phrase(w)}" for w in long_))
            tests.append(f"{table} MATCH ?")
        for w in ws:
            if exact:
                params.append(w)
                tests.append(f"instr({column}, ?) > 0")
            elif len(w) < 3:  # a scan: LIKE (ASCII case-blind, so a superset) is the quicker
                params.append(like_pattern(w))
                tests.append(f"{column} LIKE ? ESCAPE '\\'")
    else:
        for w in ws:
            params.append(like_pattern(w))
            tests.append(f"{column} LIKE ?")
    return tests


def _text_condition(
    key: SearchHeader | SearchBody, dialect: Dialect, params: list[Any], sure: bool
) -> str:
    """A text key: ``maybe`` -- every word of the needle is in a document
    the key searches (``hdr`` for header keys, ``body`` or ``extra`` for
    BODY, any for TEXT), or the message's documents were cut; ``sure`` --
    false, but for BODY with a needle of one word on a message whose
    ``body`` is exact (:mod:`mailframe.store.sql.textindex`), and for
    SUBJECT with a needle of one line (the decoded values kept beside the
    sort keys, :func:`mailframe.store.sql.sortindex.subject_text`)."""
    table, id_ = dialect.text_table, dialect.text_key
    if isinstance(key, SearchBody) and not key.value:
        return "1 = 1"  # BODY "" and TEXT "" match every message
    ws = words(key.value)
    if sure:
        folded = fold_case(key.value)
        if (
            isinstance(key, SearchHeader)
            and key.name.lower() == "subject"
            and folded
            and "\n" not in folded
            and "\r" not in folded
        ):
            # the Subject: values as the matcher compares them, one per
            # line (mailframe.store.sql.sortindex.subject_text): a needle
            # without a line break is in them exactly when SUBJECT matches
            params.append(folded)
            return (
                f"(COALESCE({dialect.instr}((SELECT s.subject_text FROM message_sort s "
                "WHERE s.message_id = mm.message_id), ?), 0) > 0)"  # NULL: no Subject:, not sure
            )
        if isinstance(key, SearchBody) and not key.text and [folded] == ws:
            tests = _word_tests("body", ws, dialect, params, True)
            select = f"SELECT {id_} FROM {table} WHERE " + " AND ".join(tests)
            return f"(m.text_state = 0 AND mm.message_id IN ({select}))"
        return "1 = 0"
    if not ws:
        # HEADER x "" matches every message with the field; a needle of
        # white space only: the matcher decides.
        return "1 = 1"
    if isinstance(key, SearchHeader):
        columns = ["hdr"]
    elif key.text:
        columns = ["hdr", "body", "extra"]
    else:
        columns = ["body", "extra"]
    selects = []
    for column in columns:
        tests = _word_tests(column, ws, dialect, params, False)
        selects.append(f"SELECT {id_} FROM {table} WHERE " + " AND ".join(tests))
    # messages whose documents were cut: always candidates (a partial index)
    selects.append(f"SELECT id FROM messages WHERE text_state <> 0 AND (text_state & {CUT}) <> 0")
    return "mm.message_id IN (" + " UNION ".join(selects) + ")"


def _compile(
    key: SearchKey, largest: int, dialect: Dialect, params: list[Any], sure: bool
) -> str:
    if isinstance(key, SearchAll):
        return "1 = 1"
    if isinstance(key, SearchNot):
        # the negation of a superset is a subset, and the other way round
        return f"NOT ({_compile(key.key, largest, dialect, params, not sure)})"
    if isinstance(key, SearchOr):
        left = _compile(key.left, largest, dialect, params, sure)
        right = _compile(key.right, largest, dialect, params, sure)
        return f"(({left}) OR ({right}))"
    if isinstance(key, SearchAnd):
        parts = [f"({_compile(k, largest, dialect, params, sure)})" for k in key.keys]
        return "(" + " AND ".join(parts) + ")"
    if isinstance(key, (SearchHeader, SearchBody)):
        return _text_condition(key, dialect, params, sure)
    if isinstance(key, SearchFlag):
        bit = FLAG_BITS.get(key.flag)
        if bit is not None:
            return f"(mm.flags & {bit}) {'<>' if key.present else '='} 0"
        if key.flag.startswith("\\"):  # exact, as flag_in compares it
            haystack, needle = "' ' || mm.keywords || ' '", f" {key.flag} "
        else:  # keywords: without regard to (ASCII) case
            haystack, needle = "' ' || lower(mm.keywords) || ' '", f" {key.flag.lower()} "
        params.append(needle)
        return f"{dialect.instr}({haystack}, ?) {'>' if key.present else '='} 0"
    if isinstance(key, SearchSet):
        ranges = key.numbers.ranges
        if len(ranges) > MAX_RANGES:
            raise _TooBig
        parts = []
        for lo, hi in ranges:
            lo = largest if lo == STAR else lo
            hi = largest if hi == STAR else hi
            params.extend((min(lo, hi), max(lo, hi)))
            parts.append("mm.uid BETWEEN ? AND ?")
        return "(" + " OR ".join(parts) + ")"
    if isinstance(key, SearchModSeq):
        params.append(key.modseq)
        return "mm.modseq >= ?"
    if isinstance(key, SearchSize):
        params.append(key.size)
        return f"m.size {'>' if key.op == 'larger' else '<'} ?"
    if isinstance(key, SearchDate):
        params.append(key.when.isoformat())
        op = {"before": "<", "on": "=", "since": ">="}[key.op]
        return f"substr(m.internaldate, 1, 10) {op} ?"
    raise ValueError(f"not answerable from state: {key!r}")  # pragma: no cover
