"""The Authenticator: LOGIN, plaintext policy, SASL exchanges by hand, failures.

RFC 4616 (PLAIN), RFC 2195 (CRAM-MD5), RFC 5802/7677 (SCRAM-SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from mailframe.auth.authenticator import SaslChallenge, SaslSuccess, is_local_peer
from mailframe.auth.credentials import normalize_username
from mailframe.auth.realm import MailRealm
from mailframe.auth.scram_math import derive_secrets
from mailframe.errors import (
    AuthenticationFailed,
    CannotDo,
    LimitExceeded,
    PrivacyRequired,
    ProtocolError,
)
from tests.auth.helpers import AccountsStore, make_authenticator, result_of, sync_checker, temp_path

REMOTE = "203.0.113.7"
CLEAR = sync_checker({"alice": "wonderland", "admin": "root-pw"})
LOCAL = "127.0.0.1"


def failure_of(d: Deferred[object], clock: object = None, advance: float = 60.0) -> Exception:
    if clock is not None:
        clock.advance(advance)  # type: ignore[attr-defined]
    out: list[object] = []
    d.addBoth(out.append)
    assert out, "Deferred has not fired"
    f = out[0]
    assert hasattr(f, "value"), f"expected a failure, got {f!r}"
    return f.value  # type: ignore[no-any-return,attr-defined]


class LoginCommandTests(SynchronousTestCase):
    def test_login_success_gives_account(self) -> None:
        auth, _clock, store = make_authenticator()
        account = result_of(auth.login("Alice", "wonderland", False, LOCAL))
        self.assertEqual(account.username, "alice")
        self.assertIs(account, store.accounts["alice"])

    def test_login_with_crypt_hash(self) -> None:
        auth, _clock, _ = make_authenticator()
        self.assertEqual(result_of(auth.login("bob", b"secret", True, REMOTE)).username, "bob")

    def test_bad_password_fails_after_delay(self) -> None:
        auth, clock, _ = make_authenticator(base=0.5)
        d = auth.login("alice", "wrong", False, LOCAL)
        out: list[object] = []
        d.addBoth(out.append)
        self.assertEqual(out, [])
        clock.advance(0.49)
        self.assertEqual(out, [])
        clock.advance(0.02)
        self.assertIsInstance(out[0].value, AuthenticationFailed)  # type: ignore[attr-defined]
        self.assertEqual(out[0].value.code, "AUTHENTICATIONFAILED")  # type: ignore[attr-defined]

    def test_unknown_user_and_invalid_name_fail_the_same(self) -> None:
        auth, clock, _ = make_authenticator()
        self.assertIsInstance(failure_of(auth.login("nobody", "x", False, LOCAL), clock),
                              AuthenticationFailed)
        self.assertIsInstance(failure_of(auth.login("../etc", "x", False, LOCAL), clock),
                              AuthenticationFailed)

    def test_plaintext_refused_remote_unencrypted(self) -> None:
        auth, _clock, _ = make_authenticator()
        self.assertFalse(auth.plaintext_allowed(False, REMOTE))
        self.assertTrue(auth.plaintext_allowed(True, REMOTE))
        self.assertTrue(auth.plaintext_allowed(False, LOCAL))
        err = failure_of(auth.login("alice", "wonderland", False, REMOTE))
        self.assertIsInstance(err, PrivacyRequired)
        self.assertEqual(err.code, "PRIVACYREQUIRED")  # type: ignore[attr-defined]

    def test_plaintext_policy_configurable(self) -> None:
        open_auth, _c, _ = make_authenticator(allow_insecure_plaintext=True)
        self.assertTrue(open_auth.plaintext_allowed(False, REMOTE))
        strict, _c, _ = make_authenticator(CLEAR, allow_local_plaintext=False)
        self.assertFalse(strict.plaintext_allowed(False, LOCAL))
        self.assertEqual(strict.mechanisms(False, LOCAL), ["CRAM-MD5", "SCRAM-SHA-256"])

    def test_mechanisms_listing(self) -> None:
        auth, _clock, _ = make_authenticator(CLEAR)
        self.assertEqual(auth.mechanisms(True, REMOTE), ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"])
        self.assertEqual(auth.mechanisms(False, REMOTE), ["CRAM-MD5", "SCRAM-SHA-256"])
        only, _c, _ = make_authenticator(CLEAR, mechanisms=("scram-sha-256", "PLAIN", "GSSAPI"))
        self.assertEqual(only.mechanisms(True, LOCAL), ["SCRAM-SHA-256", "PLAIN"])

    def test_mechanisms_only_those_every_user_can_use(self) -> None:
        mixed, _c, _ = make_authenticator()  # bob has a SHA512-CRYPT hash
        self.assertEqual(mixed.mechanisms(True, REMOTE), ["PLAIN", "LOGIN"])
        with self.assertRaises(CannotDo):
            mixed.start("CRAM-MD5", True, REMOTE)
        scram = sync_checker({"a": "{SCRAM-SHA-256}" + derive_secrets("x", b"salt").dovecot(),
                              "b": "clear"})
        auth, _c, _ = make_authenticator(scram)
        self.assertEqual(auth.mechanisms(True, REMOTE), ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
        forced, _c, _ = make_authenticator(only_universal_mechanisms=False)
        self.assertEqual(forced.mechanisms(True, REMOTE),
                         ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"])

    def test_failed_delay_grows_then_resets_on_success(self) -> None:
        auth, clock, _ = make_authenticator(base=1.0, maximum=4.0)
        delays = []
        for _ in range(4):
            d = auth.login("alice", "bad", True, REMOTE)
            out: list[object] = []
            d.addBoth(out.append)
            waited = 0.0
            while not out:
                clock.advance(0.25)
                waited += 0.25
            delays.append(waited)
        self.assertEqual(delays, [1.0, 2.0, 4.0, 4.0])
        result_of(auth.login("alice", "wonderland", True, REMOTE))
        self.assertEqual(auth.throttle.failures(REMOTE, "alice"), 0)

    def test_lockout_per_address_and_user(self) -> None:
        auth, clock, _ = make_authenticator(base=0.01, lockout=3, address_lockout=5)
        for _ in range(3):
            failure_of(auth.login("alice", "bad", True, REMOTE), clock)
        err = failure_of(auth.login("alice", "wonderland", True, REMOTE))
        self.assertIsInstance(err, LimitExceeded)
        # another address is unaffected, and so is another user here
        self.assertEqual(result_of(auth.login("alice", "wonderland", True, "198.51.100.1")).username,
                         "alice")
        auth.start("PLAIN", True, REMOTE)
        for _ in range(2):
            failure_of(auth.login("carol", "bad", True, REMOTE), clock)
        # five failures from the address, over any names: the address is refused
        with self.assertRaises(LimitExceeded):
            auth.start("PLAIN", True, REMOTE)
        self.assertIsInstance(failure_of(auth.login("admin", "root-pw", True, REMOTE)), LimitExceeded)

    def test_nobody_can_lock_a_user_out_by_name(self) -> None:
        """Issue 11 defect 17: 50 wrong passwords for alice from 20
        connections at one address; alice's right password from an address
        that has not failed succeeds at once (the fake clock never moves),
        and a typo there costs her the base delay, not the cap."""
        auth, clock, _ = make_authenticator(base=1.0, maximum=15.0, lockout=10, address_lockout=100)
        attacker = "203.0.113.7"
        pending = [auth.login("alice", f"guess{i}", True, attacker) for i in range(50)]
        self.assertGreaterEqual(auth.throttle.failures(attacker, "alice"), 10)
        account = result_of(auth.login("alice", "wonderland", True, "198.51.100.1"))
        self.assertEqual(account.username, "alice")
        typo = auth.login("alice", "wonderlnad", True, "198.51.100.2")
        out: list[object] = []
        typo.addBoth(out.append)
        clock.advance(1.0)
        self.assertTrue(out and isinstance(out[0], Failure) and out[0].check(AuthenticationFailed), out)
        # The attacker's address itself is refused for alice now.
        self.assertIsInstance(failure_of(auth.login("alice", "wonderland", True, attacker)),
                              LimitExceeded)
        clock.advance(60)
        for d in pending:
            d.addErrback(lambda f: None)

    def test_backend_error_is_unavailable(self) -> None:
        class Broken(type(sync_checker({}))):  # type: ignore[misc]
            def stored_password(self, username: str) -> str | None:
                raise OSError("disk on fire")

        auth, clock, _ = make_authenticator(Broken({}))
        err = failure_of(auth.login("alice", "x", True, LOCAL), clock)
        self.assertIsInstance(err, AuthenticationFailed)
        self.assertEqual(err.code, "UNAVAILABLE")  # type: ignore[attr-defined]
        self.flushLoggedErrors(OSError)


class PlainTests(SynchronousTestCase):
    def test_plain_with_initial_response(self) -> None:
        auth, _clock, _ = make_authenticator()
        ex = auth.start("plain", True, REMOTE)
        res = result_of(ex.step(b"\x00alice\x00wonderland"))
        self.assertIsInstance(res, SaslSuccess)
        self.assertEqual((res.account.username, res.final), ("alice", None))
        self.assertIsInstance(failure_of(ex.step(b"again")), ProtocolError)

    def test_plain_without_initial_response(self) -> None:
        auth, _clock, _ = make_authenticator()
        ex = auth.start("PLAIN", False, LOCAL)
        self.assertEqual(result_of(ex.step(None)), SaslChallenge(b""))
        self.assertEqual(result_of(ex.step(b"alice\x00alice\x00wonderland")).account.username, "alice")

    def test_plain_authzid_other_user_refused_for_non_admin(self) -> None:
        auth, clock, _ = make_authenticator(admins=("admin",))
        err = failure_of(auth.start("PLAIN", True, LOCAL).step(b"bob\x00alice\x00wonderland"), clock)
        self.assertIsInstance(err, AuthenticationFailed)

    def test_plain_admin_may_act_as_user(self) -> None:
        auth, _clock, store = make_authenticator(admins=("admin",))
        res = result_of(auth.start("PLAIN", True, LOCAL).step(b"Bob\x00admin\x00root-pw"))
        self.assertIs(res.account, store.accounts["bob"])

    def test_login_as_another_user_logs_both_identities_and_no_password(self) -> None:
        """Issue 11 defect 21: authcid admin acting as bob is logged as both."""
        from twisted.logger import formatEvent, globalLogPublisher

        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        try:
            auth, _clock, _ = make_authenticator(admins=("admin",))
            result_of(auth.start("PLAIN", True, LOCAL).step(b"bob\x00admin\x00root-pw"))
        finally:
            globalLogPublisher.removeObserver(events.append)
        lines = [formatEvent(e) for e in events]
        self.assertIn("authenticated 'admin' as 'bob' from 127.0.0.1", lines)
        self.assertFalse([ln for ln in lines if "root-pw" in ln], lines)

    def test_plain_admin_needs_realm_permission(self) -> None:
        auth, clock, _ = make_authenticator()  # no admins
        err = failure_of(auth.start("PLAIN", True, LOCAL).step(b"bob\x00admin\x00root-pw"), clock)
        self.assertIsInstance(err, AuthenticationFailed)

    def test_plain_malformed(self) -> None:
        auth, clock, _ = make_authenticator()
        for bad in (b"", b"alice", b"\x00alice", b"\x00\x00pw", b"a\x00b\x00c\x00d", b"\x00\xff\x00pw"):
            err = failure_of(auth.start("PLAIN", True, LOCAL).step(bad), clock)
            self.assertIsInstance(err, AuthenticationFailed, bad)

    def test_plain_refused_in_plaintext_remote(self) -> None:
        auth, _clock, _ = make_authenticator()
        with self.assertRaises(PrivacyRequired):
            auth.start("PLAIN", False, REMOTE)
        with self.assertRaises(CannotDo):
            auth.start("X-UNKNOWN", True, LOCAL)

    def test_cancel(self) -> None:
        auth, _clock, _ = make_authenticator()
        ex = auth.start("PLAIN", True, LOCAL)
        result_of(ex.step(None))
        ex.cancel()
        self.assertIsInstance(failure_of(ex.step(b"\x00alice\x00wonderland")), ProtocolError)


class LoginMechanismTests(SynchronousTestCase):
    def test_login_mechanism_prompts(self) -> None:
        auth, _clock, _ = make_authenticator()
        ex = auth.start("LOGIN", True, REMOTE)
        self.assertEqual(result_of(ex.step(None)), SaslChallenge(b"Username:"))
        self.assertEqual(result_of(ex.step(b"alice")), SaslChallenge(b"Password:"))
        self.assertEqual(result_of(ex.step(b"wonderland")).account.username, "alice")

    def test_login_mechanism_initial_response_is_username(self) -> None:
        auth, clock, _ = make_authenticator()
        ex = auth.start("LOGIN", True, REMOTE)
        self.assertEqual(result_of(ex.step(b"alice")), SaslChallenge(b"Password:"))
        self.assertIsInstance(failure_of(ex.step(b"nope"), clock), AuthenticationFailed)


class CramMD5Tests(SynchronousTestCase):
    def test_cram_md5_exchange(self) -> None:
        auth, _clock, _ = make_authenticator(CLEAR, hostname="mail.example")
        ex = auth.start("CRAM-MD5", False, REMOTE)
        challenge = result_of(ex.step(None)).data
        self.assertRegex(challenge, rb"^<\d+\.\d+@mail\.example>$")
        digest = hmac.new(b"wonderland", challenge, hashlib.md5).hexdigest().encode()
        self.assertEqual(result_of(ex.step(b"alice " + digest)).account.username, "alice")

    def test_rfc2195_digest(self) -> None:
        """RFC 2195 §2's example: tim / tanstaaftanstaaf."""
        from mailframe.auth.credentials import CramMD5Credentials
        creds = CramMD5Credentials()
        creds.challenge = b"<1896.697170952@postoffice.reston.mci.net>"
        creds.set_response("tim", b"b913a602c7eda7a495b4e6e7334d3890")
        self.assertTrue(creds.checkPassword(b"tanstaaftanstaaf"))
        self.assertFalse(creds.checkPassword(b"tanstaaf"))

    def test_cram_md5_hashed_password_cannot_work(self) -> None:
        auth, clock, _ = make_authenticator(only_universal_mechanisms=False)
        ex = auth.start("CRAM-MD5", False, REMOTE)
        challenge = result_of(ex.step(None)).data
        digest = hmac.new(b"secret", challenge, hashlib.md5).hexdigest().encode()
        self.assertIsInstance(failure_of(ex.step(b"bob " + digest), clock), AuthenticationFailed)

    def test_cram_md5_refuses_initial_response_and_garbage(self) -> None:
        auth, clock, _ = make_authenticator(CLEAR)
        self.assertIsInstance(failure_of(auth.start("CRAM-MD5", True, LOCAL).step(b"x"), clock),
                              AuthenticationFailed)
        ex = auth.start("CRAM-MD5", True, LOCAL)
        result_of(ex.step(None))
        self.assertIsInstance(failure_of(ex.step(b"alice zz"), clock), AuthenticationFailed)


RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC7677_SNONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"


class ScramTests(SynchronousTestCase):
    def scram_auth(self) -> tuple[object, object]:
        checker = sync_checker({"user": "{SCRAM-SHA-256}" + derive_secrets("pencil", RFC7677_SALT).dovecot(),
                                "alice": "wonderland"})
        auth, clock, _ = make_authenticator(checker, nonce_factory=lambda: RFC7677_SNONCE)
        return auth, clock

    def test_rfc7677_vector(self) -> None:
        """RFC 7677 §3, byte for byte."""
        auth, _clock = self.scram_auth()
        ex = auth.start("SCRAM-SHA-256", False, REMOTE)  # not plaintext: allowed unencrypted
        self.assertEqual(result_of(ex.step(None)), SaslChallenge(b""))
        first = result_of(ex.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
        self.assertEqual(first.data, b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                     b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        done = result_of(ex.step(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                 b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
        self.assertIsInstance(done, SaslSuccess)
        self.assertEqual(done.final, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        self.assertEqual(done.account.username, "user")

    def test_wrong_proof_fails(self) -> None:
        auth, clock = self.scram_auth()
        ex = auth.start("SCRAM-SHA-256", False, REMOTE)
        result_of(ex.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
        bad = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=" + \
            base64.b64encode(bytes(32))
        self.assertIsInstance(failure_of(ex.step(bad), clock), AuthenticationFailed)

    def test_unknown_user_gets_stable_fake_salt(self) -> None:
        auth, clock = self.scram_auth()
        salts = []
        for _ in range(2):
            ex = auth.start("SCRAM-SHA-256", False, REMOTE)
            first = result_of(ex.step(b"n,,n=ghost,r=abc")).data
            salts.append(first.split(b",")[1])
        self.assertEqual(salts[0], salts[1])

    def test_plaintext_stored_password_works_with_scram(self) -> None:
        auth, _clock = self.scram_auth()
        ex = auth.start("SCRAM-SHA-256", False, REMOTE)
        first = result_of(ex.step(b"n,,n=alice,r=cnonce")).data.decode()
        attrs = dict(kv.split("=", 1) for kv in first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", b"wonderland", base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        without = f"c=biws,r={attrs['r']}"
        auth_msg = f"n=alice,r=cnonce,{first},{without}".encode()
        sig = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig, strict=True))).decode()
        done = result_of(ex.step(f"{without},p={proof}".encode()))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.assertEqual(done.final, b"v=" + base64.b64encode(
            hmac.new(server_key, auth_msg, hashlib.sha256).digest()))

    def test_malformed_scram(self) -> None:
        auth, clock = self.scram_auth()
        for first in (b"p=tls-unique,,n=user,r=x", b"n,,r=x,n=user", b"n,,n=us=er,r=x",
                      b"n,,n=user,r=x,m=ext", b"garbage", b"\xff\xfe", b"n,,n=user,r="):
            ex = auth.start("SCRAM-SHA-256", True, LOCAL)
            self.assertIsInstance(failure_of(ex.step(first), clock), AuthenticationFailed, first)
        for final in (b"c=biws,r=WRONG,p=AAAA", b"c=eSws,r=x" + RFC7677_SNONCE.encode() + b",p=AAAA",
                      b"c=biws", b"c=biws,r=x" + RFC7677_SNONCE.encode() + b",p=!!"):
            ex = auth.start("SCRAM-SHA-256", True, LOCAL)
            result_of(ex.step(b"n,,n=user,r=x"))
            self.assertIsInstance(failure_of(ex.step(final), clock), AuthenticationFailed, final)

    def test_scram_not_offered_without_secret_source(self) -> None:
        from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
        portal = Portal(MailRealm(AccountsStore()), [InMemoryUsernamePasswordDatabaseDontUse(a=b"b")])
        from twisted.internet.task import Clock

        from mailframe.auth.authenticator import Authenticator
        auth = Authenticator(portal, clock=Clock())
        self.assertEqual(auth.mechanisms(True, LOCAL), ["PLAIN", "LOGIN", "CRAM-MD5"])


@pytest.mark.parametrize(("peer", "local"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("", True), ("/run/mailframe.sock", True), ("10.0.0.1", False), ("2001:db8::1", False),
    ("::ffff:192.0.2.1", False), ("example.org", False),
])
def test_is_local_peer(peer: str, local: bool) -> None:
    assert is_local_peer(peer) is local


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "a\\b", "a%u", "tab\there", "nul\x00", "x" * 256,
                                  "sp ace"])
def test_normalize_username_refuses(name: str) -> None:
    with pytest.raises(ValueError):
        normalize_username(name)


def test_normalize_username_canonical() -> None:
    assert normalize_username("Alice@Example.ORG") == "alice@example.org"
    assert normalize_username("e\u0301") == "\u00e9"
    assert normalize_username(b"Bob") == "bob"
    assert normalize_username("Bob", lowercase=False) == "Bob"


class TwistedCheckerTests(SynchronousTestCase):
    """A user's own twisted.cred checker plugs in unchanged."""

    def test_file_password_db(self) -> None:
        from twisted.cred.checkers import FilePasswordDB
        from twisted.internet.task import Clock

        from mailframe.auth.authenticator import Authenticator
        from mailframe.auth.throttle import LoginThrottle

        path = temp_path(self)
        with open(path, "wb") as f:
            f.write(b"alice:wonderland\n")
        clock = Clock()
        auth = Authenticator(Portal(MailRealm(AccountsStore()), [FilePasswordDB(path, cache=True)]),
                             throttle=LoginThrottle(clock, base=0.1))
        self.assertEqual(auth.mechanisms(True, LOCAL), ["PLAIN", "LOGIN", "CRAM-MD5"])
        self.assertEqual(result_of(auth.login("Alice", "wonderland", True, LOCAL)).username, "alice")
        ex = auth.start("PLAIN", True, LOCAL)
        self.assertEqual(result_of(ex.step(b"\x00alice\x00wonderland")).account.username, "alice")
        ex = auth.start("CRAM-MD5", True, LOCAL)
        challenge = result_of(ex.step(None)).data
        digest = hmac.new(b"wonderland", challenge, hashlib.md5).hexdigest().encode()
        self.assertEqual(result_of(ex.step(b"alice " + digest)).account.username, "alice")
        self.assertIsInstance(failure_of(auth.login("alice", "nope", True, LOCAL), clock),
                              AuthenticationFailed)
