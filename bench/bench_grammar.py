"""Parse time of pathological command lines (prints figures, asserts
nothing): long runs of one token must stay linear.  Moved here from
tests/grammar/test_errors.py, whose test now checks only that each line
parses or fails cleanly.

    .venv/bin/python bench/bench_grammar.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailframe.imap.framing import Frame  # noqa: E402
from mailframe.imap.grammar import ParseError, parse_command  # noqa: E402
from mailframe.imap.limits import Limits  # noqa: E402
from tests.grammar.test_errors import PATHOLOGICAL  # noqa: E402


def main() -> None:
    limits = Limits(max_line=1 << 20)
    print(f"{'command (first 40 octets)':44} {'octets':>8} {'ms':>8}")
    for line in PATHOLOGICAL:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            try:
                parse_command(Frame((line,)), limits)
            except ParseError:
                pass
            best = min(best, time.perf_counter() - start)
        print(f"{line[:40]!r:44} {len(line):>8} {best * 1000:>8.1f}")


if __name__ == "__main__":
    main()
