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
is the needle in those documents, read in SQL from the message's text
row, on a message where that means a match (false for header keys but
SUBJECT); NOT swaps them.  A text key every match must satisfy drives the
query: the index runs once, and when it looks the whole needle up as a
phrase (3+ characters, no white space) its answer is exact, so ``sure``
is only the message's state.  Rows that ``maybe`` admits and ``sure``
does not are confirmed by the matcher (:mod:`mailframe.store.sql.query`).

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
from mailframe.store.sql.gramindex import gram_match
from mailframe.store.sql.textindex import (
    CUT,
    UNUSUAL,
    exact_for,
    fts_phrase,
    like_pattern,
    words,
)
from mailframe.store.sql.wordindex import found_uids
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
    #: the driver's message ids as a query of its own (one column, no
    #: duplicates), taking ``driver_params``.
    driver_ids: str = ""
    #: ``driver_ids`` names UIDs of the mailbox (PostgreSQL's word index,
    #: :mod:`mailframe.store.sql.wordindex`), not message ids.
    driver_uids: bool = False
    #: the whole key is one BODY / TEXT phrase the word index answers
    #: exactly (PostgreSQL): one statement of two arrays answers it --
    #: the UIDs found, the UIDs of messages always confirmed
    #: (:func:`mailframe.store.sql.query.search_plan`); with ``fast_params``.
    fast: str = ""
    fast_params: tuple[Any, ...] = ()
    #: the conditions read the message's text row, joined as ``f``.
    text_row: bool = False
    #: the conditions read the ``messages`` row (``m``: size, internal
    #: date); without it the query reads ``mailbox_messages`` alone.
    message_row: bool = True


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


class _Ctx:
    """What one compilation shares: the engine, the largest UID, whether
    a condition reads the message's text row (``f``) or its ``messages``
    row (``m``), and whether a needle too short for the index is better
    found by one scan of the text table than row by row (``scan_short``)."""

    def __init__(
        self,
        dialect: Dialect,
        largest: int,
        scan_short: bool = False,
        scope: tuple[int, int, int] | None = None,
    ) -> None:
        self.dialect = dialect
        self.largest = largest
        self.scan_short = scan_short
        self.scope = scope
        self.text_row = False
        self.message_row = False


def compile_key(
    key: SearchKey,
    largest: int,
    dialect: Dialect,
    scan_short: bool = False,
    scope: tuple[int, int, int] | None = None,
) -> Compiled | None:
    """``key`` as SQL, or ``None`` when it is not answerable here.

    ``scope``: (mailbox id, lowest UID, highest UID) searched; PostgreSQL's
    word index looks UIDs up within it (without it, the slower trigram
    lookup of message ids serves).

    ``scan_short``: a needle with no word of three characters (no
    trigram to look up) is found by one scan of the text table, the
    query then starting from what it found, rather than by reading the
    text row of each message of the mailbox in turn (the better plan
    when the UIDs asked for are a good part of the store: SQLite reads a
    row of its FTS5 table by id several times slower than in a scan)."""
    if not compilable(key):
        return None
    ctx = _Ctx(dialect, largest, scan_short, scope)
    try:
        if not _textual(key):
            params: list[Any] = []
            exact = _compile(key, ctx, params, True)
            return Compiled(exact, params, exact, list(params), True, message_row=ctx.message_row)
        sure_params: list[Any] = []
        maybe_params: list[Any] = []
        # the indexes look needles of any length up (short ones too)
        found = _driving_leaf(key, scan_short or _grams(ctx))
        if found is None:
            sure = _compile(key, ctx, sure_params, True)
            maybe = _compile(key, ctx, maybe_params, False)
            return Compiled(
                sure,
                sure_params,
                maybe,
                maybe_params,
                False,
                text_row=ctx.text_row,
                message_row=ctx.message_row,
            )
        leaf, index = found
        # the driver runs the index (or the scan) once; the leaf's own
        # conditions then only say which of its rows are sure (the rest of
        # the key is compiled as usual, and is not given the leaf again)
        driver_params: list[Any] = []
        driver, phrase, ids = _driver(leaf, ctx, driver_params)
        parts = key.keys if isinstance(key, SearchAnd) else (key,)
        uids = _word_index(leaf, ctx)
        fast, fast_params = "", ()
        if uids and phrase and len(parts) == 1 and ctx.scope is not None:
            fast_params_: list[Any] = []
            fast = _fast(leaf, ctx.scope, fast_params_)
            fast_params = tuple(fast_params_)
        sures, maybes = [], []
        for i, part in enumerate(parts):
            if i == index:
                if phrase:
                    sures.append(f"NOT ({_unusual(UNUSUAL)})")
                else:
                    sures.append(_text_condition(leaf, ctx, sure_params, True))
                continue
            sures.append(_compile(part, ctx, sure_params, True))
            maybes.append(_compile(part, ctx, maybe_params, False))
        sure = "(" + " AND ".join(f"({c})" for c in sures) + ")"
        maybe = "(" + " AND ".join(f"({c})" for c in maybes) + ")" if maybes else "1 = 1"
        return Compiled(
            sure,
            sure_params,
            maybe,
            maybe_params,
            False,
            driver,
            tuple(driver_params),
            driver_ids=ids,
            driver_uids=uids,
            fast=fast,
            fast_params=fast_params,
            text_row=ctx.text_row,
            message_row=ctx.message_row,
        )
    except _TooBig:
        return None


