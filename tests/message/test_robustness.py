"""Broken and hostile mail (issue 3, "Robustness"): every input yields a
structure, nothing raises, and nothing takes unbounded time or depth."""

from __future__ import annotations

import pytest

from mailframe.message import (
    MessageInfo,
    find_part,
    header_fields,
    header_matches,
    parse,
    section_range,
)
from mailframe.message._address import MAX_ADDRESSES
from mailframe.message._structure import MAX_DEPTH, MAX_PARTS

pytestmark = pytest.mark.timeout(60)


def test_absurd_multipart_nesting_is_capped() -> None:
    depth = 5000
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    info = parse(raw)
    assert info.bodystructure_wire.count(b"(") <= 3 * MAX_DEPTH + 10
    assert b'"application" "octet-stream"' in info.bodystructure_wire
    part = (1,) * (MAX_DEPTH - 1)
    assert find_part(info, part) is not None
    assert MessageInfo.load(info.dump()) == info


def test_absurd_rfc822_nesting_is_capped() -> None:
    raw = b"Subject: 0\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"end\r\n"
    info = parse(raw)
    assert info.bodystructure_wire.startswith(b'("message" "rfc822" NIL NIL NIL "7bit" ')
    assert b'"application" "octet-stream"' in info.bodystructure_wire


def test_many_parts_are_capped() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        + b"--x\r\n\r\np\r\n" * (MAX_PARTS * 3)
        + b"--x--\r\n"
    )
    info = parse(raw)
    assert info.bodystructure_wire.count(b'"text" "plain"') == MAX_PARTS + 1


def test_megabyte_header_line() -> None:
    raw = (
        b"Subject: "
        + b"s" * 1_000_000
        + b"\r\nX-Other: "
        + b"x " * 500_000
        + b"\r\nFrom: a@b\r\n\r\nbody\r\n"
    )
    info = parse(raw)
    assert info.envelope_wire.startswith(b'(NIL "sss')  # quoted, as Dovecot sends it
    assert header_matches(info, "from", "a@b")
    assert header_fields(info.header, ("FROM",), False) == b"From: a@b\r\n\r\n"


def test_megabyte_address_header_is_capped() -> None:
    raw = b"To: " + b"a@b, " * 200_000 + b"\r\n\r\n"
    info = parse(raw)
    assert info.envelope_wire.count(b'(NIL NIL "a" "b")') == MAX_ADDRESSES
    raw = b"To: " + b"A <a@b>, " * 200_000 + b"\r\n\r\n"
    info = parse(raw)
    assert info.envelope_wire.count(b'("A" NIL "a" "b")') == MAX_ADDRESSES


def test_bare_lf_and_bare_cr() -> None:
    info = parse(b"Subject: x\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q--\n")
    assert info.bodystructure_wire.startswith(
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0 '
    )
    info = parse(b"Subject: x\rFrom: y\r\rbody")  # bare CR is not a line end
    assert info.envelope_wire.startswith(b"(NIL {12}\r\nxFrom: ybody NIL ")


def test_nul_and_8bit_everywhere() -> None:
    raw = b"Subj\x00ect: \xff\xfe\r\nContent-Type: text/\xffplain; charset=\x00\r\n\r\n\x00\xff"
    info = parse(raw)
    assert info.size == len(raw)
    assert section_range(info, (1,), None) == (len(raw) - 2, len(raw))


def test_header_without_colon_and_leading_continuation() -> None:
    raw = b" leading continuation\r\nno colon line\r\nSubject: ok\r\n\r\nbody"
    info = parse(raw)
    assert info.envelope_wire.startswith(b'(NIL "ok" ')
    assert header_fields(info.header, ("subject",), False) == b"Subject: ok\r\n\r\n"


def test_boundary_that_is_a_prefix_of_another() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
        b"Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\n\r\ninner\r\n--ab--\r\n--a--\r\n"
    )
    info = parse(raw)
    rng = section_range(info, (1, 1), None)
    assert rng is not None and raw[rng[0] : rng[1]] == b"inner"


def test_outer_boundary_ends_unterminated_inner_multipart() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n"
        b"Content-Type: multipart/alternative; boundary=in\r\n\r\n--in\r\n\r\nA\r\n"
        b"--out\r\n\r\nB\r\n--out--\r\n"
    )
    info = parse(raw)
    r11 = section_range(info, (1, 1), None)
    r2 = section_range(info, (2,), None)
    assert r11 is not None and raw[r11[0] : r11[1]] == b"A"
    assert r2 is not None and raw[r2[0] : r2[1]] == b"B"


def test_load_rejects_foreign_data() -> None:
    with pytest.raises(ValueError):
        MessageInfo.load(b"garbage")
    with pytest.raises(ValueError):
        MessageInfo.load(b"")
    import marshal

    with pytest.raises(ValueError):
        MessageInfo.load(marshal.dumps((999, 1, 2)))


def test_nul_never_reaches_wire_strings() -> None:
    raw = b'Subject: a\x00b\r\nFrom: N\x00ame <a@b>\r\nContent-Type: text/plain; name="x\x00y"\r\n\r\nbody'
    info = parse(raw)
    assert b"\x00" not in info.envelope_wire
    assert b"\x00" not in info.bodystructure_wire
    # NUL goes out as 0x80, as Dovecot's "for humans" strings do
    assert info.envelope_wire.startswith(b"(NIL {3}\r\na\x80b (({5}\r\nN\x80ame NIL \"a\" \"b\"))")


def test_parameter_count_is_capped() -> None:
    from mailframe.message._headers import MAX_PARAMS

    raw = b"Content-Type: text/plain" + b"; a=b" * 100_000 + b"\r\n\r\nx"
    info = parse(raw)
    assert info.bodystructure_wire.count(b'"a" "b"') == MAX_PARAMS


def test_hostile_boundary_reuse_is_bounded() -> None:
    n = 20_000
    raw = (
        b"Content-Type: multipart/mixed; boundary=s\r\n\r\n"
        + b"--s\r\nContent-Type: multipart/mixed; boundary=s\r\n\r\n" * n
        + b"--s--\r\n" * n
    )
    info = parse(raw)  # linear work: MAX_SCANS caps the delimiter lookups
    assert info.bodystructure_wire.startswith(b"((((")
    assert MessageInfo.load(info.dump()) == info


@pytest.mark.parametrize(
    ("ctype", "cte", "body"),
    [
        (b"text/html", b"7bit", b"<" * 200_000),
        (b"text/html", b"7bit", b"<b" * 100_000),
        (b"text/html", b"7bit", b"<script>" * 30_000),
        (b"text/html", b"7bit", b"<!--" * 50_000),
        (b"text/plain", b"quoted-printable", b" " * 200_000 + b"x"),
        (b"text/plain", b"base64", b"=" * 200_000),
        (b"text/plain", b"7bit", b"=?" * 200_000),
    ],
)
def test_search_is_linear_on_hostile_bodies(ctype: bytes, cte: bytes, body: bytes) -> None:
    from mailframe.message import body_matches, text_matches

    raw = b"Subject: " + body[:100_000] + b"\r\nContent-Type: " + ctype
    raw += b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n" + body
    info = parse(raw)
    assert not body_matches(info, raw, "needle")
    assert not text_matches(info, raw, "needle")
