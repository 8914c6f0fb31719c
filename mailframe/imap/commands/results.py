"""What SEARCH and SORT do with a result besides listing it: ESEARCH
return data in sort order (RFC 5267 §3.2), PARTIAL ranges (RFC 9394 §3.1)
and the saved result ``$`` (RFC 5182 §2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mailframe.imap.serialize import Atom, Value

__all__ = ["ordered_set", "partial_slice", "partial_value", "save_result"]


def ordered_set(numbers: Sequence[int]) -> str:
    """A ``sequence-set`` listing ``numbers`` in the order given, ascending
    runs written ``a:b`` (RFC 5267 §3.2 ALL, as Dovecot writes it:
    ``5,3:4,2,1``)."""
    parts: list[str] = []
    i, n = 0, len(numbers)
    while i < n:
        j = i
        while j + 1 < n and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}:{numbers[j]}")
        i = j + 1
    return ",".join(parts)


def partial_slice(numbers: Sequence[int], rng: tuple[int, int]) -> Sequence[int]:
    """The part of a result a PARTIAL range selects (RFC 9394 §3.1):
    positions from 1, or from the end when negative (``-1`` the last)."""
    lo, hi = rng
    n = len(numbers)
    if lo > 0:
        return numbers[lo - 1 : hi]
    start = max(n + hi, 0)
    end = max(n + lo + 1, 0)
    return numbers[start:end]


def partial_value(numbers: Sequence[int], rng: tuple[int, int]) -> list[Value]:
    """``PARTIAL (range set-or-NIL)`` of an ESEARCH response."""
    lo, hi = rng
    picked = partial_slice(numbers, rng)
    text = f"{lo}:{hi}"
    return [Atom("PARTIAL"), [Atom(text), Atom(ordered_set(picked)) if picked else None]]


def save_result(view: Any, uids: Sequence[int], wanted: set[str]) -> None:
    """RETURN (SAVE) (RFC 5182 §2.1): keep the UIDs of the result for
    ``$``; with MIN and/or MAX but neither ALL nor COUNT, only those
    messages.  ``uids`` is in result order."""
    if not uids or not (wanted & {"MIN", "MAX"}) or wanted & {"ALL", "COUNT"}:
        view.saved = frozenset(uids)
        return
    keep = set()
    if "MIN" in wanted:
        keep.add(uids[0])
    if "MAX" in wanted:
        keep.add(uids[-1])
    view.saved = frozenset(keep)
