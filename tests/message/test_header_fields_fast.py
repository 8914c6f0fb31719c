"""``BODY[HEADER.FIELDS (...)]`` of a well-formed header block is cut in
one regex pass (FETCH header sync, issue 10/16); for every block it gives
the bytes of the field-by-field split (RFC 3501 §6.4.5), which stays for
blocks the fast pass does not accept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe.message import header_fields, info_header_fields, info_header_fields_of
from mailframe.message._headers import _simple_block, _split_fields, _wanted

_PIECES = st.sampled_from(
    [b"From: a@b\r\n", b"from :x\r\n", b"FROM\t: y\r\n", b"To: c\r\n", b" folded\r\n", b"\tfolded\r\n",
     b"Subject: s\r\n", b"Subject\r\n", b"X-Subject: no\r\n", b"subject x: no\r\n", b"\x0bfrom: v\r\n",
     b"Cc: d\n", b"Cc: e\r", b": empty name\r\n", b"Message-ID: <m@x>\r\n", b"date: d\r\n",
     b"Received: from x\r\n by y\r\n", b"From\r\n : z\r\n", b"To: \xc3\xa9\r\n"]
)
_FIELDS = st.sampled_from(
    [("FROM", "TO", "CC", "SUBJECT", "DATE", "MESSAGE-ID"), ("subject",), ("From",), ("x-subject", "received"), ("nope",)]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=10).map(b"".join), st.sampled_from([b"\r\n", b"", b"\n", b"\r\n\r\n"]), _FIELDS)
def test_fast_cut_is_the_field_split(lines: bytes, end: bytes, fields: tuple[str, ...]) -> None:
    block = lines + end
    for exclude in (False, True):
        assert header_fields(block, fields, exclude) == _split_fields(block, _wanted(fields), exclude)


def test_the_bench_header_takes_the_fast_cut() -> None:
    block = (b"From: Ann Sender <ann@example.org>\r\nTo: Bench Reader <alice@example.net>\r\n"
             b"Subject: [kiwi-sub] a b c\r\n folded\r\nDate: Mon, 01 Jan 2024 08:00:00 +0000\r\n"
             b"Message-ID: <bench.7.1@mailframe.test>\r\nMIME-Version: 1.0\r\n\r\n")
    assert _simple_block(block)
    got = header_fields(block, ("FROM", "TO", "CC", "SUBJECT", "DATE", "MESSAGE-ID"), False)
    assert got == block.replace(b"MIME-Version: 1.0\r\n", b"")


class _Info:
    """A parsed message's top-level header, as info_header_fields reads it."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        self._cache: dict[str, object] | None = None


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=10).map(b"".join), st.sampled_from([b"\r\n", b"", b"\n", b"\r\n\r\n"]), _FIELDS)
def test_one_field_list_over_many_messages_cuts_the_same(lines: bytes, end: bytes, fields: tuple[str, ...]) -> None:
    """info_header_fields_of (a header sync's fields worked out once, as
    mailframe.imap.fetch_fast uses it) gives header_fields' bytes, with
    the message's cache empty or filled."""
    block = lines + end
    for exclude in (False, True):
        of = info_header_fields_of(fields, exclude)
        info = _Info(block)
        assert of(info) == of(info) == header_fields(block, fields, exclude)
        assert info_header_fields(info, fields, exclude) == of(_Info(block))
