"""Reproducible, realistic-looking messages for COMPRESS tests and benches."""

from __future__ import annotations

import random

_NAMES = ["Alice Example", "Bob Builder", "Carol Jones", "Dave Smith", "Erin Brown",
          "Frank Miller", "Grace Hopper", "Heidi Klum", "Ivan Petrov", "Judy Chen"]
_WORDS = ("meeting report lunch budget release review draft invoice travel plan "
          "update question urgent weekly notes project server backup design").split()


def message(i: int, rng: random.Random) -> bytes:
    """Message number ``i``: typical list-mail headers and a short body."""
    sender = rng.choice(_NAMES)
    to = rng.choice(_NAMES)
    subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7)))
    day = 1 + i % 28
    user = sender.split()[0].lower()
    lines = [
        f"Return-Path: <{user}@example.org>",
        f"Received: from mx{i % 7}.example.org (mx{i % 7}.example.org [192.0.2.{i % 250}])"
        f"\r\n\tby mail.example.net with ESMTPS id {rng.getrandbits(48):012x}"
        f"\r\n\tfor <{to.split()[0].lower()}@example.net>; Mon, {day:02d} Jan 2024 10:{i % 60:02d}:00 +0000",
        f"From: {sender} <{user}@example.org>",
        f"To: {to} <{to.split()[0].lower()}@example.net>",
        "Cc: team@example.net",
        f"Subject: {'Re: ' if i % 3 else ''}{subject}",
        f"Date: Mon, {day:02d} Jan 2024 10:{i % 60:02d}:00 +0000",
        f"Message-ID: <{rng.getrandbits(64):016x}.{i}@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
        "List-Id: Team discussion <team.example.net>",
        "",
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 80))),
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def messages(n: int, seed: int = 4978) -> list[bytes]:
    rng = random.Random(seed)
    return [message(i, rng) for i in range(n)]


#: The FETCH a mail client sends to list a mailbox (Thunderbird-like).
HEADER_SYNC = (b"UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS "
               b"(FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE LIST-ID)])")
