"""CATENATE (RFC 4469) over real sockets, answers compared with Dovecot
2.3.19 (both servers started here on loopback, Maildir): for each APPEND
the tagged status and response code, and the bytes of the message it
built.  REPLACE (RFC 8508), which Dovecot 2.3 lacks, over a real socket
against mailframe alone.

Known, deliberate differences (not in the table): a CATENATE that builds
a zero-byte message is refused here as plain APPEND refuses one (Dovecot
stores it); a relative path is merged with the selected mailbox's name
the RFC 3986 way (a sibling), where Dovecot takes it as a child.
"""

from __future__ import annotations

import imaplib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

M1 = b"From: a@example.com\r\nSubject: one\r\n\r\nHello body\r\n"
M2 = (
    b"From: b@example.com\r\nSubject: two\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="xx"\r\n\r\n--xx\r\nContent-Type: text/plain\r\n\r\n'
    b"part one\r\n--xx\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--xx--\r\n"
)

#: (selected mailbox or None, APPEND arguments after the mailbox name)
CASES = [
    (None, b'CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER" TEXT {10+}\r\nNew body\r\n)'),
    (None, b'CATENATE (URL "/INBOX/;UID=2/;SECTION=HEADER.FIELDS%20(SUBJECT%20FROM)" URL "/INBOX/;UID=2/;SECTION=1")'),
    (None, b'CATENATE (URL "/inbox/;uid=2/;section=2.HEADER" URL "/INBOX/;UID=2/;SECTION=2.TEXT")'),
    (None, b'CATENATE (URL "/INBOX/;UID=2/;SECTION=2.MIME" URL "/INBOX/;UID=2/;SECTION=2")'),
    (None, b'CATENATE (URL "/INBOX/;UID=2/;SECTION=1.MIME" URL "/INBOX/;UID=2/;SECTION=TEXT")'),
    (None, b'CATENATE (URL "/INBOX/;UID=2/;SECTION=9" TEXT {6+}\r\nA: b\r\n)'),
    (None, b'CATENATE (URL "/INBOX/;UID=1/;PARTIAL=3.10" URL "/INBOX/;UID=2/;SECTION=TEXT/;PARTIAL=5")'),
    (None, b'CATENATE (URL "/INBOX/;UID=1/;PARTIAL=1000" TEXT {1+}\r\nx)'),
    (None, b'CATENATE (URL "INBOX/;UID=1")'),
    (None, b'CATENATE (URL "/Other/;UID=1")'),
    (None, b'CATENATE (URL "/INBOX/;UID=99")'),
    (None, b'CATENATE (TEXT {6+}\r\nA: b\r\n URL "/Nope/;UID=1")'),
    (None, b'CATENATE (URL "/INBOX;UIDVALIDITY=4294967295/;UID=1")'),
    (None, b'CATENATE (URL "imap://alice@127.0.0.1/INBOX/;UID=1")'),
    (None, b'CATENATE (URL "/INBOX/;UID=1/;URLAUTH=anonymous")'),
    (None, b'CATENATE (URL ";UID=1")'),
    (b"INBOX", b'CATENATE (URL ";UID=2/;SECTION=2")'),
    (b"INBOX", b'CATENATE (URL ";UID=1" URL ";UID=99")'),
    (b"Other", b'CATENATE (URL ";UID=1/;SECTION=TEXT")'),
    (None, b'CATENATE (URL "/INBOX/;UID=1") (\\Seen) CATENATE (URL "/INBOX/;UID=2/;SECTION=1")'),
    (None, b'CATENATE (URL "/INBOX/;UID=1") CATENATE (URL "/INBOX/;UID=99")'),
]


def _dovecot(workdir: Path) -> object:
    try:
        from bench.servers import Dovecot, Unavailable
    except ImportError as exc:  # pragma: no cover - bench/ ships with the tests
        pytest.skip(f"bench.servers not importable: {exc}")
    try:
        return Dovecot(workdir)
    except Unavailable as exc:
        pytest.skip(f"Dovecot unavailable: {exc}")


def _command(c: imaplib.IMAP4, command: bytes, untagged: list[bytes] | None = None) -> bytes:
    """Send ``command`` (non-synchronizing literals inside); its tagged
    line (the untagged ones go to ``untagged``)."""
    tag = c._new_tag()  # type: ignore[attr-defined]
    c.send(tag + b" " + command + b"\r\n")
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            return line[len(tag) + 1 :].rstrip(b"\r\n")
        if untagged is not None:
            untagged.append(line.rstrip(b"\r\n"))


