"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailframe.imap import mutf7


@pytest.mark.parametrize(
    "wire, text",
    [
        (b"INBOX", "INBOX"),
        (b"", ""),
        # RFC 3501 §5.1.3 example
        (b"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e"),
        (b"&-", "&"),
        (b"Tom &- Jerry", "Tom & Jerry"),
        (b"&AOk-t&AOk-", "\u00e9t\u00e9"),
        (b"Entw&APw-rfe", "Entw\u00fcrfe"),
        (b"&2D3eAA-", "\U0001f600"),  # surrogate pair
        (b"a&AAE-b", "a\x01b"),  # control characters are encoded
        (b"~", "~"),
        (b"&ZeVnLIqe-&-", "\u65e5\u672c\u8a9e&"),
    ],
)
def test_examples(wire: bytes, text: str) -> None:
    assert mutf7.decode(wire) == text
    assert mutf7.encode(text) == wire


@pytest.mark.parametrize(
    "wire",
    [
        b"&",  # unterminated
        b"&U,BTFw",  # unterminated
        b"&AGE-",  # "a" must stand for itself
        b"&ACY-",  # "&" must be "&-"
        b"&U,BTFw-&ZeVnLIqe-",  # two shifts in a row: one would do
        b"&U/BTFw-",  # "/" is not modified base64
        b"&U,BTF-",  # leftover bits
        b"&AA-",  # not a whole UTF-16 unit... and NUL-ish
        b"&2D0-",  # lone high surrogate
        b"&3gA-",  # lone low surrogate
        b"&A-",  # one base64 character
        b"caf\xc3\xa9",  # 8-bit octets
        b"a\tb",  # control characters
        b"a\x7fb",
        b"&U=BTFw-",
    ],
)
def test_invalid(wire: bytes) -> None:
    with pytest.raises(ValueError):
        mutf7.decode(wire)


def test_encode_rejects_lone_surrogate() -> None:
    with pytest.raises(ValueError):
        mutf7.encode("a\ud800b")


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_round_trip(text: str) -> None:
    wire = mutf7.encode(text)
    assert all(0x20 <= b <= 0x7E for b in wire)
    assert mutf7.decode(wire) == text


@given(st.binary(max_size=40))
def test_decode_arbitrary_bytes_only_valueerror(data: bytes) -> None:
    try:
        text = mutf7.decode(data)
    except ValueError:
        return
    assert mutf7.encode(text) == data  # strict: one spelling per name
