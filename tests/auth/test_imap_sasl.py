"""Every SASL mechanism and the plaintext policy through the real IMAP
adapter over real sockets, driven by Python's imaplib (in a thread)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import imaplib
import secrets
import socket
import ssl
from collections.abc import Callable
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.schemes import hash_password
from mailframe.auth.throttle import ConnectionLimiter, LoginThrottle
from mailframe.imap.session import ServerConfig
from mailframe.server.protocol import IMAPFactory, ServerContext
from mailframe.server.tls import CertificateAuthority, ReloadableContextFactory, tls_server_endpoint
from mailframe.store.memory import MemoryStore
from tests.auth.helpers import temp_path

USERS = {"alice": "wonderland", "bob": hash_password("builder", "SCRAM-SHA-256"),
         "carol": hash_password("c4rol", "SHA512-CRYPT")}


def scram_client(user: str, password: str) -> Callable[[bytes], bytes | None]:
    """An imaplib authobject speaking SCRAM-SHA-256 (RFC 5802 §3) and
    checking the server's signature."""
    cnonce = secrets.token_urlsafe(12)
    bare = f"n={user},r={cnonce}"
    state: dict[str, Any] = {"step": 0}

    def step(challenge: bytes) -> bytes | None:
        state["step"] += 1
        if state["step"] == 1:
            return b"n,," + bare.encode()
        if state["step"] == 2:
            attrs = dict(kv.split("=", 1) for kv in challenge.decode().split(","))
            assert attrs["r"].startswith(cnonce)
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                         int(attrs["i"]))
            ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            without = f"c=biws,r={attrs['r']}"
            msg = f"{bare},{challenge.decode()},{without}".encode()
            sig = hmac.new(hashlib.sha256(ck).digest(), msg, hashlib.sha256).digest()
            sk = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            state["expect"] = b"v=" + base64.b64encode(hmac.new(sk, msg, hashlib.sha256).digest())
            proof = base64.b64encode(bytes(a ^ b for a, b in zip(ck, sig, strict=True))).decode()
            return f"{without},p={proof}".encode()
        state["verified"] = challenge == state["expect"]
        return b"" if state["verified"] else None

    step.state = state  # type: ignore[attr-defined]
    return step