def _prepare(port: int) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("alice", "secret")
    for name in ("Target", "Other"):
        assert c.create(name)[0] == "OK"
    for mailbox, raw in (("INBOX", M1), ("INBOX", M2), ("Other", M1)):
        assert c.append(mailbox, "", None, raw)[0] == "OK"
    return c


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[imaplib.IMAP4, imaplib.IMAP4]]:
    workdir = Path(tempfile.mkdtemp(prefix="mailframe-catcmp-"))
    dovecot = _dovecot(workdir / "dovecot")
    try:
        with ServerProcess(tmp_path_factory.mktemp("catcmp") / "mf", users={"alice": "secret"}) as mf:
            ours, theirs = _prepare(mf.imap_port), _prepare(dovecot.port)  # type: ignore[attr-defined]
            yield ours, theirs
            ours.logout()
            theirs.logout()
    finally:
        dovecot.stop()  # type: ignore[attr-defined]
        shutil.rmtree(workdir, ignore_errors=True)


def _outcome(c: imaplib.IMAP4, selected: bytes | None, args: bytes) -> tuple[bytes, list[bytes]]:
    """(status and code of the APPEND, the messages it added to Target)."""
    if selected is None:
        _command(c, b"UNSELECT")
    else:
        assert _command(c, b"SELECT " + selected).startswith(b"OK")
    before = int(c.status("Target", "(MESSAGES)")[1][0].split()[-1].rstrip(b")"))
    line = _command(c, b"APPEND Target " + args)
    m = re.match(rb"(OK|NO|BAD)(?: \[([A-Z]+))?", line)
    assert m is not None, line
    c.select("Target", readonly=True)
    typ, data = c.fetch(f"{before + 1}:*", "BODY.PEEK[]") if line.startswith(b"OK") else ("OK", [])
    assert typ == "OK"
    bodies = [part[1] for part in data if isinstance(part, tuple)]
    return m.group(1) + b" " + (m.group(2) or b""), bodies


@pytest.mark.parametrize("selected, args", CASES, ids=[a.decode()[:70] for _, a in CASES])
def test_same_as_dovecot(servers: tuple[imaplib.IMAP4, imaplib.IMAP4], selected: bytes | None, args: bytes) -> None:
    ours, theirs = servers
    assert _outcome(ours, selected, args) == _outcome(theirs, selected, args)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("replace") / "mf", users={"alice": "secret"}) as mf:
        yield mf


def test_replace_over_a_socket(server: ServerProcess) -> None:
    """A client saving a draft twice (RFC 8508 §1): the second version
    replaces the first; a second client sees one draft."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("alice", "secret")
    c.create("Drafts")
    assert c.append("Drafts", "(\\Draft)", None, b"Subject: v1\r\n\r\nfirst\r\n")[0] == "OK"
    c.select("Drafts")
    said: list[bytes] = []
    line = _command(c, b"UID REPLACE 1 Drafts (\\Draft) {23+}\r\nSubject: v2\r\n\r\nsecond\r\n", said)
    assert line == b"OK Replace completed"
    assert [re.sub(rb"APPENDUID \d+", b"APPENDUID v", x) for x in said] == [
        b"* OK [APPENDUID v 2] Replacement Message ready",
        b"* 2 EXISTS",
        b"* 2 RECENT",
        b"* 1 EXPUNGE",
    ]
    other = imaplib.IMAP4("127.0.0.1", server.imap_port)
    other.login("alice", "secret")
    assert other.select("Drafts", readonly=True) == ("OK", [b"1"])
    typ, data = other.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][0].startswith(b"1 (UID 2 FLAGS (\\Draft")  # type: ignore[index]
    assert data[0][1] == b"Subject: v2\r\n\r\nsecond\r\n"  # type: ignore[index]
    # A failed REPLACE leaves the message in place.
    assert _command(c, b"REPLACE 1 Nope {9+}\r\nSubject:\r\n").startswith(b"NO [TRYCREATE]")
    assert c.select("Drafts") == ("OK", [b"1"])
    c.logout()
    other.logout()
