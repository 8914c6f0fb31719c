"""What the FETCH read path keeps per message (issue 10/16): a loaded
:class:`MessageInfo` makes its part tree only when asked (a header sync
never needs it), and the ``HEADER.FIELDS`` cut of a message's own header
(:func:`info_header_fields`, its fast-path check kept in the info's cache)
gives the bytes :func:`header_fields` gives (RFC 3501 §6.4.5)."""

from __future__ import annotations

import marshal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe.message import MessageInfo, header_fields, info_header_fields, parse

_MIXED = (
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hello\r\n folded\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain\r\n\r\nbody one\r\n"
    b"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--XX--\r\n"
)


def test_loaded_info_makes_its_tree_on_first_use() -> None:
    parsed = parse(_MIXED)
    loaded = MessageInfo.load(parsed.dump())
    assert loaded._tree is None  # nothing built yet
    # dumped again without building it (the same tuples; marshal's
    # back-references may differ byte for byte)
    assert marshal.loads(loaded.dump()) == marshal.loads(parsed.dump())
    assert loaded.tree == parsed.tree
    assert loaded._tree is not None and loaded._plain_tree is None
    assert loaded == parsed and marshal.loads(loaded.dump()) == marshal.loads(parsed.dump())


def test_a_blob_without_a_part_tree_is_refused() -> None:
    t = list(marshal.loads(parse(_MIXED).dump()))
    t[-1] = ("not", "a", "tree")
    with pytest.raises(ValueError):
        MessageInfo.load(marshal.dumps(tuple(t)))


_PIECES = st.sampled_from(
    [b"From: a@b\r\n", b"from :x\r\n", b"To: c\r\n", b" folded\r\n", b"Subject: s\r\n", b"Subject\r\n",
     b"Cc: d\n", b"Cc: e\r", b"\x0bfrom: v\r\n", b"Message-ID: <m@x>\r\n", b"To: \xc3\xa9\r\n"]
)
_FIELDS = st.sampled_from([("FROM", "TO", "CC", "SUBJECT", "DATE", "MESSAGE-ID"), ("subject",), ("nope",), ("",)])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=8).map(b"".join), st.sampled_from([b"\r\n", b"", b"\n"]), _FIELDS, _FIELDS)
def test_info_header_fields_is_header_fields(lines: bytes, end: bytes, first: tuple[str, ...],
                                             second: tuple[str, ...]) -> None:
    info = parse(lines + end + b"body\r\n")
    for fields in (first, second, first):  # the kept check serves later calls
        for exclude in (False, True):
            assert info_header_fields(info, fields, exclude) == header_fields(info.header, fields, exclude)