class ServerCase(TestCase):
    """An in-process IMAP server (plain and implicit-TLS listeners, STARTTLS)."""

    timeout = 60

    @inlineCallbacks
    def setUp(self):  # type: ignore[no-untyped-def]
        ca = CertificateAuthority()
        base = temp_path(self)
        cert, key = ca.issue(base)
        self.ca_pem = ca.cert_pem.decode()
        self.tls = ReloadableContextFactory(cert, key)
        self.auth = Authenticator(Portal(MailRealm(MemoryStore()), [InMemoryChecker(USERS)]),
                                  throttle=LoginThrottle(reactor, base=0.05, maximum=0.1),
                                  allow_local_plaintext=False, only_universal_mechanisms=False)
        self.limiter = ConnectionLimiter(per_ip=3, per_user=None, preauth_per_ip=3)
        context = ServerContext(self.auth, ServerConfig(), self.tls, self.limiter)
        self.port = yield reactor.listenTCP(0, IMAPFactory(context), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.tls_port = yield tls_server_endpoint(reactor, 0, self.tls, "127.0.0.1").listen(
            IMAPFactory(context))
        self.addCleanup(self.tls_port.stopListening)

    def ctx(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem)

    def client(self, tls: bool = False) -> imaplib.IMAP4:
        if tls:
            return imaplib.IMAP4_SSL("localhost", self.tls_port.getHost().port, ssl_context=self.ctx(),
                                     timeout=20)
        return imaplib.IMAP4("127.0.0.1", self.port.getHost().port, timeout=20)

    def in_thread(self, f: Callable[[], Any]) -> Any:
        return deferToThread(f)


class IMAPSaslTests(ServerCase):

    @inlineCallbacks
    def test_plaintext_policy_then_starttls(self):  # type: ignore[no-untyped-def]
        def run() -> tuple[Any, ...]:
            c = self.client()
            before = c.capabilities
            try:
                c.login("alice", "wonderland")
                refused = ""
            except imaplib.IMAP4.error as e:
                refused = str(e)
            c.starttls(self.ctx())
            after = c.capabilities
            typ, _ = c.login("alice", "wonderland")
            c.logout()
            return before, refused, after, typ

        before, refused, after, typ = yield self.in_thread(run)
        self.assertIn("LOGINDISABLED", before)
        self.assertNotIn("AUTH=PLAIN", before)
        self.assertIn("AUTH=SCRAM-SHA-256", before)
        self.assertIn("STARTTLS", before)
        self.assertIn("PRIVACYREQUIRED", refused)
        self.assertNotIn("LOGINDISABLED", after)
        self.assertIn("AUTH=PLAIN", after)
        self.assertEqual(typ, "OK")

    @inlineCallbacks
    def test_each_mechanism_over_implicit_tls(self):  # type: ignore[no-untyped-def]
        def run() -> list[str]:
            results = []
            c = self.client(tls=True)
            results.append(c.authenticate("PLAIN", lambda _: b"\x00alice\x00wonderland")[0])
            c.logout()
            c = self.client(tls=True)
            answers = iter([b"carol", b"c4rol"])
            results.append(c.authenticate("LOGIN", lambda _: next(answers))[0])
            c.logout()
            c = self.client(tls=True)
            results.append(c.login_cram_md5("alice", "wonderland")[0])
            c.logout()
            c = self.client(tls=True)
            scram = scram_client("bob", "builder")
            results.append(c.authenticate("SCRAM-SHA-256", scram)[0])
            results.append(str(scram.state["verified"]))  # type: ignore[attr-defined]
            c.select("INBOX")
            c.logout()
            return results

        self.assertEqual((yield self.in_thread(run)), ["OK", "OK", "OK", "OK", "True"])

    @inlineCallbacks
    def test_scram_without_tls_is_allowed(self):  # type: ignore[no-untyped-def]
        def run() -> str:
            c = self.client()
            typ = c.authenticate("SCRAM-SHA-256", scram_client("bob", "builder"))[0]
            c.logout()
            return typ

        self.assertEqual((yield self.in_thread(run)), "OK")

    @inlineCallbacks
    def test_failures_cancel_and_connection_lives(self):  # type: ignore[no-untyped-def]
        def run() -> list[str]:
            out = []
            c = self.client(tls=True)
            for attempt in (lambda: c.login("alice", "wrong"),
                            lambda: c.authenticate("SCRAM-SHA-256", scram_client("bob", "wrong")),
                            lambda: c.authenticate("PLAIN", lambda _: None)):
                try:
                    attempt()
                    out.append("OK?")
                except imaplib.IMAP4.error as e:
                    out.append(str(e))
            out.append(c.noop()[0])
            return out

        out = yield self.in_thread(run)
        self.assertIn("[AUTHENTICATIONFAILED]", out[0])
        self.assertIn("[AUTHENTICATIONFAILED]", out[1])
        self.assertIn("cancel", out[2].lower())
        self.assertEqual(out[3], "OK")

    @inlineCallbacks
    def test_idle_prelogin_connections_make_way_for_a_new_client(self):  # type: ignore[no-untyped-def]
        """Issue 11 defect 18: silent pre-login connections from one address
        do not lock the next client from it out; the oldest idle one is
        closed to make room, and logged-in sessions are not touched."""
        def run() -> tuple[list[bytes], str, str]:
            logged = self.client(tls=True)
            logged.login("alice", "wonderland")
            silent = [socket.create_connection(("127.0.0.1", self.port.getHost().port), timeout=10)
                      for _ in range(3)]
            for s in silent:
                s.recv(500)  # the greeting: connected, pre-login, idle
            newcomer = self.client(tls=True)  # the 4th pre-login connection from 127.0.0.1
            typ = newcomer.login("carol", "c4rol")[0]
            newcomer.logout()
            ends = []
            for s in silent[:1]:
                data = b""
                while chunk := s.recv(500):
                    data += chunk
                ends.append(data)
            for s in silent:
                s.close()
            still = logged.noop()[0]
            logged.logout()
            return ends, typ, still

        ends, typ, still = yield self.in_thread(run)
        self.assertEqual(typ, "OK")
        self.assertEqual(still, "OK")
        # The oldest was closed to make room (once the newcomer logged in,
        # the others kept their slots).
        self.assertTrue(ends[0].startswith(b"* BYE Too many connections"), ends)

    @inlineCallbacks
    def test_busy_prelogin_connections_refuse_a_new_one(self):  # type: ignore[no-untyped-def]
        """With every pre-login slot busy (here: waiting out a failed-login
        delay), a new connection is refused, and logging in moves a
        connection out of the pre-login count."""
        from twisted.internet.task import Clock, deferLater

        clock = Clock()  # failed-login delays that end only when the test says so
        self.auth.throttle.clock = clock
        self.auth.throttle.base = self.auth.throttle.maximum = 60.0
        port = self.port.getHost().port
        import time

        def run() -> bytes:
            busy = []
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.recv(500)
                busy.append(s)
            # Busy: a wrong CRAM-MD5 answer, now waiting out its delay.
            wrong = base64.b64encode(b"alice " + b"0" * 32) + b"\r\n"
            for s in busy:
                s.sendall(b"x AUTHENTICATE CRAM-MD5\r\n")
                s.recv(500)  # "+ challenge"
                s.sendall(wrong)
            while self.auth.throttle.address_failures("127.0.0.1") < 3:
                time.sleep(0.01)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                refused = s.recv(200)
            for s in busy:
                s.close()
            return refused

        refused = yield self.in_thread(run)
        clock.advance(60)
        while self.limiter.connections("127.0.0.1"):
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertTrue(refused.startswith(b"* BYE Too many connections"), refused)


class InjectionAndDelayTests(ServerCase):
    """STARTTLS command injection (CVE-2011-0411) and failed-login delays
    that hold back only the failing connection."""

    @inlineCallbacks
    def test_starttls_injection_is_discarded(self):  # type: ignore[no-untyped-def]
        def run() -> list[bytes]:
            with socket.create_connection(("127.0.0.1", self.port.getHost().port), timeout=10) as raw:
                f = raw.makefile("rb")
                f.readline()  # greeting
                raw.sendall(b"a STARTTLS\r\nb LOGIN alice wonderland\r\nc CAPABILITY\r\n")
                first = f.readline()
                with self.ctx().wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"d NOOP\r\n")
                    lines = [first]
                    buf = b""
                    while not buf.endswith(b"\r\n") or b"d OK" not in buf:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    lines += buf.split(b"\r\n")
                    return lines

        lines = yield self.in_thread(run)
        self.assertTrue(lines[0].startswith(b"a OK"), lines)
        self.assertFalse([ln for ln in lines if ln.startswith((b"b ", b"c ", b"* CAPABILITY"))], lines)
        self.assertTrue([ln for ln in lines if ln.startswith(b"d OK")], lines)

    @inlineCallbacks
    def test_failed_login_delay_does_not_hold_others(self):  # type: ignore[no-untyped-def]
        """The delay before a failed LOGIN's NO is a timer, not a pause of
        the server: while one client waits out its delay, another logs in
        start to finish, and only then does the first get its NO."""
        import select

        from twisted.internet.task import deferLater

        self.auth.throttle.base = self.auth.throttle.maximum = 5.0
        failing = yield self.in_thread(lambda: self.client(tls=True))
        yield self.in_thread(lambda: failing.send(b"f1 LOGIN alice wrong\r\n"))
        while not self.auth.throttle._by_peer:  # the failure is counted: the delay has begun
            yield deferLater(reactor, 0.01, lambda: None)

        def succeeding() -> None:
            c = self.client(tls=True)
            c.login("carol", "c4rol")
            c.logout()

        yield self.in_thread(succeeding)
        readable, _, _ = select.select([failing.sock], [], [], 0)
        self.assertEqual((readable, failing.sock.pending()), ([], 0),  # type: ignore[attr-defined]
                         "the failed login was answered before the other client was served")
        answer = yield self.in_thread(failing.readline)
        self.assertTrue(answer.startswith(b"f1 NO [AUTHENTICATIONFAILED]"), answer)
        yield self.in_thread(failing.shutdown)
