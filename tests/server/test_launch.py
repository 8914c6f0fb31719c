"""``twistd mailframe`` with a wrong option or an unreachable store: one
line on stderr and exit status 1, never a traceback (DESIGN.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import PLUGIN_ROOT, ServerProcess, free_port

TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile="]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--store", "bogus:x"], "unknown store 'bogus'"),
        (["--store", "maildir:/proc/no/such/place"], "--store"),
        (["--imap", "nonsense:1"], "Unknown endpoint type"),
        (["--max-line", "abc"], "--max-line wants a whole number"),
        (["--no-such-option"], "not recognized"),
        (["--users", "passwd-file:/nonexistent/users"], "No such file"),
        (["--user", "nocolon"], "NAME:PASSWORD"),
        (["--imaps", "ssl:0:privateKey=/nonexistent/key.pem"], "/nonexistent/key.pem: no such file"),
        (["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"],
         "/nonexistent/c.pem: no such file"),
        (["--login-delay", "-1"], "--login-delay must be zero or more"),
    ],
)
def test_wrong_option_is_one_line_and_status_1(tmp_path: Path, args: list[str], reason: str) -> None:
    env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
    done = subprocess.run(
        [*TWISTD, "mailframe", "--data-dir", str(tmp_path / "data"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mailframe: ") and reason in lines[0]


def test_defaults_serve_imap_and_smtp_from_maildir(tmp_path: Path) -> None:
    """With no store option the server uses Maildir under the data dir and
    SMTP delivers into the same store IMAP serves."""
    import imaplib
    import smtplib

    with ServerProcess(tmp_path / "srv", smtp=True, store="default") as srv:
        with smtplib.SMTP("127.0.0.1", srv.smtp_port) as s:
            s.sendmail("x@example.com", ["alice@localhost"], b"Subject: hi\r\n\r\nbody\r\n")
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        m.login("alice", "secret")
        assert m.select("INBOX") == ("OK", [b"1"])
        typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
        assert data[0][1] == b"body\r\n"  # type: ignore[index]
        m.logout()
    maildir = tmp_path / "srv" / "data" / "mail" / "alice"
    assert len(list((maildir / "cur").iterdir()) + list((maildir / "new").iterdir())) == 1


# --- issue 11, defects 19-21 ------------------------------------------------


@pytest.mark.parametrize("kind", ["imap", "smtp"])
def test_port_in_use_is_one_line_naming_option_and_port(tmp_path: Path, kind: str) -> None:
    """Defect 21: no 41-line traceback, status 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        desc = f"tcp:{port}:interface=127.0.0.1"
        args = ["--imap", desc, "--no-smtp"] if kind == "imap" else \
            ["--imap", f"tcp:{free_port()}:interface=127.0.0.1", "--smtp", desc]
        env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
        done = subprocess.run(
            [*TWISTD, "mailframe", "--data-dir", str(tmp_path / "data"), "--user", "a:b", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert lines == [f"mailframe: --{kind} {desc}: address already in use"]


def test_starttls_uses_the_imaps_certificate(tmp_path: Path) -> None:
    """Defect 19: with one certificate configured (on --imaps), STARTTLS on
    IMAP and SMTP presents it, not a generated self-signed one."""
    import imaplib
    import smtplib
    import ssl

    from mailframe.server.tls import CertificateAuthority

    ca = CertificateAuthority()
    cert, key = ca.issue(str(tmp_path / "certs"), ("localhost", "127.0.0.1"))
    verify = ssl.create_default_context(cadata=ca.cert_pem.decode())
    imaps = free_port()
    with ServerProcess(tmp_path / "srv", "--imaps", f"ssl:{imaps}:privateKey={key}:certKey={cert}",
                       smtp=True) as srv:
        m = imaplib.IMAP4("localhost", srv.imap_port, timeout=20)
        m.starttls(verify)  # fails verification on a self-signed certificate
        assert m.login("alice", "secret")[0] == "OK"
        m.logout()
        with smtplib.SMTP("localhost", srv.smtp_port, timeout=20) as s:
            s.starttls(context=verify)
            assert s.noop()[0] == 250
        with imaplib.IMAP4_SSL("localhost", imaps, ssl_context=verify, timeout=20) as m2:
            assert m2.login("bob", "hunter2")[0] == "OK"
    assert not (tmp_path / "srv" / "data" / "tls" / "cert.pem").exists()


NODIR_CHECKER = '''
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import fail, succeed
from zope.interface import implementer


@implementer(ICredentialsChecker)
class Checker:
    credentialInterfaces = (IUsernamePassword,)

    def requestAvatarId(self, credentials):
        if credentials.password == b"pw":
            return succeed(credentials.username)
        return fail(UnauthorizedLogin())


def from_url(url):
    return Checker()
'''


def test_checker_without_user_directory_is_said_at_startup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 20: one line at startup when SMTP cannot check recipients."""
    site = tmp_path / "site"
    (site / "nodir_checker-1.0.dist-info").mkdir(parents=True)
    (site / "nodir_checker.py").write_text(NODIR_CHECKER)
    (site / "nodir_checker-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nodir-checker\nVersion: 1.0\n")
    (site / "nodir_checker-1.0.dist-info" / "entry_points.txt").write_text(
        "[mailframe.checkers]\nnodir = nodir_checker:from_url\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    # one process: with --workers N each worker says it once
    with ServerProcess(tmp_path / "srv", "--users", "nodir:x", "--workers", "1", users={}, smtp=True) as srv:
        import imaplib

        m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=20)
        assert m.login("carol", "pw")[0] == "OK"
        m.logout()
        log = srv.wait_for_log("IUserDirectory")
    said = [ln for ln in log.splitlines() if "IUserDirectory" in ln]
    assert len(said) == 1, log
    assert "--users nodir:x" in said[0] and "451" in said[0]


def test_users_file_problems_are_warned_with_line_numbers_and_users_counted(tmp_path: Path) -> None:
    """Defect 21: unknown schemes and malformed hashes are named at load,
    with file and line; the count covers --user and the file together."""
    users = tmp_path / "users"
    users.write_text(
        "# comment\n"
        "alice:{PLAIN}secret\n"
        "bob:{NOSUCH}abc\n"
        "carol:{SHA512-CRYPT}not-a-hash\n"
        "dave:{SHA256}zz\n"
        "erin:{SSHA256}" + "A" * 10 + "\n"
    )
    with ServerProcess(tmp_path / "srv", "--users", f"passwd-file:{users}", users={"zed": "pw"}) as srv:
        log = srv.wait_for_log("users: ")
    assert f"passwd-file {users}:3: unknown password scheme {{NOSUCH}}; bob cannot log in" in log
    assert f"passwd-file {users}:4: malformed {{SHA512-CRYPT}} hash; carol cannot log in" in log
    assert f"passwd-file {users}:5: malformed {{SHA256}} hash; dave cannot log in" in log
    assert f"passwd-file {users}:6: malformed {{SSHA256}} hash; erin cannot log in" in log
    assert f"users: 6 (--user: 1; passwd-file {users}: 5)" in log
    assert ": 0 users" not in log
    assert "abc" not in log and "not-a-hash" not in log  # hashes are never logged
