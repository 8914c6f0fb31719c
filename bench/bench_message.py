"""Benchmark of the message model (issue 3): prints figures, asserts nothing.

    .venv/bin/python bench/bench_message.py [--quick]

* parse() (structure + ENVELOPE + BODYSTRUCTURE + BODY, one pass) of a
  typical 20 KB message and of a 5 MB message with attachments;
* dump() / load() of the cached MessageInfo (what a backend index does);
* FETCH-time work on a cached MessageInfo: section_range + header_fields;
* SEARCH substring matching over 10 000 cached messages: header (cold and
  warm decoded-header cache), BODY and TEXT.
"""

from __future__ import annotations

import base64
import random
import sys
import time
from collections.abc import Callable

from mailframe.message import (
    MessageInfo,
    body_matches,
    header_fields,
    header_matches,
    parse,
    section_range,
    text_matches,
)

QUICK = "--quick" in sys.argv


def _header(i: int, subject: str) -> bytes:
    received = b"".join(
        b"Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d])\r\n"
        b"\tby mx.example.org (Postfix) with ESMTPS id 4F%05dX%d\r\n"
        b"\tfor <user@example.org>; Tue, 1 Mar 2022 10:%02d:00 +0000 (UTC)\r\n" % (k, k, k, i, k, k)
        for k in range(6)
    )
    return (
        received
        + b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=sel;\r\n"
        b"\th=from:to:subject:date:message-id; bh=" + base64.b64encode(bytes(32)) + b";\r\n"
        b"\tb=" + base64.b64encode(bytes(range(200))) + b"\r\n"
        b"From: =?utf-8?q?J=C3=B6rg_Sender?= <sender%d@example.net>\r\n"
        % i
        + b"To: Some One <user@example.org>, other@example.org\r\n"
        b'Cc: "List, Team" <team@example.org>\r\n'
        b"Subject: " + subject.encode() + b"\r\n"
        b"Date: Tue, 1 Mar 2022 10:%02d:00 +0000\r\n"
        % (i % 60)
        + b"Message-ID: <%d.bench@example.net>\r\n" % i
        + b"MIME-Version: 1.0\r\n"
    )


WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt".split()


def _text(rng: random.Random, size: int) -> bytes:
    out: list[str] = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12))
        out.append(line)
        n += len(line) + 2
    return "\r\n".join(out).encode() + b"\r\n"


def typical(i: int, size: int = 20_000, rng: random.Random | None = None) -> bytes:
    """multipart/alternative text + HTML, a Received-heavy header: ~size."""
    rng = rng or random.Random(i)
    head = _header(i, f"Quarterly report number {i}")
    body_size = max(200, size - len(head) - 600)
    plain = _text(rng, body_size // 3)
    html = b"<html><body>" + plain.replace(b"\r\n", b"<br>\r\n") + b"</body></html>\r\n"
    html = html + b"<p>" + _text(rng, max(0, body_size - len(plain) - len(html))) + b"</p>\r\n"
    return (
        head
        + b'Content-Type: multipart/alternative; boundary="=_alt_%d"\r\n\r\n' % i
        + b"--=_alt_%d\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\n"
        % i
        + plain
        + b"--=_alt_%d\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" % i + html + b"--=_alt_%d--\r\n" % i
    )


def big(size: int = 5_000_000) -> bytes:
    """multipart/mixed: a typical alternative part plus three base64
    attachments, ~size octets."""
    rng = random.Random(5)
    inner = typical(0, 20_000, rng)
    inner_body = inner[inner.index(b"\r\n\r\n") + 4 :]
    per = (size - 30_000) // 3 * 3 // 4
    attachments = b""
    for k, (ctype, name) in enumerate(
        [
            (b"application/pdf", b"report.pdf"),
            (b"image/jpeg", b"photo.jpg"),
            (b"application/zip", b"data.zip"),
        ]
    ):
        data = base64.encodebytes(rng.randbytes(per)).replace(b"\n", b"\r\n")
        attachments += (
            b"--=_mixed\r\nContent-Type: " + ctype + b'; name="' + name + b'"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="' + name + b'"\r\n\r\n' + data
        )
        del k
    return (
        _header(0, "Big one with attachments")
        + b'Content-Type: multipart/mixed; boundary="=_mixed"\r\n\r\n'
        + b'--=_mixed\r\nContent-Type: multipart/alternative; boundary="=_alt_0"\r\n\r\n'
        + inner_body
        + attachments
        + b"--=_mixed--\r\n"
    )


def timeit(fn: Callable[[], object], min_time: float = 0.5, max_runs: int = 10_000) -> float:
    """Best time of one call over many runs, in seconds (wall clock)."""
    fn()
    runs, best = 0, float("inf")
    start = time.perf_counter()
    while runs < max_runs and (time.perf_counter() - start) < min_time or runs < 3:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.2f} s "


