"""Dovecot-style quota rules (``quota_rule=*:storage=1G:messages=N``) in
a passwd-file's extra fields, and the QUOTA grammar (RFC 9208 §9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailframe.auth.checkers import PasswdFileChecker
from mailframe.imap.framing import Frame
from mailframe.imap.grammar import ParseError, parse_command
from mailframe.imap.grammar_quota import GetQuota, GetQuotaRoot, SetQuota
from mailframe.quota import QuotaLimits, limits_from_fields, parse_quota_rule, parse_size
from mailframe.store.memory import MemoryStore
from mailframe.store.quota import with_quota


def test_sizes() -> None:
    assert parse_size("1G") == 1 << 30
    assert parse_size("500M") == 500 << 20
    assert parse_size("2048", "k") == 2 << 20  # Dovecot's storage= is in KiB
    assert parse_size("42b", "k") == 42
    with pytest.raises(ValueError):
        parse_size("lots")


def test_rules() -> None:
    assert parse_quota_rule("*:storage=1G") == QuotaLimits(1 << 30, None)
    assert parse_quota_rule("*:storage=1M:messages=3") == QuotaLimits(1 << 20, 3)
    assert parse_quota_rule("*:bytes=1000") == QuotaLimits(1000, None)
    assert parse_quota_rule("*:messages=0") == QuotaLimits(None, None)  # 0: unlimited
    assert parse_quota_rule("Trash:storage=+100M") is None  # one mailbox's rule
    assert parse_quota_rule("*:ignore") is None
    with pytest.raises(ValueError):
        parse_quota_rule("*:colour=blue")


def test_extra_fields() -> None:
    assert limits_from_fields(["userdb_quota_rule=*:storage=1G"]) == QuotaLimits(1 << 30)
    assert limits_from_fields(["quota_rule=*:storage=1G", "quota_rule2=*:messages=10"]) == \
        QuotaLimits(1 << 30, 10)
    assert limits_from_fields(["userdb_mail=maildir:~/Maildir"]) is None


def test_passwd_file_extra_fields_set_the_limits(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(
        "alice:{PLAIN}x:1000:1000::/home/alice::userdb_quota_rule=*:storage=1G userdb_uid=5\n"
        "bob:{PLAIN}y\n"
    )
    checker = PasswdFileChecker(str(users))
    assert checker.user_fields("alice") == ["userdb_quota_rule=*:storage=1G", "userdb_uid=5"]
    assert checker.user_fields("bob") == []
    store = with_quota(MemoryStore(), QuotaLimits(None, 100), [checker])
    assert store.policy("alice") == QuotaLimits(1 << 30, None)  # replaces the default
    assert store.policy("bob") == QuotaLimits(None, 100)
    users.write_text("bob:{PLAIN}y::::::quota_rule=*:messages=7\n")  # re-read at once
    assert store.policy("bob") == QuotaLimits(None, 7)


def parse(line: bytes) -> object:
    return parse_command(Frame((line,)))


def test_grammar() -> None:
    assert parse(b'a GETQUOTA "User quota"') == GetQuota("a", "User quota")
    assert parse(b"a GETQUOTAROOT inbox") == GetQuotaRoot("a", "INBOX")
    assert parse(b'a SETQUOTA "" (STORAGE 512 MESSAGE 10)') == \
        SetQuota("a", "", (("STORAGE", 512), ("MESSAGE", 10)))
    assert parse(b'a SETQUOTA "" ()') == SetQuota("a", "", ())
    for bad in (b"a GETQUOTA", b'a SETQUOTA "" (STORAGE)', b'a SETQUOTA "" (STORAGE x)',
                b'a SETQUOTA ""', b"a GETQUOTAROOT"):
        with pytest.raises(ParseError):
            parse(bad)


def test_deliver_tool_applies_the_users_file_rule(tmp_path: Path) -> None:
    """``mailframe deliver --users passwd-file:...``: the quota_rule there
    refuses for good (exit 77, the MTA bounces), nothing is stored."""
    import subprocess
    import sys

    users = tmp_path / "users"
    users.write_text("alice:{PLAIN}x::::::userdb_quota_rule=*:messages=1\n")
    argv = [sys.executable, "-m", "mailframe.smtp.deliver_tool", "--store",
            f"maildir:{tmp_path}/mail/%u", "--users", f"passwd-file:{users}", "-u", "alice"]
    first = subprocess.run(argv, input=b"Subject: x\n\nbody\n", capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(argv, input=b"Subject: y\n\nbody\n", capture_output=True, timeout=60)
    assert second.returncode == 77, second.stderr
    assert b"over quota" in second.stderr
    stored = list((tmp_path / "mail" / "alice" / "cur").iterdir()) + \
        list((tmp_path / "mail" / "alice" / "new").iterdir())
    assert len(stored) == 1
