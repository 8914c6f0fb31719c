"""Deterministic benchmark corpus: the same seed gives the same bytes.

The mix follows issue 7: small text messages, multipart/alternative
(text + HTML) and multipart/mixed with one base64 attachment of
20–200 KB.  Every message is regenerated on demand from ``(seed, index)``
so a 20 000-message corpus never has to sit in memory, and the checks can
compare any body byte for byte.

Search tokens are planted so counts can be computed from the corpus
alone: a subject token and a body token per message, chosen from lists in
which no token is a substring of another, and none can occur by chance in
base64 (they contain ``-``, which is not a base64 character).  Body tokens
go only in 7bit text parts so servers need not decode anything to find
them (RFC 3501 §6.4.4 BODY matches the decoded body text anyway).
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

SUBJECT_TOKENS = ("kiwi-sub", "mango-sub", "papaya-sub", "quince-sub", "durian-sub")
BODY_TOKENS = ("alpha-body", "bravo-body", "charlie-body", "delta-body", "echo-body",
               "foxtrot-body", "golf-body")
SENDERS = ("ann", "ben", "cho", "dee", "eli", "fay", "gus", "hal")
WORDS = ("the quick brown fox jumps over a lazy dog while mail servers answer "
         "fetch and search commands for many clients at once over loopback "
         "sockets with literals flags and sequence numbers").split()

KIND_TEXT = "text"
KIND_ALTERNATIVE = "alternative"
KIND_ATTACHMENT = "attachment"

BASE_DATE = datetime(2024, 1, 1, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class MessageMeta:
    """What the checks need to know about message ``index`` without its bytes."""

    index: int
    kind: str
    sender: str
    subject_token: str
    body_token: str
    flagged: bool
    message_id: str


@dataclass(frozen=True)
class Message:
    meta: MessageMeta
    data: bytes


def _rng(seed: int, index: int) -> random.Random:
    return random.Random(seed * 1_000_003 + index)


def _paragraph(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choices(WORDS, k=words))


def _text_lines(rnd: random.Random, size: int, token: str) -> str:
    """Roughly ``size`` bytes of 7bit text wrapped at ~70 columns, with
    ``token`` on its own line in the middle."""
    words = rnd.choices(WORDS, k=max(10, size // 6))
    lines = [" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]
    lines.insert(len(lines) // 2, "keyword: " + token)
    return "\r\n".join(lines) + "\r\n"


def meta_for(seed: int, index: int) -> MessageMeta:
    """The metadata of message ``index`` (cheap: no body generated)."""
    rnd = _rng(seed, index)
    roll = rnd.random()
    kind = KIND_TEXT if roll < 0.6 else KIND_ALTERNATIVE if roll < 0.9 else KIND_ATTACHMENT
    return MessageMeta(
        index=index,
        kind=kind,
        sender=rnd.choice(SENDERS),
        subject_token=rnd.choice(SUBJECT_TOKENS),
        body_token=rnd.choice(BODY_TOKENS),
        flagged=rnd.random() < 0.15,
        message_id=f"<bench.{seed}.{index}@mailframe.test>",
    )


def message(seed: int, index: int) -> Message:
    """Message ``index`` of the corpus with ``seed`` (CRLF line endings)."""
    meta = meta_for(seed, index)
    rnd = _rng(seed ^ 0x5EED, index)
    date = BASE_DATE + timedelta(minutes=7 * index)
    header = (
        f"From: {meta.sender.title()} Sender <{meta.sender}@example.org>\r\n"
        f"To: Bench Reader <alice@example.net>\r\n"
        + (f"Cc: list-{index % 13}@lists.example.com\r\n" if index % 3 == 0 else "")
        + f"Subject: [{meta.subject_token}] {_paragraph(rnd, 5)} #{index}\r\n"
        f"Date: {format_datetime(date)}\r\n"
        f"Message-ID: {meta.message_id}\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if meta.kind == KIND_TEXT:
        body = _text_lines(rnd, rnd.randint(500, 4000), meta.body_token)
        data = header + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body
        return Message(meta, data.encode("ascii"))
    boundary = f"=_bench_{seed}_{index}"
    text = _text_lines(rnd, rnd.randint(800, 3000), meta.body_token)
    if meta.kind == KIND_ALTERNATIVE:
        html = "<html><body><p>" + _paragraph(rnd, rnd.randint(100, 600)) + "</p></body></html>\r\n"
        data = (
            header
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            + f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}"
            + f"--{boundary}\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n{html}"
            + f"--{boundary}--\r\n"
        )
        return Message(meta, data.encode("ascii"))
    payload = rnd.randbytes(rnd.randint(20_000, 200_000))
    b64 = base64.encodebytes(payload).decode("ascii").replace("\n", "\r\n")
    data = (
        header
        + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        + f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}"
        + f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"data{index}.bin\"\r\n"
        + f"Content-Disposition: attachment; filename=\"data{index}.bin\"\r\n"
        + f"Content-Transfer-Encoding: base64\r\n\r\n{b64}"
        + f"--{boundary}--\r\n"
    )
    return Message(meta, data.encode("ascii"))


class Corpus:
    """``n`` messages from ``seed``; metadata kept, bytes regenerated."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.n = n
        self.seed = seed
        self.metas = [meta_for(seed, i) for i in range(n)]
        self._sizes: list[int] | None = None

    def message(self, index: int) -> bytes:
        return message(self.seed, index).data

    def sizes(self) -> list[int]:
        """RFC822.SIZE of every message (the bytes as appended, CRLF)."""
        if self._sizes is None:
            self._sizes = [len(self.message(i)) for i in range(self.n)]
        return self._sizes

    def count_subject(self, token: str) -> int:
        return sum(1 for m in self.metas if m.subject_token == token)

    def count_body(self, token: str) -> int:
        return sum(1 for m in self.metas if m.body_token == token)

    def count_from(self, sender: str) -> int:
        return sum(1 for m in self.metas if m.sender == sender)

    def count_flagged(self) -> int:
        return sum(1 for m in self.metas if m.flagged)