def main() -> None:
    msg20 = typical(1)
    msg5m = big()
    print(f"typical message: {len(msg20):,} octets; big message: {len(msg5m):,} octets")
    for label, raw in (("20 KB", msg20), ("5 MB", msg5m)):
        info = parse(raw)
        blob = info.dump()
        t_parse = timeit(lambda raw=raw: parse(raw))  # type: ignore[misc]
        print(f"parse {label:6}  {fmt(t_parse)}   ({len(raw) / t_parse / 1e6:,.0f} MB/s)")
        print(f"dump  {label:6}  {fmt(timeit(info.dump))}   ({len(blob):,} octets)")
        print(f"load  {label:6}  {fmt(timeit(lambda blob=blob: MessageInfo.load(blob)))}")  # type: ignore[misc]
    info = parse(msg20)

    def fetch_cached() -> None:
        section_range(info, (2,), None)
        section_range(info, (1,), "MIME")
        h = section_range(info, (), "HEADER")
        assert h is not None
        header_fields(info.header, ("FROM", "TO", "SUBJECT", "DATE", "MESSAGE-ID"), False)

    print(
        f"FETCH cached (ENVELOPE/BODYSTRUCTURE are attributes): attribute access {fmt(timeit(lambda: info.envelope_wire))}"
    )
    print(f"FETCH sections + HEADER.FIELDS on a cached info       {fmt(timeit(fetch_cached))}")

    n = 2_000 if QUICK else 10_000
    rng = random.Random(7)
    raws = [typical(i, 4_000 + rng.randrange(4_000), rng) for i in range(n)]
    # batches are timed in process CPU time: on a shared machine wall time
    # mostly measures the other processes
    t = time.process_time()
    blobs = [parse(r).dump() for r in raws]
    t_parse = time.process_time() - t
    t = time.process_time()
    infos = [MessageInfo.load(b) for b in blobs]
    t_load = time.process_time() - t
    total = sum(map(len, raws))
    print(
        f"\n{n:,} messages ({total / 1e6:.1f} MB): parse+dump {t_parse:.2f} s CPU "
        f"({t_parse / n * 1e6:.0f} µs each), load all {t_load * 1e3:.0f} ms CPU"
    )

    def search(label: str, fn: Callable[[], int]) -> None:
        t = time.process_time()
        hits = fn()
        dt = time.process_time() - t
        print(
            f"SEARCH {label:34} {dt * 1e3:8.0f} ms  ({dt / n * 1e6:5.1f} µs/message, {hits} hits)"
        )

    search(
        "SUBJECT (cold header cache)",
        lambda: sum(header_matches(i, "subject", "number 99") for i in infos),
    )
    search(
        "SUBJECT (warm header cache)",
        lambda: sum(header_matches(i, "subject", "number 99") for i in infos),
    )
    search("FROM (encoded word)", lambda: sum(header_matches(i, "from", "jörg") for i in infos))
    search(
        "BODY (text + QP html)",
        lambda: sum(
            body_matches(i, r, "tempor elit sed") for i, r in zip(infos, raws, strict=True)
        ),
    )
    search(
        "TEXT (no hit: reads everything)",
        lambda: sum(
            text_matches(i, r, "nothing like this") for i, r in zip(infos, raws, strict=True)
        ),
    )


if __name__ == "__main__":
    main()
