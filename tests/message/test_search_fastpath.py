"""The cheap "surely absent" check of header search never changes an
answer: over the whole corpus, for needles taken from every decoded field
and for words that are not there, it agrees with full decoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe.message import body_matches, header_matcher, header_matches, parse
from mailframe.message._decode import decode_words, fold_case
from mailframe.message._headers import all_values
from mailframe.message._search import ADDRESS_FIELDS, _decoded, address_text, decoded_headers


def _slow(raw: bytes, name: str) -> list[str]:
    """Every value of the field, fully decoded (address fields in their
    written-out form), with no shortcut."""
    if name not in ADDRESS_FIELDS:
        return _decoded(parse(raw), name)
    info = parse(raw)
    values = all_values(info.header, frozenset({name.encode()})).get(name.encode(), [])
    return [fold_case(decode_words(address_text(v))) for v in values]

CORPUS = sorted((Path(__file__).resolve().parents[1] / "data" / "messages").glob("*.eml"))


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_fast_reject_agrees_with_decoding(path: Path) -> None:
    raw = path.read_bytes()
    info = parse(raw)
    names = {n for n, _ in decoded_headers(info)} | {"subject", "from", "x-missing"}
    needles = {"zzqx", "from:", "example", "=?", "re", "@", "ü", "missing", "error", "<", ", "}
    for _, value in decoded_headers(info):
        for word in value.split():
            needles.update({word, word[:3], word.upper(), word[1:-1]})
    for name in names:
        for needle in needles:
            slow = any(needle.casefold() in v for v in _slow(raw, name))
            assert header_matches(info, name, needle) == slow, (name, needle)


# -- address fields: the atom-run "no" (FROM/TO/CC/BCC needles with "@", ".")

_ADDRESS_ALPHABET = st.sampled_from(
    [b"ben", b"Ben", b"smith", b"ex", b"ample", b"org", b"a", b"@", b".", b",", b";", b":",
     b"<", b">", b" ", b"  ", b"\t", b"\r\n ", b'"', b"(", b")", b"\\", b"[", b"]", b"=?",
     b"?=", b"\xc3\xa9", b"\x00", b"-", b"_", b"missing", b"MISSING_MAILBOX"]
)
_NEEDLES = ["ben@example", "ben@ex", "n@e", "smith.org", "ben.smith", "bensmith", "smith@",
            "<ben@", "ben smith", "mple.org>", "a@a", "missing_mailbox", "ssing", "ben>",
            "@example.org", "ben@exampleorg", "ben@example.org", "ben,smith"]


def _address_slow(value: bytes) -> list[str]:
    return [fold_case(decode_words(address_text(value.strip())))]


@settings(max_examples=400, deadline=None)
@given(st.lists(_ADDRESS_ALPHABET, min_size=1, max_size=14).map(b"".join),
       st.sampled_from(_NEEDLES))
def test_address_reject_agrees_with_parsing(value: bytes, needle: str) -> None:
    raw = b"From: " + value + b"\r\nTo: bench <bench@example.net>\r\n\r\nbody\r\n"
    info = parse(raw)
    slow = any(needle in v for v in _slow(raw, "from"))
    assert header_matches(info, "from", needle) == slow, (value, needle)
    assert header_matcher("from", needle)(parse(raw)) == slow, (value, needle)
    # and the needle taken from the written text itself is found
    for text in _slow(raw, "from"):
        if text:
            piece = text[len(text) // 3 : len(text) // 3 + 7]
            assert header_matcher("from", piece)(parse(raw)), (value, piece)


def test_address_reject_on_whitespace_joined_atoms() -> None:
    """``ben smith@example.org`` is written ``<bensmith@example.org>``: a
    needle spanning the gap is found; one absent from the field is not."""
    raw = b"From: ben smith@example.org\r\n\r\nb\r\n"
    assert header_matches(parse(raw), "from", "bensmith@example")
    assert not header_matches(parse(raw), "from", "benx@example")
    raw = b"From: Ann Sender <ann@example.org>\r\nTo: Bench <bench@example.net>\r\n\r\nb\r\n"
    assert not header_matches(parse(raw), "from", "ben@example")
    assert header_matches(parse(raw), "to", "bench@example")


def test_atoms_joined_across_comments_are_found() -> None:
    """The parser writes ``ben(x)smith@example.org`` as
    ``x <bensmith@example.org>``: FROM bensmith finds it (the raw-header
    shortcut answered no before, since the raw header has no "bensmith")."""
    for raw in (b"From: ben(x)smith@example.org\r\n\r\nb\r\n", b"From: ben smith@example.org\r\n\r\nb\r\n"):
        assert header_matches(parse(raw), "from", "bensmith")
        assert header_matcher("from", "bensmith")(parse(raw))


# -- other fields: the plain-header path (values read off the lower-cased
# header, the raw-header "no") agrees with full decoding

_TEXT_ALPHABET = st.sampled_from(
    [b"Kiwi", b"sub", b"-", b"[", b"]", b" ", b"\t", b"\r\n ", b"\r\n\t", b"\n ", b"\r", b"\x00",
     b"=?utf-8?q?K=C3=BCwi?=", b"=?", b"\xc3\xbc", b"Subject:", b"x", b"\r\nSubject: ", b"\r\nX-A: "]
)


def _field_slow(info: object, name: str) -> list[str]:
    from mailframe.message._headers import unfold
    from mailframe.message._search import _fields

    _, fields = _fields(info)  # type: ignore[arg-type]
    return [fold_case(decode_words(unfold(v))) for n, v in fields if n == name]


@settings(max_examples=400, deadline=None)
@given(st.lists(_TEXT_ALPHABET, min_size=0, max_size=12).map(b"".join),
       st.sampled_from(["kiwi", "kiwi-sub", "sub x", "küwi", "", "x-a", "[kiwi", "sub\tx", "subject"]))
def test_plain_header_path_agrees_with_decoding(value: bytes, needle: str) -> None:
    raw = b"From: a@b\r\nSubject: " + value + b"\r\nX-A: kiwi\r\n\r\nbody\r\n"
    for name in ("subject", "x-a"):
        slow = any(needle in v for v in _field_slow(parse(raw), name))
        assert header_matches(parse(raw), name, needle) == slow, (value, needle, name)
        info = parse(raw)
        test = header_matcher(name, needle)
        assert test(info) == slow, (value, needle, name)
        assert test(info) == slow  # again, from what the first call kept


# -- BODY over HTML: the source check alone where rendering adds nothing


def _html_reference(html: bytes, needle: str) -> bool:
    """RFC 3501 §6.4.4 BODY over one text/html part, the long way: the
    source, then the rendered text (whitespace runs as any run)."""
    import re

    from mailframe.message._decode import html_to_text, to_text

    text = to_text(html, b"us-ascii")
    folded = fold_case(needle)
    if folded in fold_case(text):
        return True
    rendered = fold_case(html_to_text(text))
    if any(c.isspace() for c in folded):
        return re.search(r"\s+".join(re.escape(w) for w in folded.split()), rendered) is not None
    return folded in rendered


_HTML_PIECES = st.sampled_from(
    [b"<p>", b"</p>", b"<b>", b"</b>", b"<span class=x>", b"<br>", b"<script>kiwi</script>", b"<!-- kiwi -->",
     b"ki", b"wi", b"kiwi", b"KIWI", b" ", b"\r\n", b"&amp;", b"&#107;", b"&lt;", b"<", b">", b"sub", b"-"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_HTML_PIECES, max_size=12).map(b"".join),
       st.sampled_from(["kiwi", "ki wi", "kiwi-sub", "wisub", "k", "&", "<b>", "i\x1cw", "kiwi<"]))
def test_html_body_shortcut_agrees_with_rendering(html: bytes, needle: str) -> None:
    raw = (b"From: a@b\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html + b"\r\n")
    info = parse(raw)
    body = raw[info.tree.body_start : info.tree.end]
    assert body_matches(info, raw, needle) == _html_reference(body, needle), (html, needle)
