"""SEARCH pushdown (:class:`mailframe.interfaces.ISearchableMailbox`):
keys over flags, UIDs, sizes, internal dates and modseqs compiled to one
SQL condition, answering exactly what :mod:`mailframe.store.statesearch`
(the framework's matcher, RFC 3501 §6.4.4) answers.

Rules kept: system flags are bits; keywords compare case-insensitively
(``flag_in``), other backslash names exactly; BEFORE/ON/SINCE compare the
internal date's own calendar day (the stored ISO text starts with it); a
UID set's ``*`` is the largest UID.  Keys needing headers or bodies are
not compiled (``None``: the framework's matcher answers them).
"""

from __future__ import annotations

from typing import Any

from mailframe.imap.types import (
    STAR,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
)
from mailframe.store.sql.dialect import Dialect
from mailframe.store.statesearch import answerable

__all__ = ["compile_key", "MAX_RANGES", "FLAG_BITS"]

#: system flags as bits of mailbox_messages.flags.
FLAG_BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16}
#: UID sets with more ranges than this are left to the matcher.
MAX_RANGES = 200


class _TooBig(Exception):
    pass


def compile_key(key: SearchKey, largest: int, dialect: Dialect) -> tuple[str, list[Any]] | None:
    """A condition over ``mm`` (mailbox_messages) and ``m`` (messages) and
    its parameters, or ``None`` when ``key`` is not answerable here."""
    if not answerable(key):
        return None
    params: list[Any] = []
    try:
        return _compile(key, largest, dialect, params), params
    except _TooBig:
        return None


def _compile(key: SearchKey, largest: int, dialect: Dialect, params: list[Any]) -> str:
    if isinstance(key, SearchAll):
        return "1 = 1"
    if isinstance(key, SearchNot):
        return f"NOT ({_compile(key.key, largest, dialect, params)})"
    if isinstance(key, SearchOr):
        left = _compile(key.left, largest, dialect, params)
        right = _compile(key.right, largest, dialect, params)
        return f"(({left}) OR ({right}))"
    if isinstance(key, SearchAnd):
        return (
            "(" + " AND ".join(f"({_compile(k, largest, dialect, params)})" for k in key.keys) + ")"
        )
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
