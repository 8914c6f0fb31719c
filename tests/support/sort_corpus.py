"""A deterministic corpus for SORT and THREAD (RFC 5256): the sample
messages of tests/data/messages plus generated ones with threads (good,
truncated, looping and duplicate References), subjects with Re:/Fwd:/
[blob]/(fwd) decorations and encoded words, addresses of every shape and
missing or broken dates.  :func:`corpus` returns ``(message, internal
date)`` pairs in APPEND order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "messages"

SUBJECT_BASES = [
    "Meeting", "meeting", "Budget 2024", "Ünïcödé tëst", "Café", "straße", "ǅemal", "σίσυφος",
    "Привет", "[list] announcement", "x", "", "Re", "Fwd", "The (fwd) thing", "a  b\tc",
    # collation corners (titlecase, compatibility decomposition, digraphs)
    "Ｆiy", "Ⅸ", "ix", "ﬁx", "fiz", "ǆa", "Ǳb", "ſa", "µa", "²a", "Ĳb", "cafe\u0301", "Å", "Ω", "ß",
]
DECORATIONS = [
    "{}", "Re: {}", "RE: re: {}", "Fwd: {}", "Fw: {}", "FWD:{}", "[list] Re: {}", "Re: [list] {}",
    "{} (fwd)", "{} (fwd) (FWD)  ", "[Fwd: {}]", "[fwd: Re: {}]", "  Re:   {}  ", "Re[2]: {}",
    "Re [3]: {}", "[a][b] {}", "[only]", "[] {}", "Rex: {}", "re:re:RE: {}", "Fwd: Re: [x] {} (fwd)",
]
NAMES = [
    "Alice Example <alice@example.com>", "bob@example.org", '"Zed, Z" <zed@example.net>',
    "=?UTF-8?Q?J=C3=B6rg?= <jorg@example.de>", "undisclosed-recipients:;", "<>",
    "Émile Zola <emile@example.fr>", "(comment) carol@example.com", "dave", "@broken",
    "=?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>", "\"\" <empty@example.com>",
    "aaron@example.com, zoe@example.com", "Group: mia@example.com, ann@example.com;",
    "ÅSA <asa@example.se>", "mallory@EXAMPLE.com", "MALLORY@example.com",
]
ZONES = ["+0000", "-0800", "+0530", "+1400", "-1200", "GMT", "EST", ""]


def _encode(subject: str, rng: random.Random) -> str:
    """Sometimes an RFC 2047 encoded word, sometimes raw UTF-8."""
    if subject.isascii() or rng.random() < 0.3:
        return subject
    import base64

    if rng.random() < 0.5:
        return "=?UTF-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    return "=?UTF-8?Q?" + "".join(
        c if c.isascii() and c.isalnum() else "".join(f"={b:02X}" for b in c.encode()) for c in subject
    ) + "?="


def _date(rng: random.Random, base: datetime) -> str | None:
    r = rng.random()
    if r < 0.08:
        return None
    if r < 0.12:
        return "not a date"
    if r < 0.15:
        return "Mon, 1 Jan 2024 10:00:00 +0000"  # many messages on one date
    when = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
    zone = rng.choice(ZONES)
    text = when.strftime("%a, %d %b %Y %H:%M:%S")
    if rng.random() < 0.1:
        text = when.strftime("%d %b %y %H:%M")  # obsolete two-digit year, no seconds
    return f"{text} {zone}".strip()


def generated(count: int, seed: int = 5256) -> list[tuple[bytes, datetime]]:
    rng = random.Random(seed)
    base = datetime(2023, 1, 1, tzinfo=UTC)
    out: list[tuple[bytes, datetime]] = []
    ids: list[str] = []
    for i in range(count):
        lines: list[str] = []
        d = _date(rng, base)
        if d is not None:
            lines.append(f"Date: {d}")
        if rng.random() > 0.05:
            lines.append("From: " + rng.choice(NAMES))
        if rng.random() > 0.1:
            lines.append("To: " + rng.choice(NAMES))
        if rng.random() < 0.5:
            lines.append("Cc: " + rng.choice(NAMES))
        if rng.random() > 0.05:
            subject = rng.choice(DECORATIONS).format(rng.choice(SUBJECT_BASES))
            lines.append("Subject: " + _encode(subject, rng))
        r = rng.random()
        mid = f"m{i}.{rng.randrange(1000)}@corpus.example"
        if r < 0.05 and ids:
            mid = rng.choice(ids)  # a duplicate Message-ID
        if r < 0.1:
            pass
        if rng.random() > 0.05:
            lines.append(f"Message-ID: <{mid}>")
        ids.append(mid)
        r = rng.random()
        if ids and r < 0.45:
            depth = rng.randrange(1, 5)
            refs = [rng.choice(ids[max(0, len(ids) - 40) :]) for _ in range(depth)]
            if rng.random() < 0.1:
                refs.insert(0, f"missing{rng.randrange(30)}@nowhere")  # a dummy parent
            if rng.random() < 0.03:
                refs.append(mid)  # refers to itself
            if rng.random() < 0.7:
                lines.append("References: " + " ".join(f"<{x}>" for x in refs))
            if rng.random() < 0.6:
                lines.append(f"In-Reply-To: <{refs[-1]}>")
        elif r < 0.5:
            lines.append(f"In-Reply-To: <missing{rng.randrange(30)}@nowhere> (comment)")
        body = "body %d\r\n" % i + "x" * rng.randrange(0, 300)
        raw = ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()
        internal = base + timedelta(hours=rng.randrange(0, 24 * 30))
        out.append((raw, internal))
    return out


def samples() -> list[tuple[bytes, datetime]]:
    """The sample messages (CRLF), with one internal date each."""
    out = []
    base = datetime(2022, 6, 1, 12, 0, tzinfo=UTC)
    for i, path in enumerate(sorted(DATA.glob("*.eml"))):
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not raw.strip():
            continue  # nothing to store
        out.append((raw, base + timedelta(hours=i % 7)))
    return out


def corpus(count: int = 2000) -> list[tuple[bytes, datetime]]:
    """The sample messages followed by generated ones: ``count`` in all."""
    first = samples()
    return first + generated(max(0, count - len(first)))
