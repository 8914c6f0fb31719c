"""Summarise a py-spy ``--format raw`` profile (collapsed stacks: one
``frame;frame;...;leaf count`` per line) into the functions where the
time goes: inclusive share (on the stack) and self share (the leaf).

    .venv/bin/python bench/profile_summary.py profile.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``func (file.py)`` without the line,
    so one function's samples add up across its lines."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    parts = path.split("/")
    keep = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{match.group('func')} ({keep})"


def summarise(text: str) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [short(f) for f in stack.split(";")]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        self_time[frames[-1]] += n
    return total, inclusive, self_time


def report(text: str, top: int = 25) -> str:
    total, inclusive, self_time = summarise(text)
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "inclusive  function"]
    skip = ("<module>", "run (", "runReactor", "mainLoop", "doPoll", "doRead", "_doReadOrWrite",
            "callWithLogger", "callWithContext", "_callWithContext", "startReactor", "runApp",
            "run_path", "_run_code", "_run_module_code", "doIteration", "_bootstrap", "main (")
    for func, n in inclusive.most_common(top * 3):
        if any(func.startswith(s) or s in func for s in skip):
            continue
        lines.append(f"{100 * n / total:8.1f}%  {func}")
        if len(lines) >= top + 3:
            break
    lines += ["", "self       function"]
    for func, n in self_time.most_common(top):
        lines.append(f"{100 * n / total:8.1f}%  {func}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    sys.stdout.write(report(Path(args.profile).read_text(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