def _unusual(bits: int) -> str:
    """The row's message has one of the state ``bits`` (few messages: the
    set is read once, through the partial index on ``text_state``, and
    ``messages`` is not joined for it)."""
    extra = f" AND (text_state & {bits}) <> 0" if bits != UNUSUAL else ""
    return f"mm.message_id IN (SELECT id FROM messages WHERE text_state <> 0{extra})"


def _long(word: str) -> bool:
    """Whether the trigram index can look ``word`` up (three characters)."""
    return len(word) >= 3


def _driving_leaf(
    key: SearchKey, scan_short: bool = False
) -> tuple[SearchHeader | SearchBody, int] | None:
    """A text key that every match of ``key`` satisfies (``key`` itself,
    or one of a top-level AND) with a word the index can look up (with
    ``scan_short``, any word: one scan finds it), and its place: the one
    with the longest such word (the fewest rows)."""
    candidates = key.keys if isinstance(key, SearchAnd) else (key,)
    best: tuple[SearchHeader | SearchBody, int] | None = None
    longest = 0 if scan_short else 2
    for i, k in enumerate(candidates):
        if isinstance(k, (SearchHeader, SearchBody)) and k.value:
            size = max((len(w) for w in words(k.value)), default=0)
            if size > longest:
                best, longest = (k, i), size
    return best


def _columns(key: SearchHeader | SearchBody) -> tuple[str, ...]:
    """The documents a key reads (:mod:`mailframe.store.sql.textindex`)."""
    if isinstance(key, SearchHeader):
        return ("hdr", "fields")
    return ("hdr", "body", "nested") if key.text else ("body",)


def _candidates(key: SearchHeader | SearchBody) -> int:
    """The state bits that make every message a candidate of ``key``:
    cut documents, and for BODY / TEXT documents that are not the
    matcher's text."""
    return CUT if isinstance(key, SearchHeader) else UNUSUAL


def _exact_needle(key: SearchHeader | SearchBody) -> str | None:
    """The folded needle of a BODY / TEXT key whose answer is a substring
    test on the documents of messages in the right state, or None."""
    if isinstance(key, SearchHeader):
        return None
    return exact_for(key.value)


def _looked_up(key: SearchHeader | SearchBody) -> tuple[list[str], bool, bool]:
    """The folded words the index looks up for ``key``, whether that is
    the whole needle as a phrase, and whether no word has three
    characters (no trigram)."""
    folded = _exact_needle(key)
    phrase = folded is not None and not any(c.isspace() for c in folded)
    ws = words(key.value)
    short = not any(_long(w) for w in ws)
    if phrase and folded is not None and (short or _long(folded)):
        return [folded], True, short
    return (ws if short else [w for w in ws if _long(w)]), False, short


def _word_index(key: SearchHeader | SearchBody, ctx: _Ctx) -> bool:
    """Whether PostgreSQL's word index looks ``key`` up (UIDs of the
    scope's mailbox): always, a needle under three characters through
    the entries of its 1- and 2-character substrings
    (:data:`mailframe.store.sql.wordindex.GRAMS`; looking it up in the
    words themselves named thousands of them, and GIN merging that many
    posting lists took 2.6 s at 100 000 messages)."""
    return ctx.dialect.name == "postgresql" and ctx.scope is not None


def _grams(ctx: _Ctx) -> bool:
    """Whether a needle under three characters is looked up in an index
    (its 1- and 2-character substrings': SQLite's ``search_grams``,
    PostgreSQL's word index) rather than found by a scan."""
    return ctx.dialect.name == "sqlite" or _word_index_ctx(ctx)


