"""RETURN options of SEARCH and SORT: RFC 4731 §3 (MIN MAX ALL COUNT),
RFC 5182 §2 (SAVE), RFC 9394 §3.1 (PARTIAL)."""

from __future__ import annotations

from mailframe.imap.grammar_reader import MAX_NUMBER, Reader

__all__ = ["return_options"]

#: RFC 4731 §3, RFC 5182 §2, RFC 9394 §3.1, RFC 5267 §4.1 (CONTEXT, UPDATE)
_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE", "PARTIAL", "CONTEXT", "UPDATE"})


def _partial(r: Reader) -> tuple[int, int]:
    """``partial-range = partial-range-first / partial-range-last``
    (RFC 9394 §3.1): ``a:b`` or ``-a:-b`` as (a, b) or (-a, -b), the
    smaller position first; positions from the end are negative."""
    negative = r.skip(0x2D)
    lo = r.nz_number(MAX_NUMBER, "partial range")
    r.expect(0x3A, "':' in the partial range")
    if negative:
        r.expect(0x2D, "'-' in the partial range")
    elif r.peek() == 0x2D:
        r.fail("Invalid partial range")
    hi = r.nz_number(MAX_NUMBER, "partial range")
    if lo > hi:
        lo, hi = hi, lo
    return (-lo, -hi) if negative else (lo, hi)


def return_options(r: Reader) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """``"RETURN" SP "(" [ret-opt *(SP ret-opt)] ")"`` from just after
    ``RETURN SP``: the options (upper-cased, in order, once each) and the
    PARTIAL range, if any."""
    r.open()
    opts: list[str] = []
    partial: tuple[int, int] | None = None
    if r.peek() != 0x29:
        while True:
            opt = r.keyword("return option")
            if opt not in _OPTIONS:
                r.fail(f"Unknown search return option {opt}")
            if opt == "PARTIAL":
                if partial is not None:
                    r.fail("PARTIAL given twice")
                r.sp()
                partial = _partial(r)
            opts.append(opt)
            if not r.skip(0x20):
                break
    r.close()
    if partial is not None and "ALL" in opts:
        r.fail("PARTIAL and ALL are mutually exclusive")  # RFC 9394 §3.1
    return tuple(dict.fromkeys(opts)), partial


