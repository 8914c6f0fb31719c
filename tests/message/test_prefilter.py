"""The first pass of a header SEARCH over many messages at once
(mailframe.message.HeaderText, issue 16) never leaves out a message the
matcher says yes to (RFC 3501 §6.4.4), so the SEARCH answer stays the
matcher's: checked on hand-picked hard headers and on generated ones."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe import message as mm


class _Row:
    """A header as the matcher reads it (a SEARCH column row)."""

    __slots__ = ("header", "_cache")

    def __init__(self, header: bytes) -> None:
        self.header = header
        self._cache: dict[str, Any] | None = None


HEADERS = [
    b"From: Ben <ben@example.org>\r\nSubject: [kiwi-sub] hello\r\n\r\n",
    b"From: ann@example.org\r\nSubject: other\r\n\r\n",
    b"From: \"b\\en\" <x@example.org>\r\nSubject: q\r\n\r\n",  # a quoted pair: address text differs from raw
    b"From: b(comment)en@example.org\r\nSubject: c\r\n\r\n",  # a comment inside the local part
    b"From: =?utf-8?q?B=C3=A9n?= <ben@example.org>\r\nSubject: =?utf-8?q?kiwi-sub?=\r\n\r\n",
    b"Subject: KIWI-\r\n SUB folded\r\nFrom: BEN@EXAMPLE.ORG\r\n\r\n",
    b"Subject: kiwi\x01-sub\r\n\r\n",  # the separator inside a header
    b"Subject: caf\xc3\xa9 kiwi-sub\r\n\r\n",  # 8-bit
    b"Subject: bare\rcr kiwi-sub\r\n\r\n",
    b"From:ben@example.org",  # no line end at all
    b"",
    b"To: ben@example.org\r\nFrom: x@y\r\n\r\n",
    b"X-From: ben@example.org\r\nFROM : Ben  Smith <ben @ example.org>\r\n\r\n",
]
NEEDLES = [
    ("SUBJECT", "kiwi-sub"),
    ("SUBJECT", "KIWI"),
    ("SUBJECT", "kiwi sub"),
    ("SUBJECT", "café"),
    ("SUBJECT", "-"),
    ("FROM", "ben@example"),
    ("FROM", "Ben"),
    ("FROM", "bén"),
    ("FROM", "ben smith"),
    ("FROM", "missing_domain"),
    ("TO", "ben"),
    ("X-FROM", "ben"),
    ("FROM", "\x01"),
]


def _check(headers: list[bytes], name: str, needle: str) -> None:
    text = mm.HeaderText(headers)
    assert len(text) == len(headers)
    maybe = text.candidates(name, needle)
    matcher = mm.header_matcher(name, needle)
    yes = {k for k, h in enumerate(headers) if matcher(_Row(h))}
    if maybe is not None:
        assert yes <= maybe, (name, needle, sorted(yes - maybe))


def test_hard_headers() -> None:
    for name, needle in NEEDLES:
        _check(HEADERS, name, needle)
        _check(list(reversed(HEADERS)), name, needle)


def test_it_leaves_messages_out() -> None:
    """The point of it: a needle in few messages leaves few candidates."""
    headers = [b"From: a%d@example.org\r\nSubject: s%d\r\n\r\n" % (i, i) for i in range(100)]
    text = mm.HeaderText(headers)
    assert text.candidates("SUBJECT", "s42") == {42}
    assert text.candidates("FROM", "a7@example") == {7, *range(70, 80)}  # "a7" is in a70 ... a79
    assert text.candidates("FROM", "nobody") == set()


_CHUNKS = st.sampled_from(
    [b"From", b"from", b"FROM ", b"To", b"Subject", b"X-From", b":", b" ", b"\t", b"\r\n", b"\r\n ", b"\n",
     b"\r", b"ben", b"BEN", b"@", b"example", b".org", b"<", b">", b'"', b"\\", b"(", b")", b"]", b"=?",
     b"?=", b"utf-8?q?", b"\xc3\xa9", b"\x00", b"\x01", b"kiwi", b"-sub", b",", b";"]
)
_HEADER = st.lists(_CHUNKS, max_size=25).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_HEADER, min_size=1, max_size=6), st.sampled_from(NEEDLES))
def test_never_leaves_out_a_match(headers: list[bytes], key: tuple[str, str]) -> None:
    _check(headers, *key)
