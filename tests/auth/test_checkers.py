"""passwd-file and in-memory checkers, open_checker, the realm."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import Portal
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailframe.auth.checkers import (
    CheckerError,
    InMemoryChecker,
    PasswdFileChecker,
    open_checker,
    parse_user_option,
    passwd_file_from_url,
)
from mailframe.auth.credentials import LoginMind, UsernamePassword
from mailframe.auth.realm import MailRealm
from mailframe.auth.schemes import hash_password
from mailframe.interfaces import IAccount, IUserDirectory
from tests.auth.helpers import AccountsStore, result_of, temp_path

PASSWD = """\
# Dovecot passwd-file
alice:{PLAIN}wonderland:1000:1000::/home/alice::userdb_quota_rule=*:storage=1G
Bob:{SHA256-CRYPT}$5$n4gWjVe6TSpI.PKT$bFhnU4zAjytITLGCMIEH5abVksGYM6MoW7mTkpXvolC:::
carol:{PBKDF2}$1$Jv7RA0/jtHsn1/PD$5000$c51ad72d18d07d4c283ebdf1cc9d6733ba95a869

nopass::1001:1001
bad/name:{PLAIN}x
crypt-default:$6$hYRRdSY9rk1V8E9c$tVNBXHPu3xRh5XjONejLRCD6VjkdSxJ82nTnfTW6joQXdiCORjJWYMQl09aQnZhLJmncHtUFN58RuDoqDLXhX1
"""


def write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class PasswdFileTests(TestCase):
    """Real deferToThread: verification happens off the reactor thread."""

    def setUp(self) -> None:
        self.path = Path(temp_path(self))
        self.path.write_text(PASSWD)
        self.checker = PasswdFileChecker(str(self.path))

    @inlineCallbacks
    def test_each_entry(self):  # type: ignore[no-untyped-def]
        c = self.checker
        self.assertEqual((yield c.requestAvatarId(UsernamePassword("alice", b"wonderland"))), "alice")
        self.assertEqual((yield c.requestAvatarId(UsernamePassword("bob", b"secret"))), "bob")
        self.assertEqual((yield c.requestAvatarId(UsernamePassword("carol", b"secret"))), "carol")
        self.assertEqual((yield c.requestAvatarId(UsernamePassword("crypt-default", b"secret"))),
                         "crypt-default")
        for name, pw in [("alice", b"x"), ("nopass", b""), ("nopass", b"x"), ("ghost", b"secret"),
                         ("bob", b"Secret")]:
            with self.assertRaises(UnauthorizedLogin):
                yield c.requestAvatarId(UsernamePassword(name, pw))

    @inlineCallbacks
    def test_user_directory(self):  # type: ignore[no-untyped-def]
        self.assertTrue(IUserDirectory.providedBy(self.checker))
        self.assertTrue((yield self.checker.exists("ALICE")))
        self.assertTrue((yield self.checker.exists("bob")))
        self.assertFalse((yield self.checker.exists("nopass")))
        self.assertFalse((yield self.checker.exists("bad/name")))
        self.assertFalse((yield self.checker.exists("ghost")))

    @inlineCallbacks
    def test_verification_runs_in_a_thread(self):  # type: ignore[no-untyped-def]
        seen: list[str] = []
        import mailframe.auth.checkers as mod
        real = mod.verify_password

        def spy(*a):  # type: ignore[no-untyped-def]
            seen.append(threading.current_thread().name)
            return real(*a)

        self.patch(mod, "verify_password", spy)
        yield self.checker.requestAvatarId(UsernamePassword("bob", b"secret"))
        self.assertEqual(len(seen), 1)
        self.assertNotEqual(seen[0], threading.current_thread().name)

    @inlineCallbacks
    def test_reload_on_change(self):  # type: ignore[no-untyped-def]
        write(self.path, PASSWD + "dave:" + hash_password("d4ve", "SHA512-CRYPT") + "\n")
        self.assertEqual((yield self.checker.requestAvatarId(UsernamePassword("dave", b"d4ve"))), "dave")
        write(self.path, "alice:{PLAIN}new\n")
        self.assertFalse((yield self.checker.exists("dave")))
        with self.assertRaises(UnauthorizedLogin):
            yield self.checker.requestAvatarId(UsernamePassword("alice", b"wonderland"))
        self.assertEqual((yield self.checker.requestAvatarId(UsernamePassword("alice", b"new"))), "alice")

    @inlineCallbacks
    def test_vanished_file_keeps_last_table(self):  # type: ignore[no-untyped-def]
        self.path.unlink()
        self.assertTrue((yield self.checker.exists("alice")))
        self.flushLoggedErrors()

    @inlineCallbacks
    def test_bom_crlf_and_duplicates(self):  # type: ignore[no-untyped-def]
        write(self.path, "\ufeffeve:{PLAIN}one\r\nEVE:{PLAIN}two\r\n")
        self.assertEqual((yield self.checker.requestAvatarId(UsernamePassword("eve", b"one"))), "eve")
        with self.assertRaises(UnauthorizedLogin):
            yield self.checker.requestAvatarId(UsernamePassword("eve", b"two"))

    def test_missing_file_is_one_line_error(self) -> None:
        with self.assertRaises(CheckerError) as cm:
            PasswdFileChecker("/nonexistent/users")
        self.assertIn("/nonexistent/users", str(cm.exception))
        self.assertNotIn("\n", str(cm.exception))


class InMemoryTests(SynchronousTestCase):
    def test_in_memory_users(self) -> None:
        c = InMemoryChecker([parse_user_option("Ann:pa:ss")])
        self.assertEqual(result_of(c.requestAvatarId(UsernamePassword("ann", b"pa:ss"))), "ann")
        self.assertTrue(result_of(c.exists("ANN")))
        c.add_user("zed", hash_password("zz", "SHA256-CRYPT"))
        self.assertTrue(result_of(c.exists("zed")))

    def test_parse_user_option_errors(self) -> None:
        for bad in ("nopassword", ":pw", "name:", "a/b:pw"):
            with self.assertRaises(CheckerError):
                parse_user_option(bad)


class RealmTests(SynchronousTestCase):
    def test_realm_gives_account_and_checks_authzid(self) -> None:
        store = AccountsStore()
        checker = InMemoryChecker({"alice": "a", "root": "r"}, run_blocking=_now)
        portal = Portal(MailRealm(store, admins=["Root"]), [checker])
        iface, acct, logout = result_of(portal.login(UsernamePassword("alice", b"a"), None, IAccount))
        self.assertIs(iface, IAccount)
        self.assertEqual(acct.username, "alice")
        logout()
        _, acct, _ = result_of(portal.login(UsernamePassword("root", b"r"), LoginMind("alice"), IAccount))
        self.assertEqual(acct.username, "alice")
        with self.assertRaises(UnauthorizedLogin):
            result_of(portal.login(UsernamePassword("alice", b"a"), LoginMind("root"), IAccount))
        with self.assertRaises(UnauthorizedLogin):
            result_of(portal.login(UsernamePassword("root", b"r"), LoginMind("../x"), IAccount))
        _, acct, _ = result_of(portal.login(UsernamePassword("alice", b"a"), LoginMind("ALICE"), IAccount))
        self.assertEqual(acct.username, "alice")


def _now(f, *a):  # type: ignore[no-untyped-def]
    from twisted.internet.defer import maybeDeferred
    return maybeDeferred(f, *a)


def test_open_checker_passwd_file(tmp_path: Path) -> None:
    p = tmp_path / "users"
    p.write_text(PASSWD)
    checker = open_checker(f"passwd-file:{p}")
    assert isinstance(checker, PasswdFileChecker)
    assert isinstance(passwd_file_from_url(f"passwd-file:{p}"), PasswdFileChecker)


def test_open_checker_http_builds_http_checker() -> None:
    from mailframe.auth.http_checker import HTTPChecker
    assert isinstance(open_checker("https://auth.example/check"), HTTPChecker)


@pytest.mark.parametrize("url", ["nonsense", "nosuch:thing", "passwd-file:/does/not/exist", ":x"])
def test_open_checker_errors_are_one_line(url: str) -> None:
    with pytest.raises(CheckerError) as info:
        open_checker(url)
    assert "\n" not in str(info.value)


def test_mechanisms_for() -> None:
    from mailframe.auth.checkers import mechanisms_for
    scram = "{SCRAM-SHA-256}4096,c2FsdA==,AAAA,AAAA"
    assert mechanisms_for([]) == {"CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}
    assert mechanisms_for(["{PLAIN}a", "{CLEAR}b"]) == {"CRAM-MD5", "SCRAM-SHA-256",
                                                          "SCRAM-SHA-256-PLUS"}
    assert mechanisms_for(["{PLAIN}a", scram]) == {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}
    assert mechanisms_for(["{PLAIN}a", "$6$x$y"]) == frozenset()
    assert mechanisms_for(["plain-by-default"], "PLAIN") == {"CRAM-MD5", "SCRAM-SHA-256",
                                                               "SCRAM-SHA-256-PLUS"}


class MechanismAndDecoyTests(TestCase):
    def test_passwd_file_mechanisms_follow_reloads(self) -> None:
        path = Path(temp_path(self))
        path.write_text("a:{PLAIN}x\nb:{CLEAR}y\n")
        checker = PasswdFileChecker(str(path))
        self.assertIn("CRAM-MD5", checker.sasl_mechanisms())
        write(path, "a:{PLAIN}x\nb:{SHA256-CRYPT}$5$n4gWjVe6TSpI.PKT$bFhnU4zAjytITLGCMIEH5abVksGYM6MoW7mTkpXvolC\n")
        self.assertEqual(checker.sasl_mechanisms(), frozenset())

    @inlineCallbacks
    def test_unknown_user_costs_a_hash_verification(self):  # type: ignore[no-untyped-def]
        path = Path(temp_path(self))
        path.write_text(PASSWD)
        checker = PasswdFileChecker(str(path))
        calls: list[tuple[object, ...]] = []
        import mailframe.auth.checkers as mod
        real = mod.verify_password

        def spy(*a):  # type: ignore[no-untyped-def]
            calls.append(a)
            return real(*a)

        self.patch(mod, "verify_password", spy)
        with self.assertRaises(UnauthorizedLogin):
            yield checker.requestAvatarId(UsernamePassword("ghost", b"secret"))
        self.assertEqual(len(calls), 1)
        self.assertTrue(str(calls[0][0]).startswith("{"))


class HashConcurrencyTests(TestCase):
    @inlineCallbacks
    def test_at_most_one_hash_per_cpu(self):  # type: ignore[no-untyped-def]
        import time

        from twisted.internet.defer import gatherResults

        import mailframe.auth.checkers as mod

        running = [0]
        peak = [0]
        lock = threading.Lock()

        def work() -> None:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1

        yield gatherResults([mod.hash_in_thread(work) for _ in range(12)])
        self.assertLessEqual(peak[0], max(1, os.cpu_count() or 1))
        self.assertGreaterEqual(peak[0], 1)
