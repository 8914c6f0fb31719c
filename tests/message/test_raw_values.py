"""An address field's raw values are found without splitting the whole
header (mailframe.message._search._raw_values, issue 16: the first
FROM / TO / CC / BCC search of a message decodes only that field), and
they are the values splitting it gives (RFC 5322 §2.2: a field is its
name at a line start, a colon, and its continuation lines)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe import message as mm
from mailframe.message._search import _fields, _raw_values


class _Row:
    """A header as the matcher reads it (a SEARCH column row)."""

    __slots__ = ("header", "_cache")

    def __init__(self, header: bytes) -> None:
        self.header = header
        self._cache: dict[str, Any] | None = None


_CHUNKS = st.sampled_from(
    [b"From", b"from", b"FROM ", b"To", b"cc", b"Subject", b"X-From", b":", b" ", b"\t", b"\r\n", b"\r\n ",
     b"\n", b"\r", b"ben", b"BEN", b"@", b"example", b".org", b"<", b">", b'"', b"\\", b"(", b")", b"]",
     b"=?", b"?=", b"utf-8?q?", b"\xc3\xa9", b"\x00", b"kiwi", b",", b";"]
)
_HEADER = st.lists(_CHUNKS, max_size=25).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_HEADER, st.sampled_from(["from", "to", "cc", "bcc", "x-from"]))
def test_raw_values_are_the_split_fields(header: bytes, lname: str) -> None:
    _, fields = _fields(_Row(header))
    assert _raw_values(_Row(header), lname) == [v for n, v in fields if n == lname]


def test_folded_and_repeated_fields_keep_their_case() -> None:
    header = b"From: Ben <BEN@example.org>\r\nTo: a@x\r\nfrom : \"Q\"\r\n <q@x>\r\nX-From: no@x\r\n\r\n"
    assert _raw_values(_Row(header), "from") == [b" Ben <BEN@example.org>\r", b' "Q"\r\n <q@x>\r']
    assert mm.header_matches(_Row(header), "FROM", "q <q@x") is True
