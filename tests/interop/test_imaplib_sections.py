"""imaplib gets body sections as data (issue 11 defects 1 and 13): each
section comes as a literal, so ``fetch()`` hands the caller the bytes of
the section (``(b'1 (BODY[]<0> {10}', b'From: Alic')``), not the raw
response line; and mail appended with bare LF comes back with CRLF, with
RFC822.SIZE and every section counting the bytes served, as from Dovecot."""

from __future__ import annotations

from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok

MESSAGE = (
    b"From: Alice <alice@example.org>\r\nSubject: sections\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n"
    b"--b--\r\n"
)


def _data(response: list[object]) -> list[bytes]:
    """The literal data of each section in a FETCH answer."""
    return [x[1] for x in response if isinstance(x, tuple)]  # type: ignore[misc]


def test_sections_arrive_as_data(account: Account) -> None:
    c = connect(account)
    ok(c.append("INBOX", None, None, MESSAGE))
    ok(c.select("INBOX"))
    got = ok(c.fetch("1", "(BODY.PEEK[]<0.10>)"))
    assert got[0] == (b"1 (BODY[]<0> {10}", b"From: Alic")
    assert _data(ok(c.fetch("1", "(BODY.PEEK[1])"))) == [b""]
    assert _data(ok(c.fetch("1", "(BODY.PEEK[2])"))) == [b"second"]
    assert _data(ok(c.fetch("1", "(BODY.PEEK[7])"))) == [b""]
    assert _data(ok(c.fetch("1", "(BINARY.PEEK[2])"))) == [b"second"]
    head = MESSAGE[: MESSAGE.index(b"\r\n\r\n") + 4]
    assert _data(ok(c.fetch("1", "(RFC822.HEADER)"))) == [head]
    assert _data(ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))) == [
        b"Subject: sections\r\n\r\n"
    ]
    assert _data(ok(c.fetch("1", "(RFC822.TEXT)"))) == [MESSAGE[len(head) :]]
    assert _data(ok(c.fetch("1", "(RFC822)"))) == [MESSAGE]
    c.logout()


def test_bare_lf_append_is_served_with_crlf(account: Account) -> None:
    lf = MESSAGE.replace(b"\r\n", b"\n")
    c = connect(account)
    # imaplib's append() would convert the line ends itself: send as is
    c.literal = lf  # type: ignore[attr-defined]
    ok(c._simple_command("APPEND", "INBOX"))  # type: ignore[attr-defined]
    ok(c.select("INBOX"))
    got = ok(c.fetch("1", "(RFC822.SIZE BODY.PEEK[])"))
    assert got[0][0] == b"1 (RFC822.SIZE %d BODY[] {%d}" % (len(MESSAGE), len(MESSAGE))  # type: ignore[index]
    assert _data(got) == [MESSAGE]
    assert _data(ok(c.fetch("1", "(BODY.PEEK[2])"))) == [b"second"]
    c.logout()
