"""``* SEARCH`` numbers (RFC 3501 §7.2.5) written from the kept run of
``1 2 3 ...`` when a result has no gap: the same bytes as writing each
number, across digit-count boundaries, at the run's limit and past it."""

from __future__ import annotations

import pytest

from mailframe.imap.commands.search import RUN_MAX, numbers_wire


def _plain(numbers: list[int]) -> bytes:
    return b"".join(b" %d" % n for n in numbers)


@pytest.mark.parametrize(
    "lo,hi",
    [(1, 64), (1, 2000), (5, 99), (9, 200), (90, 1000), (999, 1200), (9990, 10100),
     (99_950, 100_050), (RUN_MAX - 100, RUN_MAX), (RUN_MAX - 10, RUN_MAX + 60), (1, 20)],
)
def test_runs(lo: int, hi: int) -> None:
    numbers = list(range(lo, hi + 1))
    assert numbers_wire(numbers) == _plain(numbers)


def test_results_with_gaps_and_empty() -> None:
    assert numbers_wire([]) == b""
    gappy = [n for n in range(1, 3000) if n % 7]
    assert numbers_wire(gappy) == _plain(gappy)
    assert numbers_wire(list(range(1, 100)) + [500]) == _plain([*range(1, 100), 500])
