"""Bare LF to CRLF at save time (issue 11 defect 13): one linear pass, the
same object back when nothing changes, the same answer chunk by chunk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailframe.message import (
    CRLFStream,
    binary_to_base64,
    crlf_chunks,
    decode_binary,
    parse,
    section_range,
    to_crlf,
)


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


# --- binary APPEND (literal8): what Dovecot 2.3.19 saves ---------------------------

LITERAL8_SIMPLE = b"Subject: lf\nContent-Transfer-Encoding: binary\n\n\x00-\xe4\n\r\n\n"
LITERAL8_MULTI = (
    b"Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
    b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: Binary\nX-After: 1\n\n"
    + bytes(range(1, 200)) * 2
    + b"\n--b\nContent-Transfer-Encoding: 8bit\n\n8bit \xe4\n--b--\n"
)


def test_binary_parts_are_saved_as_base64_like_dovecot() -> None:
    assert binary_to_base64(LITERAL8_SIMPLE) == (
        b"Subject: lf\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg=="
    )
    saved = binary_to_base64(LITERAL8_MULTI)
    assert len(saved) == 753  # Dovecot's RFC822.SIZE for it
    assert saved.startswith(
        b"Subject: lf\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"X-After: 1\r\n\r\nAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5\r\n"
    )
    assert saved.endswith(
        b"wMHCw8TFxsc=\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n8bit \xe4\r\n--b--\r\n"
    )
    info = parse(saved)
    rng = section_range(info, (1,), None)
    assert rng is not None
    assert decode_binary(info, (1,), saved[rng[0] : rng[1]]) == bytes(range(1, 200)) * 2


def test_binary_save_without_binary_parts_is_crlf_only() -> None:
    assert binary_to_base64(b"Subject: x\n\nbody\n") == b"Subject: x\r\n\r\nbody\r\n"


@given(st.lists(st.sampled_from([b"\r", b"\n", b"a", b"\r\n"]), max_size=40),
       st.integers(min_value=1, max_value=5))
def test_has_bare_lf_counted_in_slices(pieces: list[bytes], size: int) -> None:
    """has_bare_lf counts a megabyte at a time (issue 16: a store thread
    checking a 50 MB APPEND gives the GIL back between slices); a CRLF cut
    by a slice boundary is still one CRLF."""
    import re

    import pytest

    from mailframe.message import _crlf

    data = b"".join(pieces)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_crlf, "_SLICE", size)
        assert _crlf.has_bare_lf(data) == (re.search(rb"(?<!\r)\n", data) is not None)