def _word_index_ctx(ctx: _Ctx) -> bool:
    return ctx.dialect.name == "postgresql" and ctx.scope is not None


def _always(bits: int) -> str:
    """The messages always candidates of a key (state ``bits``).
    text_state <> 0: the partial index's own condition, and one
    PostgreSQL's statistics estimate (few rows), so the planner starts
    from the found ids rather than scanning the mailbox."""
    return "SELECT id FROM messages WHERE text_state <> 0" + (
        f" AND (text_state & {bits}) <> 0" if bits != UNUSUAL else ""
    )


def _fast(
    key: SearchHeader | SearchBody, scope: tuple[int, int, int], params: list[Any]
) -> str:
    """One statement answering a phrase ``key`` alone from the word index:
    the UIDs found and the UIDs in scope of the messages always
    confirmed, each as one array (50 000 UIDs as one value, not 50 000
    rows; unordered -- the caller sorts)."""
    looked_up, _, _ = _looked_up(key)
    found = found_uids(_columns(key), looked_up, params, scope)
    params.extend(scope)
    return (
        f"SELECT ARRAY({found}), ARRAY(SELECT x.uid FROM mailbox_messages x "
        "WHERE x.mailbox_id = ? AND x.uid BETWEEN ? AND ? "
        f"AND x.message_id IN ({_always(_candidates(key))}))"
    )


def _driver(
    key: SearchHeader | SearchBody, ctx: _Ctx, params: list[Any]
) -> tuple[str, bool, str]:
    """The condition the query starts from: the messages whose documents
    the index finds holding the key's words (its words of three characters
    or more; if it has none, a scan of the text table finds its shorter
    words), and those always candidates; and whether it is the whole
    needle as a phrase -- then, with the tokenizer not folding case over
    documents already folded, a substring test, exact for messages of
    the right state; and those message ids (with PostgreSQL's word
    index: UIDs) as a query of their own."""
    dialect = ctx.dialect
    columns = _columns(key)
    looked_up, phrase, short = _looked_up(key)
    table, id_ = dialect.text_table, dialect.text_key
    bits = _candidates(key)
    always = _always(bits)
    if _word_index(key, ctx):
        # the word index (mailframe.store.sql.wordindex): each word's
        # lookup is exact, and names UIDs of the scope's mailbox
        assert ctx.scope is not None
        found = found_uids(columns, looked_up, params, ctx.scope)
        box = int(ctx.scope[0])
        return (
            f"(mm.uid IN ({found}) OR mm.message_id IN ({always}))",
            phrase,
            f"{found} UNION SELECT x.uid FROM mailbox_messages x "
            f"WHERE x.mailbox_id = {box} AND x.message_id IN ({always})",
        )
    if short and dialect.name == "sqlite":
        # no trigram: the index of 1- and 2-character substrings
        found = gram_match(columns, looked_up, params)
    elif short:
        # no trigram, no scope (PostgreSQL): one pass over the text table
        tests = []
        for w in looked_up:
            params.extend([w] * len(columns))
            tests.append("(" + " OR ".join(f"{dialect.instr}({c}, ?) > 0" for c in columns) + ")")
        found = f"SELECT {id_} FROM {table} WHERE " + " AND ".join(tests)
    elif dialect.name == "postgresql":
        # no scope to look UIDs up in: pg_trgm on the documents
        tests = []
        for w in looked_up:
            params.extend([like_pattern(w)] * len(columns))
            tests.append("(" + " OR ".join(f"{c} LIKE ?" for c in columns) + ")")
        found = f"SELECT {id_} FROM {table} WHERE " + " AND ".join(tests)
    else:
        group = "{" + " ".join(columns) + "}"
        params.append(" AND ".join(f"{group} : {fts_phrase(w)}" for w in looked_up))
        found = f"SELECT {id_} FROM {table} WHERE {table} MATCH ?"
    return (
        f"mm.message_id IN ({found} UNION ALL {always})",
        phrase,
        f"{found} UNION {always}",
    )


def _in_row(column: str, needle: str, ctx: _Ctx, params: list[Any]) -> str:
    """``needle`` is in ``column`` of the message's text row (``f``)."""
    ctx.text_row = True
    params.append(needle)
    return f"{ctx.dialect.instr}(f.{column}, ?) > 0"


