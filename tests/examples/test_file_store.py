"""The custom-store example and the conformance runner a newcomer uses:
``examples/file_store.py`` is under 150 lines, passes
``python -m mailframe.testing``, and ``twistd -n mailframe --store
examples.file_store:make_store`` serves it to imaplib."""

from __future__ import annotations

import imaplib
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import PLUGIN_ROOT, ServerProcess

ROOT = Path(PLUGIN_ROOT)


def _run_suite(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "mailframe.testing", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_example_is_short() -> None:
    lines = (ROOT / "examples" / "file_store.py").read_text().count("\n")
    assert lines < 150, lines


def test_example_passes_the_whole_suite() -> None:
    done = _run_suite("examples.file_store:make_store")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    total = done.stdout.strip().splitlines()[-1]
    assert total.endswith("checks passed.") and total.split()[0] == total.split()[2], total


def test_failures_are_told_in_words() -> None:
    """A store that forgot its primitives hears which, where and what to do."""
    done = _run_suite("tests.examples.readonly_fixture:forgetful_store", "-k", "read_returns")
    assert done.returncode == 1
    out = done.stdout
    assert "✗ read returns exact bytes and ranges (error)" in out, out
    assert "what happened: NotImplementedError" in out, out
    assert "what to do: a storage primitive is missing" in out, out
    assert "0 of 1 checks passed." in out


def test_read_only_subset_on_a_store_that_holds_mail() -> None:
    done = _run_suite("--read-only", "--user", "archive", "tests.examples.readonly_fixture:filled_store")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "states records and bytes agree" in done.stdout


def test_unloadable_factory_is_one_line() -> None:
    done = _run_suite("no_such_module_here:make")
    assert done.returncode == 1
    assert done.stdout.startswith("cannot load no_such_module_here:make:"), done.stdout


def test_twistd_serves_the_example_store(tmp_path: Path) -> None:
    with ServerProcess(
        tmp_path / "srv", "--user", "a:b", users={}, store="examples.file_store:make_store"
    ) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        m.login("a", "b")
        typ, data = m.append("INBOX", "(\\Flagged)", None, b"Subject: hi\r\n\r\nfrom imaplib\r\n")
        assert typ == "OK" and b"APPENDUID" in data[0], data
        assert m.create("Archive")[0] == "OK"
        assert m.select("INBOX") == ("OK", [b"1"])
        typ, data = m.fetch("1", "(FLAGS BODY.PEEK[TEXT])")
        assert data[0][1] == b"from imaplib\r\n", data  # type: ignore[index]
        assert b"\\Flagged" in data[0][0]  # type: ignore[index]
        typ, data = m.uid("MOVE", "1", "Archive")
        assert typ == "OK", data
        assert m.status("Archive", "(MESSAGES)")[1] == [b"Archive (MESSAGES 1)"]
        m.logout()


def test_default_folders_documented_command(tmp_path: Path) -> None:
    """The command in examples/default_folders.py's docstring works as written."""
    doc = (ROOT / "examples" / "default_folders.py").read_text()
    assert "twistd -n mailframe --store examples.default_folders:make_store --user alice:secret" in doc
    with ServerProcess(
        tmp_path / "srv", "--user", "alice:secret", users={}, store="examples.default_folders:make_store"
    ) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        m.login("alice", "secret")
        typ, data = m.list()
        names = b" ".join(d for d in data if isinstance(d, bytes))
        for name, use in ((b"Sent", b"\\Sent"), (b"Trash", b"\\Trash"), (b"Drafts", b"\\Drafts")):
            assert name in names and use in names, data
        m.logout()
    assert (tmp_path / "srv" / "mail" / "alice").is_dir()  # maildir:./mail, relative to the server


def test_tac_serves_imap_and_smtp_over_the_users_store_with_starttls(tmp_path: Path) -> None:
    """examples/own_store.tac: LOGIN refused before STARTTLS, SMTP
    delivers into the store IMAP serves, the literal limit is enforced."""
    import smtplib
    import ssl
    import time

    from tests.support.server import free_port

    imap_port, smtp_port = free_port(), free_port()
    env = dict(
        os.environ,
        PYTHONPATH=PLUGIN_ROOT,
        OWN_STORE_DATA=str(tmp_path / "data"),
        OWN_STORE_IMAP=f"tcp:{imap_port}:interface=127.0.0.1",
        OWN_STORE_SMTP=f"tcp:{smtp_port}:interface=127.0.0.1",
    )
    cmd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
           "--pidfile=", "--logfile", str(tmp_path / "log"), "-y", str(ROOT / "examples" / "own_store.tac")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                m = imaplib.IMAP4("127.0.0.1", imap_port)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "log").read_text()
                assert time.monotonic() < deadline, "the .tac did not listen"
                time.sleep(0.1)
        assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", smtp_port) as s:
            s.starttls(context=tls)
            s.sendmail("x@example.com", ["alice@localhost"], b"Subject: via smtp\r\n\r\nhello\r\n")
        m.starttls(ssl_context=tls)
        m.login("alice", "secret")
        assert m.select("INBOX") == ("OK", [b"1"])
        typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
        assert data[0][1] == b"hello\r\n", data  # type: ignore[index]
        typ, data = m._simple_command("APPEND", "INBOX", "{%d}" % (21 * 1024 * 1024))  # type: ignore[attr-defined]
        assert typ == "NO" and b"[TOOBIG]" in data[0], (typ, data)
        m.logout()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
