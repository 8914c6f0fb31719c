"""The cheap "surely absent" check of header search never changes an
answer: over the whole corpus, for needles taken from every decoded field
and for words that are not there, it agrees with full decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailframe.message import header_matches, parse
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
