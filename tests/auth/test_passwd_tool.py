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


def test_file_update_keeps_other_lines_and_fields(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    from mailframe.auth.checkers import PasswdFileChecker
    from tests.auth.helpers import result_of
    users = tmp_path / "users"
    users.write_text("# comment\nalice:{PLAIN}old:1000:1000::/home/alice::quota=1G\nbob:{PLAIN}b\n")
    os.chmod(users, 0o640)
    code, out, _ = run(["--user", "Alice", "--file", str(users), "-s", "SHA256-CRYPT"], "new-pw\n")
    assert (code, out) == (0, f"updated alice in {users}\n")
    lines = users.read_text().splitlines()
    assert lines[0] == "# comment" and lines[2] == "bob:{PLAIN}b"
    fields = lines[1].split(":")
    assert fields[0] == "alice" and fields[1].startswith("{SHA256-CRYPT}$5$")
    assert fields[2:] == ["1000", "1000", "", "/home/alice", "", "quota=1G"]
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o640
    code, out, _ = run(["-u", "carol", "-f", str(users), "-p", "c"])
    assert (code, out) == (0, f"added carol in {users}\n")
    checker = PasswdFileChecker(str(users), run_blocking=_inline)
    assert result_of(checker.exists("carol"))
    from mailframe.auth.credentials import UsernamePassword
    assert result_of(checker.requestAvatarId(UsernamePassword("alice", b"new-pw"))) == "alice"


def test_file_created_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat
    users = tmp_path / "new-users"
    assert run(["-u", "dave", "-f", str(users), "-p", "d"])[0] == 0
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert users.read_text().startswith("dave:{ARGON2ID}$argon2id$")
    assert run(["-f", str(users), "-p", "d"])[0] == 2  # --file needs --user
    assert run(["-u", "x", "-f", str(tmp_path / "no" / "dir"), "-p", "d"])[0] == 1


def _inline(f, *a):  # type: ignore[no-untyped-def]
    from twisted.internet.defer import maybeDeferred
    return maybeDeferred(f, *a)
