"""Bare LF to CRLF at save time (issue 11 defect 13): one linear pass, the
same object back when nothing changes, the same answer chunk by chunk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailframe.message import CRLFStream, crlf_chunks, to_crlf


def test_bare_lf_becomes_crlf_and_the_rest_stays() -> None:
    assert to_crlf(b"a\nb\r\nc\rd\n\n") == b"a\r\nb\r\nc\rd\r\n\r\n"
    assert to_crlf(b"\n") == b"\r\n"
    assert to_crlf(b"no line end") == b"no line end"
    assert to_crlf(b"") == b""


def test_crlf_mail_is_not_copied() -> None:
    data = b"Subject: x\r\n\r\nbody\r\n" * 1000
    assert to_crlf(data) is data


def test_a_cr_at_a_chunk_end_pairs_with_the_next_lf() -> None:
    stream = CRLFStream()
    assert stream.feed(b"a\r") == b"a\r"
    assert stream.feed(b"\nb\n") == b"\nb\r\n"
    assert stream.feed(b"") == b""
    assert stream.feed(b"\n") == b"\r\n"


@given(st.lists(st.binary(max_size=30), max_size=8))
def test_chunked_equals_whole(chunks: list[bytes]) -> None:
    whole = b"".join(chunks)
    assert b"".join(crlf_chunks(chunks)) == to_crlf(whole)


@given(st.text(alphabet="ab\r\n", max_size=60).map(lambda t: t.encode()))
def test_every_lf_ends_a_crlf_and_conversion_is_idempotent(data: bytes) -> None:
    out = to_crlf(data)
    assert out.count(b"\n") == out.count(b"\r\n") == data.count(b"\n")
    assert to_crlf(out) == out
    assert out.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
