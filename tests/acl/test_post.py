"""SMTP delivery to ``user+folder`` honours the ``p`` right (RFC 4314
§2.1) once a folder has an ACL; without one, plus-addressing works as
before; refused posts land in INBOX (mail is never lost)."""

from __future__ import annotations

import smtplib
from pathlib import Path

from imapclient import IMAPClient

from tests.support.server import ServerProcess

USERS = {"alice": "pw-a", "bob": "pw-b"}


def send(server: ServerProcess, to: str, subject: str) -> None:
    assert server.smtp_port is not None
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        s.sendmail("someone@example.net", [to], f"Subject: {subject}\r\n\r\nbody\r\n".encode())


def subjects(c: IMAPClient, folder: str) -> list[str]:
    c.select_folder(folder, readonly=True)
    data = c.fetch(c.search(), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    out = []
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
        out.append(header.split(": ", 1)[1])
    c.unselect_folder()
    return sorted(out)


def test_post_right(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--acl", users=USERS, smtp=True) as srv:
        alice = IMAPClient("127.0.0.1", srv.imap_port, ssl=False, timeout=30)
        alice.login("alice", USERS["alice"])
        for name in ("Lists", "Projects"):
            alice.create_folder(name)
        alice.setacl("Projects", "bob", "lrswi")

        send(srv, "alice+Lists@localhost", "no ACL: plus-addressing as ever")
        send(srv, "alice+Projects@localhost", "ACL without p: INBOX")
        alice.setacl("Projects", "anyone", "p")
        send(srv, "alice+Projects@localhost", "anyone holds p")
        alice.setacl("Projects", "-anyone", "p")
        send(srv, "alice+Projects@localhost", "p taken away again")

        assert subjects(alice, "Lists") == ["no ACL: plus-addressing as ever"]
        assert subjects(alice, "Projects") == ["anyone holds p"]
        assert subjects(alice, "INBOX") == ["ACL without p: INBOX", "p taken away again"]
        alice.logout()
