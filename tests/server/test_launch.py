"""``twistd mailframe`` with a wrong option or an unreachable store: one
line on stderr and exit status 1, never a traceback (DESIGN.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import PLUGIN_ROOT, ServerProcess

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
