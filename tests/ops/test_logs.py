"""The operator's log lines (issue 17, "Logs"): one per connection, login,
refused login and delivery; never a password or message content.

A real ``twistd mailframe`` serves a real session — LOGIN, AUTHENTICATE
PLAIN, a refused password, APPEND, FETCH, an SMTP delivery — and the
whole log is searched for every secret the clients sent.
"""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

PASSWORD = "Zq8-correct-horse-battery"
WRONG = "Wx5-not-my-password-at-all"
BODY_IMAP = b"imap-body-7f3d2a: the quick brown fox"
BODY_SMTP = b"smtp-body-91c0e4: jumps over the lazy dog"
SUBJECT = "subject-5be1 secret plans"


class JsonServer(ServerProcess):
    """The server with twistd's ``--logger`` set to the JSON observer."""

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("--logfile")
        del cmd[at:at + 2]
        return cmd[:at] + ["--logger", "mailframe.ops.jsonlog.observer"] + cmd[at:]

    def start(self, timeout: float = 20.0) -> ServerProcess:
        import os

        os.environ["MAILFRAME_JSON_LOG"] = str(self.log)
        try:
            return super().start(timeout)
        finally:
            del os.environ["MAILFRAME_JSON_LOG"]


def _session(srv: ServerProcess) -> None:
    """Everything a client does that carries a secret."""
    m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice", WRONG)
    m.login("alice", PASSWORD)
    m.append("INBOX", None, None,
             b"Subject: " + SUBJECT.encode() + b"\r\n\r\n" + BODY_IMAP + b"\r\n")
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY[])")
    assert typ == "OK" and BODY_IMAP in data[0][1]  # type: ignore[index]
    m.logout()

    m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
    m.authenticate("PLAIN", lambda _: f"\0alice\0{PASSWORD}".encode())
    m.logout()

    m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        m.authenticate("PLAIN", lambda _: f"\0bob\0{WRONG}".encode())
    m.logout()

    assert srv.smtp_port is not None
    with smtplib.SMTP("127.0.0.1", srv.smtp_port) as s:
        s.sendmail("carol@example.org", ["alice@localhost"],
                   b"Subject: " + SUBJECT.encode() + b"\r\n\r\n" + BODY_SMTP + b"\r\n")


def _secrets() -> list[str]:
    plain = [f"\0alice\0{PASSWORD}", f"\0bob\0{WRONG}"]
    return [PASSWORD, WRONG, BODY_IMAP.decode(), BODY_SMTP.decode(), SUBJECT,
            *(base64.b64encode(p.encode()).decode() for p in plain)]


def _stop_and_read(srv: ServerProcess) -> str:
    srv.stop()  # the close lines are written when the connections end
    return srv.read_log()


def _assert_no_secrets(log: str) -> None:
    for secret in _secrets():
        assert secret not in log, f"{secret!r} found in the log"
        assert secret.lower() not in log.lower()


def test_text_log_has_the_lines_and_no_secrets(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "srv", smtp=True, users={"alice": PASSWORD, "bob": "b0b"})
    with srv:
        _session(srv)
        log = _stop_and_read(srv)
    _assert_no_secrets(log)
    lines = log.splitlines()

    def having(*words: str) -> list[str]:
        return [line for line in lines if all(w in line for w in words)]

    assert len(having("imap conn=", " open peer=127.0.0.1 tls=no")) == 4  # 3 + the start probe
    assert having("login user=alice mechanism=LOGIN-COMMAND tls=no")
    assert having("login user=alice mechanism=PLAIN tls=no")
    assert having("login refused peer=127.0.0.1 user=alice mechanism=LOGIN-COMMAND",
                  "reason='Authentication failed'")
    assert having("login refused peer=127.0.0.1 user=bob mechanism=PLAIN")
    closes = having(" close peer=127.0.0.1 user=alice duration=")
    assert len(closes) == 2
    assert all(" in=" in c and " out=" in c for c in closes)
    delivery = having("smtp delivery id=", "from=<carol@example.org> to=<alice@localhost>",
                      "user=alice", "folder=INBOX result=delivered code=250")
    assert len(delivery) == 1
    size = int(delivery[0].split(" size=")[1].split()[0])
    assert size > len(BODY_SMTP)


def test_json_log_through_twistd_logger(tmp_path: Path) -> None:
    srv = JsonServer(tmp_path / "srv", smtp=True, users={"alice": PASSWORD, "bob": "b0b"})
    with srv:
        _session(srv)
        log = _stop_and_read(srv)
    _assert_no_secrets(log)
    records = [json.loads(line) for line in log.splitlines()]  # every line is one object
    kinds = [r.get("mf_event") for r in records]
    assert {"imap_open", "imap_login", "imap_login_refused", "imap_close", "delivery"} <= set(kinds)
    login = next(r for r in records if r.get("mf_event") == "imap_login")
    assert (login["user"], login["mechanism"], login["tls"]) == ("alice", "LOGIN-COMMAND", "no")
    assert login["level"] == "info" and login["time"].endswith("+00:00")
    close = next(r for r in records if r.get("mf_event") == "imap_close" and r["user"] == "alice")
    assert close["bytes_in"] > 0 and close["bytes_out"] > 0
    delivery = next(r for r in records if r.get("mf_event") == "delivery")
    assert delivery["result"] == "delivered" and delivery["folder"] == "INBOX"
    assert len(delivery["queue_id"]) == 12


def test_log_level_warn_drops_info_lines(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "srv", "--log-level", "warn")
    with srv:
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        m.login("alice", "secret")
        m.logout()
        log = _stop_and_read(srv)
    assert "imap conn=" not in log
    assert "login user=alice" not in log


def test_log_level_is_checked(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.support.server import PLUGIN_ROOT

    done = subprocess.run(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", "mailframe", "--data-dir", str(tmp_path), "--log-level", "loud"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=PLUGIN_ROOT), capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "mailframe: --log-level: unknown log level 'loud'; use one of debug, info, warn, error, critical"]
