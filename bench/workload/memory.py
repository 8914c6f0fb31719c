"""Resident memory of a server's process tree, from /proc (Linux).

RSS (``VmRSS`` in /proc/<pid>/status) is what the brief measures; PSS
(``Pss`` in /proc/<pid>/smaps_rollup) divides shared pages among the
processes sharing them, which is the fair sum for servers that fork a
process per connection (Dovecot).
"""

from __future__ import annotations

import os
import resource


def children_map() -> dict[int, list[int]]:
    """parent pid → child pids, for every process visible in /proc."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _field_kb(path: str, name: bytes) -> int:
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_kb(pid: int) -> tuple[int, int]:
    """(sum of VmRSS, sum of Pss) in KB over ``pid`` and its descendants."""
    rss = pss = 0
    for p in process_tree(pid):
        rss += _field_kb(f"/proc/{p}/status", b"VmRSS:")
        pss += _field_kb(f"/proc/{p}/smaps_rollup", b"Pss:")
    return rss, pss


def raise_nofile(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to ``wanted`` (up to
    the hard limit, or beyond it when running as root); returns the new
    soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    target = wanted if hard == resource.RLIM_INFINITY or hard >= wanted else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
