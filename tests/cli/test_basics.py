"""``mailframe``: version, help for every command, one-line usage errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import mailframe
from mailframe.cli import COMMANDS
from tests.cli._support import mf, ok
from tests.support.server import PLUGIN_ROOT


def test_version() -> None:
    assert ok("--version") == f"mailframe {mailframe.__version__}\n"


def test_twistd_plugin_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
    r = subprocess.run([sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                        "mailframe", "--version"], capture_output=True, cwd=tmp_path, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines()[0] == f"mailframe {mailframe.__version__}"


HELPS = [[name] for name in COMMANDS if name not in ("serve", "passwd", "deliver")] + [
    ["user", "add"], ["user", "del"], ["user", "list"], ["user", "passwd"],
    ["mailbox", "list"], ["mailbox", "create"], ["mailbox", "delete"], ["mailbox", "rename"],
    ["mailbox", "status"], ["mailbox", "fetch"], ["passwd"], ["deliver"]]


@pytest.mark.parametrize("words", HELPS, ids=" ".join)
def test_every_command_has_help(words: list[str]) -> None:
    out = ok(*words, "--help")
    assert out.startswith("usage:")


@pytest.mark.parametrize("argv", [
    [], ["nosuch"], ["user"], ["user", "add"], ["user", "frob", "x"],
    ["user", "add", "alice", "--scheme", "ROT13"], ["mailbox", "fetch", "alice", "INBOX", "x"],
    ["mailbox", "status", "alice"], ["check"], ["reindex", "alice", "INBOX", "extra"],
    ["import", "onlyone"], ["export"], ["user", "add", "a/b", "--password-stdin"],
    ["import", "sqlite:/x.db", "alice"], ["--bogus"],
], ids=lambda a: " ".join(a) or "(none)")
def test_wrong_arguments_are_one_line_and_status_2(argv: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = mf(*argv, cwd=tmp_path, stdin="pw\n")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == b""
    assert r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"mailframe"), r.stderr


def test_failures_are_one_line_and_status_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for argv in (["mailbox", "list", "nobody"], ["user", "del", "nobody"],
                 ["mailbox", "status", "x", "INBOX", "--store", "nosuch:/x"],
                 ["check", "nobody"]):
        r = mf(*argv, cwd=tmp_path)
        assert r.returncode == 1, (argv, r.stderr)
        assert r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr, r.stderr


def test_old_tools_still_work(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = ok("passwd", "-p", "x", "--user", "zed")
    assert out.startswith("zed:{ARGON2ID}")
    r = mf("deliver", "--store", "memory", "-u", "bob", "-v", stdin=b"Subject: x\n\nhi\n")
    assert (r.returncode, r.stdout) == (0, b"delivered to bob/INBOX uid 1\n")
    assert mf("deliver", "--store", "memory").returncode == 64
