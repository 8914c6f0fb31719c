"""RFC 5530 §3: AUTHENTICATE PLAIN whose credentials are right but whose
authorization identity (RFC 4616 §2 authzid) the user may not act as is
``NO [AUTHORIZATIONFAILED]``, not ``[AUTHENTICATIONFAILED]`` (Dovecot
answers so for a master user refused the target user); wrong credentials
stay ``[AUTHENTICATIONFAILED]`` whatever the authzid; an admin may act as
another user; the connection lives on.  A real server process, imaplib
over a real socket."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

USERS = {"alice": "pw-a", "bob": "pw-b", "admin": "pw-admin"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "s", "--admins", "admin", users=USERS) as s:
        yield s


def plain(c: imaplib.IMAP4, authzid: str, authcid: str, password: str) -> str:
    """The tagged answer's text (``OK ...`` or the NO's text)."""
    try:
        typ, data = c.authenticate("PLAIN", lambda _: f"{authzid}\0{authcid}\0{password}".encode())
    except imaplib.IMAP4.error as e:
        return "NO " + str(e)
    return f"{typ} {data[0].decode()}"


def test_authzid_refused_is_authorizationfailed(server: ServerProcess) -> None:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert plain(c, "bob", "alice", USERS["alice"]) == "NO [AUTHORIZATIONFAILED] Authorization failed"
    assert c.noop()[0] == "OK"  # the connection lives on
    assert plain(c, "alice", "alice", USERS["alice"]).startswith("OK")
    c.logout()


def test_wrong_credentials_stay_authenticationfailed(server: ServerProcess) -> None:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert plain(c, "bob", "alice", "wrong").startswith("NO [AUTHENTICATIONFAILED]")
    assert plain(c, "", "alice", "wrong").startswith("NO [AUTHENTICATIONFAILED]")
    c.logout()


def test_admin_may_act_as_another_user(server: ServerProcess) -> None:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert plain(c, "bob", "admin", USERS["admin"]).startswith("OK")
    c.create("made-by-admin-as-bob")
    c.logout()
    b = imaplib.IMAP4("127.0.0.1", server.imap_port)
    b.login("bob", USERS["bob"])
    assert any(b"made-by-admin-as-bob" in line for line in b.list()[1])
    b.logout()
