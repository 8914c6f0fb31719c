"""What UTF8=ACCEPT (RFC 6855) changes in response values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailframe.imap import mutf7
from mailframe.imap.serialize import astring
from mailframe.imap.utf8 import mailbox_name, quote_utf8_literals
from mailframe.message import parse


def test_envelope_values_become_quoted_utf8() -> None:
    info = parse(
        "From: \"Jörg \\\"J\\\" Müller\" <j@example.com>\r\nSubject: {3}\r\n x Grüße\r\n"
        "To: =?utf-8?q?J=C3=B6rg?= <x@y.z>\r\n\r\nbody\r\n".encode()
    )
    wire = info.envelope_wire
    assert b"{" in wire
    quoted = quote_utf8_literals(wire)
    assert quoted == (
        '(NIL "{3} x Grüße" (("Jörg \\"J\\" Müller" NIL "j" "example.com")) '
        '(("Jörg \\"J\\" Müller" NIL "j" "example.com")) (("Jörg \\"J\\" Müller" NIL "j" "example.com")) '
        '(("=?utf-8?q?J=C3=B6rg?=" NIL "x" "y.z")) NIL NIL NIL NIL)'
    ).encode()


def test_what_cannot_be_quoted_stays_a_literal() -> None:
    wire = b'("a" {4}\r\n\xff\xfeab {5}\r\na\r\nbc {4}\r\n"{}" "x{1}")'
    assert quote_utf8_literals(wire) == b'("a" {4}\r\n\xff\xfeab {5}\r\na\r\nbc "\\"{}\\"" "x{1}")'
    long = "é".encode() * 600
    wire = b"(%s)" % (b"{%d}\r\n" % len(long) + long)
    assert quote_utf8_literals(wire) == wire


@given(st.text(min_size=1))
def test_mailbox_names(name: str) -> None:
    """Without UTF8=ACCEPT exactly as before; with it, UTF-8 octets."""
    assert mailbox_name(name, False) == astring(mutf7.encode(name))
    raw = mailbox_name(name, True)
    if raw.startswith(b"{"):
        assert raw.split(b"\r\n", 1)[1] == name.encode("utf-8")
    elif raw.startswith(b'"'):
        assert raw[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\") == name.encode("utf-8")
    else:
        assert raw == name.encode("utf-8") and raw.isascii()
