"""The HTTP checker against a real local twisted.web server (HTTP and HTTPS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.ssl import Certificate, trustRootFromCertificates
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.credentials import UsernamePassword
from mailframe.auth.http_checker import AuthServiceUnavailable, HTTPChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import LoginThrottle
from mailframe.errors import AuthenticationFailed
from mailframe.server.tls import CertificateAuthority, ReloadableContextFactory
from tests.auth.helpers import AccountsStore, temp_path

USERS = {"alice": "wonderland"}


class AuthService(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.pending: list[Any] = []

    def render_POST(self, request: Any) -> Any:
        body = json.loads(request.content.read())
        self.requests.append(body)
        user = body.get("username")
        if user == "slow":
            self.pending.append(request)
            return NOT_DONE_YET
        if user == "broken":
            request.setResponseCode(500)
            return b"oops"
        if user == "garbage":
            return b"not json"
        if user == "forbidden":
            request.setResponseCode(403)
            return b""
        if body["action"] == "exists":
            ok = user in USERS
        else:
            ok = USERS.get(user) == body.get("password")
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"ok": ok}).encode()


class HTTPCheckerTests(TestCase):
    timeout = 20

    @inlineCallbacks
    def setUp(self):  # type: ignore[no-untyped-def]
        self.service = AuthService()
        self.port = yield reactor.listenTCP(0, Site(self.service), interface="127.0.0.1")
        self.addCleanup(self._stop)
        self.url = f"http://127.0.0.1:{self.port.getHost().port}/auth"

    def _stop(self) -> Any:
        for request in self.service.pending:
            request.transport.abortConnection()
        return self.port.stopListening()

    def checker(self, url: str | None = None, **kw: Any) -> HTTPChecker:
        c = HTTPChecker(url or self.url, **kw)
        self.addCleanup(c.close)
        return c

    @inlineCallbacks
    def test_accept_reject_and_exists(self):  # type: ignore[no-untyped-def]
        c = self.checker()
        self.assertEqual((yield c.requestAvatarId(UsernamePassword("Alice", b"wonderland"))), "alice")
        with self.assertRaises(UnauthorizedLogin):
            yield c.requestAvatarId(UsernamePassword("alice", b"nope"))
        with self.assertRaises(UnauthorizedLogin):
            yield c.requestAvatarId(UsernamePassword("forbidden", b"x"))
        self.assertTrue((yield c.exists("alice")))
        self.assertFalse((yield c.exists("bob")))
        self.assertEqual(self.service.requests[0], {"action": "authenticate", "username": "alice",
                                                    "password": "wonderland", "service": "imap"})
        self.assertEqual(self.service.requests[-1], {"action": "exists", "username": "bob",
                                                     "service": "imap"})

    @inlineCallbacks
    def test_cache_positive_and_negative(self):  # type: ignore[no-untyped-def]
        c = self.checker(positive_ttl=60, negative_ttl=60)
        for _ in range(3):
            yield c.requestAvatarId(UsernamePassword("alice", b"wonderland"))
            with self.assertRaises(UnauthorizedLogin):
                yield c.requestAvatarId(UsernamePassword("alice", b"bad"))
        self.assertEqual(len(self.service.requests), 2)
        uncached = self.checker(positive_ttl=0, negative_ttl=0)
        yield uncached.requestAvatarId(UsernamePassword("alice", b"wonderland"))
        yield uncached.requestAvatarId(UsernamePassword("alice", b"wonderland"))
        self.assertEqual(len(self.service.requests), 4)

    @inlineCallbacks
    def test_concurrent_identical_questions_share_a_request(self):  # type: ignore[no-untyped-def]
        from twisted.internet.defer import gatherResults
        c = self.checker(positive_ttl=0, negative_ttl=0)
        names = yield gatherResults([c.requestAvatarId(UsernamePassword("alice", b"wonderland"))
                                     for _ in range(5)])
        self.assertEqual(names, ["alice"] * 5)
        self.assertEqual(len(self.service.requests), 1)

    @inlineCallbacks
    def test_shared_failure_reaches_every_waiter(self):  # type: ignore[no-untyped-def]
        from twisted.internet.defer import DeferredList
        c = self.checker(timeout=0.2)
        results = yield DeferredList([c.requestAvatarId(UsernamePassword("slow", b"x"))
                                      for _ in range(3)], consumeErrors=True)
        self.assertEqual([ok for ok, _ in results], [False] * 3)
        for _, failure in results:
            self.assertTrue(failure.check(AuthServiceUnavailable))
        self.assertEqual(len(self.service.requests), 1)

    @inlineCallbacks
    def test_timeout(self):  # type: ignore[no-untyped-def]
        c = self.checker(timeout=0.2)
        with self.assertRaises(AuthServiceUnavailable):
            yield c.requestAvatarId(UsernamePassword("slow", b"x"))
        # the checker gave up on its own: the service never answered
        [request] = self.service.pending
        self.assertFalse(request.finished)

    @inlineCallbacks
    def test_server_errors_are_unavailable(self):  # type: ignore[no-untyped-def]
        c = self.checker()
        for user in ("broken", "garbage"):
            with self.assertRaises(AuthServiceUnavailable):
                yield c.requestAvatarId(UsernamePassword(user, b"x"))

    @inlineCallbacks
    def test_down_server(self):  # type: ignore[no-untyped-def]
        port = yield reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
        number = port.getHost().port
        yield port.stopListening()
        c = self.checker(f"http://127.0.0.1:{number}/auth", timeout=2)
        with self.assertRaises(AuthServiceUnavailable):
            yield c.requestAvatarId(UsernamePassword("alice", b"wonderland"))

    @inlineCallbacks
    def test_authenticator_answers_no_unavailable(self):  # type: ignore[no-untyped-def]
        c = self.checker(timeout=0.2)
        auth = Authenticator(Portal(MailRealm(AccountsStore()), [c]),
                             throttle=LoginThrottle(reactor, base=0.01))
        self.assertEqual(auth.mechanisms(True, "127.0.0.1"), ["PLAIN", "LOGIN"])
        account = yield auth.login("alice", "wonderland", True, "127.0.0.1")
        self.assertEqual(account.username, "alice")
        with self.assertRaises(AuthenticationFailed) as cm:
            yield auth.login("slow", "x", True, "127.0.0.1")
        self.assertEqual(cm.exception.code, "UNAVAILABLE")
        with self.assertRaises(AuthenticationFailed) as cm2:
            yield auth.login("alice", "bad", True, "127.0.0.1")
        self.assertEqual(cm2.exception.code, "AUTHENTICATIONFAILED")
        self.flushLoggedErrors(AuthServiceUnavailable)

    @inlineCallbacks
    def test_https_verified(self):  # type: ignore[no-untyped-def]
        ca = CertificateAuthority()
        cert, key = ca.issue(temp_path(self), hostnames=("localhost",))
        tls_port = yield reactor.listenSSL(0, Site(self.service), ReloadableContextFactory(cert, key),
                                           interface="127.0.0.1")
        self.addCleanup(tls_port.stopListening)
        url = f"https://localhost:{tls_port.getHost().port}/auth"
        trusted = self.checker(url, trust_root=trustRootFromCertificates(
            [Certificate.loadPEM(ca.cert_pem)]))
        self.assertEqual((yield trusted.requestAvatarId(UsernamePassword("alice", b"wonderland"))),
                         "alice")
        other = CertificateAuthority("someone else")
        untrusted = self.checker(url, timeout=5, trust_root=trustRootFromCertificates(
            [Certificate.loadPEM(other.cert_pem)]))
        with self.assertRaises(AuthServiceUnavailable):
            yield untrusted.requestAvatarId(UsernamePassword("alice", b"wonderland"))
        self.assertEqual(len(self.service.requests), 1)
        Path(cert).unlink()
