"""An in-process submission server wired like ``twistd mailframe`` does it
(shared Authenticator, Delivery, OutboundQueue), a smarthost sink with its
own CA-signed certificate, and a DKIM key whose record the tests serve."""

from __future__ import annotations

import base64
import shutil
import ssl as stdlib_ssl
import tempfile
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import LoginThrottle
from mailframe.server.tls import CertificateAuthority, ReloadableContextFactory, tls_server_endpoint
from mailframe.smtp.delivery import Delivery
from mailframe.smtp.dkim_sign import DkimKey, DkimSigner
from mailframe.smtp.outbound import RelayConfig, RelayTransport
from mailframe.smtp.queue import OutboundQueue
from mailframe.smtp.sending import _trust_root
from mailframe.smtp.submission import SubmissionFactory
from mailframe.store.memory import MemoryStore
from tests.smtp._sink import Sink

USERS = {"alice": "secret", "bob": "hunter2"}
RELAY_USER = ("relayuser", "relaypass")

_KEY: tuple[bytes, bytes] | None = None


def dkim_key() -> tuple[bytes, bytes]:
    """(private PEM, DNS TXT record) of one RSA key for the whole run."""
    global _KEY
    if _KEY is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        _KEY = pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    return _KEY


def dkim_dns(name: bytes, timeout: int = 5) -> bytes | None:
    """dkimpy's dnsfunc: the test key's record for sel._domainkey.example.org."""
    if name.rstrip(b".") == b"sel._domainkey.example.org":
        return dkim_key()[1]
    return None


class SubmissionCase(unittest.TestCase):
    """Submission on STARTTLS and implicit-TLS listeners; a smarthost sink."""

    timeout = 60
    allow_local_plaintext = True
    sink_up = True
    retry = 0.05
    lifetime = 3600.0
    limiter: Any = None

    def setUp(self) -> Any:
        self.dir = tempfile.mkdtemp(prefix="mailframe-sub-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        ca = CertificateAuthority()
        self.ca_pem = ca.cert_pem.decode()
        self.ca_file = ca.write_ca(self.dir + "/ca.pem")
        cert, key = ca.issue(self.dir + "/srv")
        self.tls = ReloadableContextFactory(cert, key)
        self.store = MemoryStore()
        checker = InMemoryChecker(USERS)
        self.auth = Authenticator(Portal(MailRealm(self.store), [checker]),
                                  throttle=LoginThrottle(reactor, base=0.01, maximum=0.02),
                                  allow_local_plaintext=self.allow_local_plaintext,
                                  hostname="mail.example.org", only_universal_mechanisms=False)
        self.delivery = Delivery(self.store, checker)
        # the smarthost
        self.sink = Sink(tls=self.tls, credentials=RELAY_USER)
        self.sink_port = self.sink.listen() if self.sink_up else None
        if self.sink_port is not None:
            self.addCleanup(self.sink_port.stopListening)
            port = self.sink_port.getHost().port
        else:
            from tests.support.server import free_port

            port = free_port()
        self.relay_port = port
        transport = RelayTransport(reactor, RelayConfig("localhost", port, *RELAY_USER),
                                   "mail.example.org", trust_root=_trust_root(self.ca_file))
        self.bounces: list[tuple[str, bytes]] = []

        def bounce(user: str, message: bytes) -> Deferred[int]:
            self.bounces.append((user, message))
            return self.delivery.deliver(user, message)

        self.queue = OutboundQueue(self.dir + "/queue", transport, bounce=bounce,
                                   hostname="mail.example.org", retry_initial=self.retry,
                                   retry_max=self.retry, lifetime=self.lifetime, poll=0.1)
        self.queue.startService()  # type: ignore[no-untyped-call]
        self.addCleanup(self.queue.stopService)
        pem, _record = dkim_key()
        signer = DkimSigner([DkimKey("example.org", "sel", pem)])

        self.sessions: list[Any] = []
        sessions = self.sessions

        class Factory(SubmissionFactory):
            def buildProtocol(self, addr: Any) -> Any:
                p = SubmissionFactory.buildProtocol(self, addr)
                sessions.append(p)
                return p

        def factory(tls: Any) -> SubmissionFactory:
            return Factory(self.delivery, ["example.org"], self.auth, self.queue,
                           tls=tls, hostname="mail.example.org", signer=signer,
                           limiter=self.limiter)

        self.addCleanup(self.settle)

        self.port = reactor.listenTCP(0, factory(self.tls), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.portno = self.port.getHost().port
        d = tls_server_endpoint(reactor, 0, self.tls, "127.0.0.1").listen(factory(None))

        def listening(p: Any) -> None:
            self.tls_port = p
            self.tls_portno = p.getHost().port
            self.addCleanup(p.stopListening)

        return d.addCallback(listening)

    def client_context(self) -> stdlib_ssl.SSLContext:
        return stdlib_ssl.create_default_context(cadata=self.ca_pem)

    def settle(self) -> Deferred[None]:
        """Cleanup: the queue has finished and every session is closed."""
        return self.wait_until(lambda: self.queue.idle() and not any(
            getattr(p.transport, "connected", 0) for p in self.sessions))

    def wait_until(self, condition: Any) -> Deferred[None]:
        d: Deferred[None] = Deferred()

        def check() -> None:
            if condition():
                d.callback(None)
            else:
                reactor.callLater(0.02, check)

        check()
        return d

    def queue_empty(self) -> Deferred[None]:
        """Fires once the queue has nothing left (delivered or bounced)."""
        d: Deferred[None] = Deferred()

        def check() -> None:
            if self.queue.idle():
                d.callback(None)
            else:
                reactor.callLater(0.02, check)

        check()
        return d
