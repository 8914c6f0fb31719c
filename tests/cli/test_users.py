"""``mailframe user``: the passwd-file, with a running server reading it."""

from __future__ import annotations

import imaplib
import json
import os
import stat
from pathlib import Path

from mailframe.auth.schemes import verify_password
from tests.cli._support import mf, ok
from tests.support.server import ServerProcess


def test_add_list_passwd_del_keep_other_lines(tmp_path: Path) -> None:
    users = tmp_path / "data" / "users"
    users.parent.mkdir()
    users.write_text("# the team\nzoe:{PLAIN}zz:1000:1000::/home/zoe::\n\n")
    os.chmod(users, 0o640)
    d = ["--data-dir", str(tmp_path / "data")]
    assert "added alice" in ok("user", "add", "Alice", "--password-stdin", *d, stdin="s3cret\n")
    r = mf("user", "add", "alice", "--password-stdin", *d, stdin="other\n")
    assert r.returncode == 1 and b"already exists" in r.stderr
    ok("user", "passwd", "zoe", "--password-stdin", "--scheme", "sha512-crypt", *d, stdin="new\n")
    listed = json.loads(ok("user", "list", "--json", *d))
    assert listed == [{"name": "zoe", "scheme": "SHA512-CRYPT"}, {"name": "alice", "scheme": "ARGON2ID"}]
    lines = users.read_text().splitlines()
    assert lines[0] == "# the team" and lines[2] == ""
    assert lines[1].startswith("zoe:{SHA512-CRYPT}") and lines[1].endswith(":1000:1000::/home/zoe::")
    assert verify_password(lines[1].split(":")[1], "new")
    assert verify_password(lines[3].split(":", 1)[1], "s3cret")
    assert stat.S_IMODE(users.stat().st_mode) == 0o640
    ok("user", "del", "zoe", *d)
    assert [e["name"] for e in json.loads(ok("user", "list", "--json", *d))] == ["alice"]
    assert mf("user", "passwd", "zoe", "--password-stdin", *d, stdin="x\n").returncode == 1
    # no terminal and no --password-stdin: refused, nothing read from argv
    assert mf("user", "add", "bob", *d).returncode == 1
    assert not list(users.parent.glob(".users-*"))  # no temporary file left


def test_concurrent_adds_lose_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.server import PLUGIN_ROOT

    env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
    procs = [subprocess.Popen([sys.executable, "-m", "mailframe.cli", "user", "add", f"u{i}",
                               "--password-stdin", "--scheme", "PLAIN", "-d", str(tmp_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
             for i in range(6)]
    for p in procs:
        p.communicate(b"pw\n", timeout=60)
        assert p.returncode == 0
    names = {e["name"] for e in json.loads(ok("user", "list", "--json", "-d", str(tmp_path)))}
    assert names == {f"u{i}" for i in range(6)}


def test_running_server_sees_added_user_and_new_password(tmp_path: Path) -> None:
    users = tmp_path / "users"
    ok("user", "add", "alice", "--password-stdin", "--users", f"passwd-file:{users}",
       stdin="first\n")
    with ServerProcess(tmp_path / "srv", "--users", f"passwd-file:{users}", users={}) as srv:
        ok("user", "add", "bob", "--password-stdin", "--scheme", "SHA512-CRYPT",
           "--users", f"passwd-file:{users}", stdin="builder\n")
        c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        assert c.login("bob", "builder")[0] == "OK"
        c.logout()
        ok("user", "passwd", "alice", "--password-stdin", "--users", str(users), stdin="second\n")
        c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        try:
            c.login("alice", "first")
            raise AssertionError("old password still accepted")
        except imaplib.IMAP4.error:
            pass
        c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        assert c.login("alice", "second")[0] == "OK"
        c.logout()
        ok("user", "del", "bob", "--users", str(users))
        c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        try:
            c.login("bob", "builder")
            raise AssertionError("deleted user still accepted")
        except imaplib.IMAP4.error:
            pass
