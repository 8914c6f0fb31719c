"""Maildir store benchmark: figures, not asserts.

    python bench/bench_maildir.py            # N = 2 000
    python bench/bench_maildir.py --big      # also N = 100 000 (slow to build)
    python bench/bench_maildir.py --n 5000 --dir /var/tmp/x

For each N it prints: durable APPEND messages/s; SELECT-equivalent
(``snapshot()``) cold (a new store object, index read from disk) and warm;
``records()`` of every message plus the HEADER.FIELDS (FROM TO SUBJECT
DATE) cut, i.e. ``FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE
BODY.PEEK[HEADER.FIELDS (...)])``, messages/s; ``open()``+read MB/s (all
messages, 200 of 100 KB, and one of 10 MB); SEARCH by flag, header and body text;
``STORE 1:* +FLAGS (\\Seen)``.  For the 100 000 case the messages are
written into ``cur/`` directly (as an MDA or a restore would) and the first
open builds the index from them; that rebuild time is printed too, and
durable APPEND is measured on top of the full mailbox.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import defer  # noqa: E402

from mailframe.message import header_fields  # noqa: E402
from mailframe.store.maildir import MaildirStore  # noqa: E402

FIELDS = ("FROM", "TO", "SUBJECT", "DATE")


def result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]


def message(i: int) -> bytes:
    body = b"".join(
        b"Line %d of message %d, some words to search in.\r\n" % (j, i) for j in range(40)
    )
    if i % 97 == 0:
        body += b"The needle is here.\r\n"
    return (
        b"From: Sender %d <s%d@example.org>\r\nTo: rcpt@example.org\r\n"
        b"Subject: benchmark message %d\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <%d@bench>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
        % (i, i, i, i)
        + body
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def open_box(path: str) -> Any:
    return result(result(MaildirStore(path).account("bench")).mailbox("INBOX"))


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def bench(n: int, path: str, prebuild: bool, appends: int) -> None:
    print(f"N = {n}  ({path})")
    if prebuild:
        maildir = os.path.join(path, "bench")
        os.makedirs(os.path.join(maildir, "tmp"))
        os.makedirs(os.path.join(maildir, "new"))
        os.makedirs(os.path.join(maildir, "cur"))
        t = time.perf_counter()
        for i in range(n):
            data = message(i)
            name = f"{1700000000 + i}.M{i}P1.bench,S={len(data)}:2,{'S' if i % 3 else ''}"
            with open(os.path.join(maildir, "cur", name), "wb") as f:
                f.write(data)
        line("writing files directly (no fsync)", f"{time.perf_counter() - t:.1f} s")
        dt, box = timed(lambda: open_box(path))
        line("first open: index built from the files", f"{dt:.2f} s ({n / dt:,.0f} msgs/s)")
        box = open_box(path)
    else:
        box = open_box(path)
        appends = n
    msgs = [message(n + i) for i in range(appends)]
    t = time.perf_counter()
    for data in msgs:
        result(box.append(data, frozenset(), None))
    dt = time.perf_counter() - t
    line(
        f"durable APPEND x{appends}",
        f"{appends / dt:,.0f} msgs/s ({dt * 1000 / appends:.2f} ms each)",
    )
    total = len(result(box.snapshot()).messages)

    dt, snap = timed(lambda: result(open_box(path).snapshot()))
    line(f"SELECT cold (new store, index from disk), {total}", f"{dt * 1000:.1f} ms")
    box = open_box(path)
    result(box.snapshot())
    time.sleep(1.1)  # past the same-second mtime recheck window
    result(box.snapshot())
    warm = [timed(lambda: result(box.snapshot()))[0] for _ in range(7)]
    line("SELECT warm (median of 7)", f"{statistics.median(warm) * 1000:.2f} ms")
    st = [timed(lambda: result(box.status()))[0] for _ in range(7)]
    line("STATUS warm (median of 7)", f"{statistics.median(st) * 1000:.3f} ms")

    uids = [s.uid for s in snap.messages]

    def header_fetch(b: Any) -> int:
        count = 0
        for rec in result(b.records(uids)):
            header_fields(rec.info.header, FIELDS, False)
            count += 1
        return count

    cold = open_box(path)
    dt, count = timed(lambda: header_fetch(cold))
    line("FETCH headers cold (records + HEADER.FIELDS)", f"{count / dt:,.0f} msgs/s")
    dt, count = timed(lambda: header_fetch(cold))
    line("FETCH headers warm", f"{count / dt:,.0f} msgs/s")

    def read_all() -> int:
        size = 0
        for uid in uids[: min(len(uids), 20000)]:
            size += len(result(box.read(uid)))
        return size

    dt, size = timed(read_all)
    line(
        "FETCH BODY.PEEK[] all (read)",
        f"{size / dt / 1e6:,.1f} MB/s ({min(len(uids), 20000) / dt:,.0f} msgs/s)",
    )
    mid = [b"Subject: mid %d\r\n\r\n" % i + (b"y" * 998 + b"\r\n") * 100 for i in range(200)]
    mid_uids = [result(box.append(m, frozenset(), None)) for m in mid]

    def read_mid() -> int:
        size = 0
        for uid in mid_uids:
            size += len(result(box.read(uid)))
        return size

    dt, size = timed(read_mid)
    line("FETCH BODY.PEEK[] of 200 x 100 KB messages", f"{size / dt / 1e6:,.0f} MB/s")
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 10_000
    big_uid = result(box.append(big, frozenset(), None))

    def read_big() -> int:
        size = 0
        for _ in range(10):
            for pos in range(0, len(big), 1 << 20):  # ranged reads, as FETCH streams
                size += len(result(box.read(big_uid, pos, pos + (1 << 20))))
        return size

    dt, size = timed(read_big)
    line("FETCH BODY.PEEK[] of a 10 MB message", f"{size / dt / 1e6:,.0f} MB/s")

    dt, hits = timed(
        lambda: [s.uid for s in result(box.snapshot()).messages if "\\Seen" not in s.flags]
    )
    line("SEARCH UNSEEN (flags)", f"{dt * 1000:.1f} ms, {len(hits)} hits")

    needle = b"message %d" % (n + 42)

    def search_header() -> list[int]:
        return [
            r.uid
            for r in result(box.records(uids))
            if needle in header_fields(r.info.header, ("SUBJECT",), False)
        ]

    dt, hits = timed(search_header)
    line("SEARCH SUBJECT (cached headers)", f"{dt * 1000:.1f} ms, {len(hits)} hits")

    def search_body() -> list[int]:
        out = []
        for uid in uids:
            if b"needle" in result(box.read(uid)):
                out.append(uid)
        return out

    dt, hits = timed(search_body)
    line("SEARCH BODY (read every file)", f"{dt * 1000:.0f} ms, {len(hits)} hits")

    dt, res = timed(lambda: result(box.store(uids, "add", frozenset({"\\Seen"}))))
    line(
        "STORE 1:* +FLAGS (\\Seen)",
        f"{dt * 1000:.0f} ms, {len(res.changed)} changed ({len(res.changed) / max(dt, 1e-9):,.0f}/s)",
    )
    size = os.path.getsize(os.path.join(path, "bench", "mailframe-index"))
    csize = os.path.getsize(os.path.join(path, "bench", "mailframe-cache"))
    line("index / cache file size", f"{size / 1e6:.1f} MB / {csize / 1e6:.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--big", action="store_true", help="also run N = 100 000")
    ap.add_argument("--dir", default=None, help="where to build (default: a temp dir)")
    args = ap.parse_args()
    runs = [(args.n, False)] + ([(100_000, True)] if args.big else [])
    for n, prebuild in runs:
        path = tempfile.mkdtemp(prefix="mf-bench-", dir=args.dir)
        try:
            bench(n, path, prebuild, appends=500)
        finally:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