def _text_condition(
    key: SearchHeader | SearchBody, ctx: _Ctx, params: list[Any], sure: bool
) -> str:
    """A text key: ``maybe`` -- every word of the needle is in a document
    the key reads (``hdr`` and ``fields`` for header keys, ``body`` for
    BODY, ``hdr``, ``body`` and ``nested`` for TEXT), or the message is
    always a candidate; ``sure`` -- for BODY / TEXT the needle is in one
    of those documents, on a message where that means the matcher says
    yes (:func:`mailframe.store.sql.textindex.exact_for`), for SUBJECT with a
    needle of one line in the decoded values kept beside the sort keys
    (:func:`mailframe.store.sql.sortindex.subject_text`), else false.

    Looked up through the index (an ``IN`` the database runs once) when a
    word has three characters or more; otherwise, and for ``sure``, read
    from the message's own text row, in SQL."""
    dialect = ctx.dialect
    if isinstance(key, SearchBody) and not key.value:
        return "1 = 1"  # BODY "" and TEXT "" match every message
    ws = words(key.value)
    columns = _columns(key)
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
        exact = _exact_needle(key)
        if exact is None:
            return "1 = 0"
        state = f"NOT ({_unusual(UNUSUAL)})"
        found = " OR ".join(_in_row(c, exact, ctx, params) for c in columns)
        return f"({state} AND ({found}))"
    if not ws:
        # HEADER x "" matches every message with the field; a needle of
        # white space only: the matcher decides.
        return "1 = 1"
    bits = _candidates(key)
    if any(_long(w) for w in ws) or _grams(ctx):
        driver, _, _ = _driver(key, ctx, params)
        return driver
    tests = []
    for w in ws:
        tests.append("(" + " OR ".join(_in_row(c, w, ctx, params) for c in columns) + ")")
    return f"(({_unusual(bits)}) OR (" + " AND ".join(tests) + "))"


def _compile(key: SearchKey, ctx: _Ctx, params: list[Any], sure: bool) -> str:
    if isinstance(key, SearchAll):
        return "1 = 1"
    if isinstance(key, SearchNot):
        # the negation of a superset is a subset, and the other way round
        return f"NOT ({_compile(key.key, ctx, params, not sure)})"
    if isinstance(key, SearchOr):
        left = _compile(key.left, ctx, params, sure)
        right = _compile(key.right, ctx, params, sure)
        return f"(({left}) OR ({right}))"
    if isinstance(key, SearchAnd):
        parts = [f"({_compile(k, ctx, params, sure)})" for k in key.keys]
        return "(" + " AND ".join(parts) + ")"
    if isinstance(key, (SearchHeader, SearchBody)):
        return _text_condition(key, ctx, params, sure)
    if isinstance(key, SearchFlag):
        bit = FLAG_BITS.get(key.flag)
        if bit is not None:
            return f"(mm.flags & {bit}) {'<>' if key.present else '='} 0"
        if key.flag.startswith("\\"):  # exact, as flag_in compares it
            haystack, needle = "' ' || mm.keywords || ' '", f" {key.flag} "
        else:  # keywords: without regard to (ASCII) case
            haystack, needle = "' ' || lower(mm.keywords) || ' '", f" {key.flag.lower()} "
        params.append(needle)
        return f"{ctx.dialect.instr}({haystack}, ?) {'>' if key.present else '='} 0"
    if isinstance(key, SearchSet):
        ranges = key.numbers.ranges
        if len(ranges) > MAX_RANGES:
            raise _TooBig
        parts = []
        for lo, hi in ranges:
            lo = ctx.largest if lo == STAR else lo
            hi = ctx.largest if hi == STAR else hi
            params.extend((min(lo, hi), max(lo, hi)))
            parts.append("mm.uid BETWEEN ? AND ?")
        return "(" + " OR ".join(parts) + ")"
    if isinstance(key, SearchModSeq):
        params.append(key.modseq)
        return "mm.modseq >= ?"
    if isinstance(key, SearchSize):
        params.append(key.size)
        ctx.message_row = True
        return f"m.size {'>' if key.op == 'larger' else '<'} ?"
    if isinstance(key, SearchDate):
        params.append(key.when.isoformat())
        op = {"before": "<", "on": "=", "since": ">="}[key.op]
        ctx.message_row = True
        return f"substr(m.internaldate, 1, 10) {op} ?"
    raise ValueError(f"not answerable from state: {key!r}")  # pragma: no cover
