"""SORT / THREAD benchmark over real sockets: figures, not asserts.

    python bench/bench_sort.py                 # N = 20 000, mailframe and Dovecot
    python bench/bench_sort.py --n 5000 --servers mailframe

The same generated corpus (tests/support/sort_corpus.py: threads,
decorated and encoded subjects, odd addresses) is written into each
server's Maildir ``cur/`` directly, as an MDA or a restore would.  For
each server it prints the first SELECT, then for each command the first
("cold": mailframe parses and caches the sort keys) and the median of
five later runs ("warm"), in milliseconds, measured at the client from
sending the command to reading its tagged OK.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import LAUNCHERS, PASSWORD, USER, Unavailable  # noqa: E402
from tests.support.sort_corpus import generated  # noqa: E402

COMMANDS = [
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (FROM SIZE) UTF-8 ALL",
    "SORT RETURN (COUNT MIN) (SUBJECT) UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
]


def fill(root: Path, messages: list[tuple[bytes, object]], owner: tuple[int, int] | None) -> None:
    """Write the messages into ``root``'s Maildir ``cur/``."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, (raw, when) in enumerate(messages):
        path = root / "cur" / f"{1700000000 + i}.M{i}P1.bench:2,"
        path.write_bytes(raw)
        stamp = when.timestamp()  # type: ignore[attr-defined]
        os.utime(path, (stamp, stamp))
    if owner is not None:
        for dirpath, _dirs, files in os.walk(root.parent):
            os.chown(dirpath, *owner)
            for f in files:
                os.chown(os.path.join(dirpath, f), *owner)


def timed(c: imaplib.IMAP4, command: str) -> float:
    tag = c._new_tag()  # type: ignore[attr-defined]
    start = time.perf_counter()
    c.send(tag + b" " + command.encode() + b"\r\n")
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            elapsed = time.perf_counter() - start
            if line.split()[1] != b"OK":
                raise RuntimeError(f"{command}: {line!r}")
            return elapsed * 1000


def run(name: str, n: int, messages: list[tuple[bytes, object]], base: Path) -> None:
    workdir = base / name
    workdir.mkdir(parents=True)
    if name == "dovecot":
        fill(workdir / "mail" / USER, messages, (65534, 65534))
    else:
        fill(workdir / "mail" / USER, messages, None)
    try:
        server = LAUNCHERS[name](workdir)
    except Unavailable as exc:
        print(f"{name}: unavailable: {exc}")
        return
    try:
        c = imaplib.IMAP4("127.0.0.1", server.port)
        c.login(USER, PASSWORD)
        select = timed(c, "SELECT INBOX")
        print(f"{name} {server.version}: N={n}, first SELECT {select:.0f} ms")
        for command in COMMANDS:
            cold = timed(c, command)
            warm = statistics.median(timed(c, command) for _ in range(5))
            print(f"  {command:<45} cold {cold:8.1f} ms   warm {warm:8.1f} ms")
        c.logout()
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--servers", default="mailframe,dovecot")
    ap.add_argument("--dir", default=None, help="work directory (default: a new one under /tmp)")
    args = ap.parse_args()
    messages = generated(args.n)
    base = Path(args.dir or tempfile.mkdtemp(prefix="mailframe-bench-sort-"))
    os.chmod(base, 0o711)
    try:
        for name in args.servers.split(","):
            run(name, args.n, messages, base)
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
