"""Header SEARCH over many messages at once (``header_candidates``, issue
16) gives the matcher's answers: exact ones are exactly the messages
``header_matches`` says yes for, candidates hold every one of them --
over the message corpus, in every order, and over headers made to
break a join (no trailing line break, a block starting with white
space, lone CR, NUL, encoded words, folded fields)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe.message import header_candidates, header_matches, parse
from mailframe.message._search import decoded_headers

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = sorted((DATA / "messages").glob("*.eml"))


class Header:
    """A header block as a search row holds it (no decoded cache)."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        self._cache: dict[str, Any] | None = None


def _check(headers: list[bytes], name: str, needle: str) -> tuple[list[int], list[int]] | None:
    want = [k for k, h in enumerate(headers) if header_matches(Header(h), name, needle)]
    got = header_candidates(headers, name, needle)
    if got is not None:
        yes, maybe = got
        assert yes == sorted(set(yes)) and maybe == sorted(set(maybe)) and not set(yes) & set(maybe)
        assert set(yes) <= set(want) <= set(yes) | set(maybe), (name, needle)
    return got


PLAIN = [
    b"From: Ben Smith <ben@example.org>\r\nTo: Bench Reader <alice@example.net>\r\n"
    b"Subject: [kiwi-sub] hello there\r\n\r\n",
    b"From: ann@example.org\r\nSubject: mango-sub\r\n again kiwi-\r\n sub\r\n\r\n",
    b"from: cho <cho@example.org>\r\nsubject: KIWI-SUB upper\r\nSubject: second kiwi\r\n\r\n",
    b"To: ben@example.org\r\nSubject : spaced-colon kiwi-sub\r\n\r\n",  # no From
    b"From: ben\r\n @ example.org\r\nSubject: folded address\r\n\r\n",
    b"From: Ben <ben@example.org>\r\nSubject: no blank line at the end",
    b"Subject: LF only kiwi-sub\nFrom: ben@example.org\n\n",
    b"X-Subject: kiwi-sub\r\nSubject: elsewhere\r\n\r\n",
]
ODD = [
    b" leading white space\r\nSubject: kiwi-sub after a continuation\r\nFrom: ben@example.org\r\n\r\n",
    b"Subject: =?utf-8?q?kiwi-sub_=C3=A9?=\r\nFrom: =?utf-8?q?Ben?= <x@example.org>\r\n\r\n",
    b"Subject: lone\rCR kiwi-sub\r\nFrom: \"ben@example\" <x@y>\r\n\r\n",
    b"Subject: nul \x00 kiwi-sub\r\n\r\n",
    b"Subject: 8bit \xc3\xa9 kiwi-sub\r\nFrom: ben (comment) @example.org\r\n\r\n",
    b"From: group: ben@example.org, cho@example.org;\r\nSubject: kiwi-sub\r\n\r\n",
]
NEEDLES = [
    ("subject", "kiwi-sub"), ("subject", "KIWI"), ("subject", "kiwi-sub after"), ("subject", "lone"),
    ("subject", "é"), ("subject", "x"), ("subject", ""), ("x-subject", "kiwi"),
    ("from", "ben@example"), ("from", "ben@example.org"), ("from", "<ben@"), ("from", "smith"),
    ("from", "Ben Smith"), ("from", "cho"), ("from", "missing_mailbox"), ("to", "bench"),
    ("cc", "ben"), ("bcc", ""), ("message-id", "kiwi"), ("subject", "second"),
]


@pytest.mark.parametrize("name,needle", NEEDLES)
def test_plain_headers(name: str, needle: str) -> None:
    got = _check(PLAIN, name, needle)
    if name not in ("from", "to", "cc", "bcc") and needle.isascii() and needle and " " not in needle:
        assert got is not None and not got[1], "plain headers, an ASCII needle without white space: decided"


@pytest.mark.parametrize("name,needle", NEEDLES)
def test_headers_that_break_a_join(name: str, needle: str) -> None:
    for odd in ODD:
        for at in (0, 1, len(PLAIN)):
            headers = [*PLAIN[:at], odd, *PLAIN[at:]]
            _check(headers, name, needle)


def test_one_header_and_none() -> None:
    assert header_candidates([], "subject", "x") is None
    assert header_candidates([PLAIN[0]], "subject", "kiwi-sub") == ([0], [])
    assert header_candidates([PLAIN[0], PLAIN[4]], "from", "ben@example") == ([0], [1])  # 1: folded


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus(path: Path) -> None:
    """Every corpus message among plain ones, with needles from its own
    decoded fields."""
    header = parse(path.read_bytes()).header
    needles = {"zzqx", "example", "re", "@", "ü", "missing", "<"}
    names = {"subject", "from", "to", "cc", "bcc", "x-missing"}
    for name, value in decoded_headers(parse(path.read_bytes())):
        names.add(name)
        for word in value.split()[:6]:
            needles.update({word, word[:3], word[1:-1]})
    headers = [PLAIN[0], header, PLAIN[6], header]
    for name in names:
        if not all(c.isascii() and c.isprintable() and c not in ": " for c in name):
            continue
        for needle in needles:
            _check(headers, name, needle)


_PIECES = st.sampled_from(
    [b"Subject", b"subject", b"From", b"To", b": ", b":", b" ", b"\t", b"\r\n", b"\n", b"\r", b"\r\n ",
     b"kiwi-sub", b"KIWI", b"ben", b"@", b"example.org", b"<", b">", b'"', b"(", b")", b"=?utf-8?q?x?=",
     b"\xc3\xa9", b"\x00", b",", b"x"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_PIECES, max_size=14).map(b"".join), min_size=1, max_size=6),
    st.sampled_from(NEEDLES),
)
def test_any_headers(headers: list[bytes], key: tuple[str, str]) -> None:
    _check(headers, *key)


_WORD = st.sampled_from([b"Ben", b"ben", b"Smith", b"O'Neil", b"a.b", b"x!#", b"J.", b"Ann-Marie", b"q", b"=x", b"_"])
_ATOMS = st.sampled_from([b"ben", b"b.en", b"smith", b"ex", b"example", b"org", b"a+b", b"x_y", b"Ben"])


@st.composite
def _address_value(draw: st.DrawFn) -> tuple[bytes, str]:
    """A From value that is one address (with or without a display name,
    odd spacing), and a needle: a piece of the value or of its words."""
    local = b".".join(draw(st.lists(_ATOMS, min_size=1, max_size=2)))
    domain = b".".join(draw(st.lists(_ATOMS, min_size=1, max_size=3)))
    space = draw(st.sampled_from([b"", b" ", b"  ", b"\t"]))
    words = draw(st.lists(_WORD, max_size=3))
    if words or draw(st.booleans()):
        value = space + b" ".join(words) + space + b"<" + local + b"@" + domain + b">" + space
    else:
        value = space + local + b"@" + domain + space
    text = value.decode().lower()
    i = draw(st.integers(0, max(0, len(text) - 1)))
    j = draw(st.integers(i + 1, len(text) + 1))
    needle = draw(st.sampled_from([text[i:j].strip() or "x", "ben@example", "smith", "example.org", "n@e", "a.b"]))
    return value, needle


@settings(max_examples=400, deadline=None)
@given(st.lists(_address_value(), min_size=1, max_size=4), st.sampled_from(["from", "to"]))
def test_one_address_fields(values: list[tuple[bytes, str]], name: str) -> None:
    headers = [name.encode() + b":" + v + b"\r\nSubject: s\r\n\r\n" for v, _ in values]
    for _, needle in values:
        _check(headers, name, needle)
