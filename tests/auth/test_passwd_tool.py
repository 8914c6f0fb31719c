"""``mailframe passwd`` (mailframe.auth.passwd_tool.main)."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from mailframe.auth.passwd_tool import main
from mailframe.auth.schemes import verify_password


def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_default_is_argon2id_from_stdin() -> None:
    code, out, err = run([], "hunter2\n")
    assert (code, err) == (0, "")
    line = out.strip()
    assert line.startswith("{ARGON2ID}$argon2id$")
    assert verify_password(line, "hunter2")


def test_user_line_and_scheme() -> None:
    code, out, _ = run(["--user", "Alice", "-s", "sha512-crypt", "-p", "pw:with:colons"])
    assert code == 0
    user, _, stored = out.strip().partition(":")
    assert user == "alice" and stored.startswith("{SHA512-CRYPT}$6$")
    assert verify_password(stored, "pw:with:colons")


@pytest.mark.parametrize(("argv", "stdin", "status"), [
    (["-s", "NOSUCH", "-p", "x"], "", 2),
    ([], "\n", 1),
    (["--user", "a/b", "-p", "x"], "", 1),
    (["--user", "a", "-s", "PLAIN", "-p", "x:y"], "", 1),
])
def test_errors(argv: list[str], stdin: str, status: int) -> None:
    code, out, _err = run(argv, stdin)
    assert (code, out) == (status, "")


@pytest.mark.skipif(shutil.which("doveadm") is None, reason="doveadm (Debian dovecot-core) not installed")
def test_doveadm_accepts_output() -> None:
    _code, out, _ = run(["-p", "s3cret"])
    result = subprocess.run(["doveadm", "pw", "-t", out.strip(), "-p", "s3cret"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
