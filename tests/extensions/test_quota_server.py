"""QUOTA (RFC 9208) on a real ``twistd mailframe`` over real sockets:
limits from a Dovecot-style users file (``userdb_quota_rule``) and from
``--quota-messages``, read by IMAPClient; APPEND refused with
``[OVERQUOTA]``; SMTP and LMTP delivery refused with 552 5.2.2 before
anything is stored."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.support.server import ServerProcess

MSG = b"From: a@example.org\r\nTo: alice@localhost\r\nSubject: hi\r\n\r\nHello.\r\n"
USERS = (
    "# Dovecot passwd-file: user:password:uid:gid:gecos:home:shell:extra\n"
    "alice:{PLAIN}secret::::::userdb_quota_rule=*:storage=1M:messages=2\n"
    "bob:{PLAIN}hunter2\n"
    "carol:{PLAIN}secret::::::userdb_quota_rule=*:storage=1K\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("quota") / "server"
    workdir.mkdir(parents=True)
    users = workdir / "users"
    users.write_text(USERS)
    proc = ServerProcess(
        workdir, "--users", f"passwd-file:{users}", "--quota-messages", "3",
        users={}, smtp=True, lmtp=True,
    )
    with proc:
        yield proc


def client(server: ServerProcess, user: str, password: str) -> IMAPClient:
    c = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False, timeout=10)
    c.login(user, password)
    return c


def test_users_file_rule_and_append_refused(server: ServerProcess) -> None:
    c = client(server, "alice", "secret")
    try:
        assert {b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"} <= set(c.capabilities())
        roots, quotas = c.get_quota_root("INBOX")
        assert roots.quota_roots == ["User quota"]
        assert [(q.resource, q.usage, q.limit) for q in quotas] == [
            ("STORAGE", 0, 1024), ("MESSAGE", 0, 2)]
        c.append("INBOX", MSG)
        c.append("INBOX", MSG)
        with pytest.raises(IMAPClientError, match=r"OVERQUOTA"):
            c.append("INBOX", MSG)
        assert c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 2
        quotas = c._get_quota("User quota")
        assert [(q.resource, q.usage, q.limit) for q in quotas] == [
            ("STORAGE", 1, 1024), ("MESSAGE", 2, 2)]
        # the server's stack of wrappers still finds the Maildir for maildirsize
        maildirsize = server.workdir / "mail" / "alice" / "maildirsize"
        assert maildirsize.read_text() == f"1048576S,2C\n{2 * len(MSG)} 2\n"
    finally:
        c.logout()


def test_default_limit_from_options(server: ServerProcess) -> None:
    c = client(server, "bob", "hunter2")
    try:
        _, quotas = c.get_quota_root("INBOX")
        assert [(q.resource, q.usage, q.limit) for q in quotas] == [("MESSAGE", 0, 3)]
    finally:
        c.logout()


def test_smtp_and_lmtp_refuse_with_552_before_storing(server: ServerProcess) -> None:
    assert server.smtp_port is not None and server.lmtp_port is not None
    big = MSG + b"x" * 700 + b"\r\n"
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("a@example.org", ["carol@localhost"], big) == {}
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("a@example.org", ["carol@localhost"], big)
        assert refused.value.smtp_code == 552
        assert refused.value.smtp_error.startswith(b"5.2.2")
    with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=10) as lmtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            lmtp.sendmail("a@example.org", ["carol@localhost"], big)
        assert refused.value.smtp_code == 552
    c = client(server, "carol", "secret")
    try:
        assert c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 1
        _, quotas = c.get_quota_root("INBOX")
        assert [(q.resource, q.usage, q.limit) for q in quotas] == [("STORAGE", 1, 1)]
    finally:
        c.logout()


def test_metadata_over_imaplib_survives_a_restart(tmp_path: Path) -> None:
    """METADATA (RFC 5464) on the default (Maildir) store of a real server:
    set with a literal, read back after the server is restarted."""
    import imaplib

    for name in ("GETMETADATA", "SETMETADATA"):  # imaplib knows only its own commands
        imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))

    def run(fn: Any) -> Any:
        with ServerProcess(tmp_path / "md") as proc:
            c = imaplib.IMAP4("127.0.0.1", proc.imap_port, timeout=10)
            c.login("alice", "secret")
            try:
                return fn(c)
            finally:
                c.logout()

    def write(c: imaplib.IMAP4) -> None:
        typ, caps = c.capability()
        assert b" METADATA METADATA-SERVER" in caps[0], caps
        typ, data = c._simple_command(  # type: ignore[attr-defined]
            "SETMETADATA", '""', '(/shared/comment "server note" /private/x "y")')
        assert typ == "OK", data

    def read(c: imaplib.IMAP4) -> Any:
        typ, data = c._simple_command("GETMETADATA", '""', "(/shared/comment /private/x)")  # type: ignore[attr-defined]
        assert typ == "OK", data
        return c.untagged_responses.pop("METADATA")

    run(write)
    assert run(read) == [(b'"" (/shared/comment {11}', b"server note"),
                         (b" /private/x {1}", b"y"), b")"]
