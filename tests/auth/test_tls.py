"""TLS helpers over real sockets: IMAPS-style listeners, STARTTLS, reload, self-signed."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import stat
import warnings
from pathlib import Path

from cryptography import x509
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import globalLogPublisher
from twisted.protocols.wire import Echo
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailframe.server.tls import (
    CertificateAuthority,
    ReloadableContextFactory,
    TLSConfigError,
    build_context,
    channel_bindings,
    ensure_certificate,
    install_sighup_reload,
    server_endpoint,
    tls_server_endpoint,
)
from tests.auth.helpers import temp_path


def client_context(ca_path: str, **kw: object) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_path)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def tls_roundtrip(port: int, ctx: ssl.SSLContext, payload: bytes = b"ping") -> tuple[bytes, str, int]:
    """Connect, verify, echo: (echoed bytes, TLS version, leaf serial)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(payload)
            data = s.recv(100)
            der = s.getpeercert(binary_form=True)
            assert der is not None
            return data, s.version() or "", x509.load_der_x509_certificate(der).serial_number


class ImplicitTLSTests(TestCase):
    def setUp(self) -> None:
        self.dir = Path(temp_path(self))
        self.ca = CertificateAuthority()
        self.ca_path = self.ca.write_ca(str(self.dir.parent / f"{self.dir.name}-ca.pem"))
        self.cert, self.key = self.ca.issue(str(self.dir))
        self.factory = ReloadableContextFactory(self.cert, self.key)

    @inlineCallbacks
    def listen(self):  # type: ignore[no-untyped-def]
        ep = tls_server_endpoint(reactor, 0, self.factory, interface="127.0.0.1")
        port = yield ep.listen(Factory.forProtocol(Echo))
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @inlineCallbacks
    def test_verified_handshake_tls12_minimum(self):  # type: ignore[no-untyped-def]
        port = yield self.listen()
        data, version, _ = yield deferToThread(tls_roundtrip, port, client_context(self.ca_path))
        self.assertEqual(data, b"ping")
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        data, version, _ = yield deferToThread(
            tls_roundtrip, port, client_context(self.ca_path, maximum_version=ssl.TLSVersion.TLSv1_2))
        self.assertEqual((data, version), (b"ping", "TLSv1.2"))

    @inlineCallbacks
    def test_old_protocols_refused(self):  # type: ignore[no-untyped-def]
        port = yield self.listen()
        ctx = client_context(self.ca_path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, OSError)):
            yield deferToThread(tls_roundtrip, port, ctx)

    @inlineCallbacks
    def test_wrong_hostname_is_rejected_by_verifying_client(self):  # type: ignore[no-untyped-def]
        port = yield self.listen()

        def connect() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                client_context(self.ca_path).wrap_socket(raw, server_hostname="imap.example.org")

        with self.assertRaises(ssl.SSLCertVerificationError):
            yield deferToThread(connect)

    @inlineCallbacks
    def test_reload_keeps_open_connections(self):  # type: ignore[no-untyped-def]
        port = yield self.listen()
        first = yield deferToThread(tls_roundtrip, port, client_context(self.ca_path))

        # A connection that stays open across the reload.
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        held = client_context(self.ca_path).wrap_socket(raw, server_hostname="localhost",
                                                        do_handshake_on_connect=False)
        self.addCleanup(held.close)
        yield deferToThread(held.do_handshake)

        self.ca.issue(str(self.dir))  # new cert and key over the old files
        restore = install_sighup_reload([self.factory])
        self.addCleanup(restore)
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if self.factory.generation == 2:
                break
            yield deferLater(reactor, 0.02, lambda: None)
        self.assertEqual(self.factory.generation, 2)

        second = yield deferToThread(tls_roundtrip, port, client_context(self.ca_path))
        self.assertNotEqual(first[2], second[2])

        def use_held() -> bytes:
            held.sendall(b"still here")
            return held.recv(100)

        self.assertEqual((yield deferToThread(use_held)), b"still here")

    @inlineCallbacks
    def test_twisted_client_checks_identity_with_service_identity(self):  # type: ignore[no-untyped-def]
        from twisted.internet.endpoints import SSL4ClientEndpoint, connectProtocol
        from twisted.internet.ssl import Certificate, optionsForClientTLS

        port = yield self.listen()
        root = Certificate.loadPEM(self.ca.cert_pem)

        class Client(Protocol):
            def __init__(self) -> None:
                self.got: Deferred[bytes] = Deferred()

            def connectionMade(self) -> None:
                self.transport.write(b"ping")  # type: ignore[union-attr]

            def dataReceived(self, data: bytes) -> None:
                self.got.callback(data)
                self.transport.loseConnection()  # type: ignore[union-attr]

            def connectionLost(self, reason: object = None) -> None:
                if not self.got.called:
                    self.got.errback(reason)  # type: ignore[arg-type]

        for host, ok in (("localhost", True), ("imap.example.org", False)):
            ep = SSL4ClientEndpoint(reactor, "127.0.0.1", port, optionsForClientTLS(host, trustRoot=root))
            client = yield connectProtocol(ep, Client())
            if ok:
                self.assertEqual((yield client.got), b"ping")
            else:
                from service_identity import VerificationError
                with self.assertRaises((SSL.Error, VerificationError)):
                    yield client.got

    def test_failed_reload_keeps_previous(self) -> None:
        before = self.factory.getContext()
        Path(self.key).write_text("not a key")
        self.assertFalse(self.factory.reload())
        self.assertIs(self.factory.getContext(), before)
        self.assertEqual(self.factory.generation, 1)

    @inlineCallbacks
    def test_server_endpoint_string(self):  # type: ignore[no-untyped-def]
        desc = f"ssl:0:privateKey={self.key}:certKey={self.cert}:interface=127.0.0.1"
        ep, factory = server_endpoint(reactor, desc)
        self.assertIsInstance(factory, ReloadableContextFactory)
        port = yield ep.listen(Factory.forProtocol(Echo))
        self.addCleanup(port.stopListening)
        data, _, _ = yield deferToThread(tls_roundtrip, port.getHost().port, client_context(self.ca_path))
        self.assertEqual(data, b"ping")
        _ep, none = server_endpoint(reactor, "tcp:0:interface=127.0.0.1")
        self.assertIsNone(none)

    @inlineCallbacks
    def test_starttls_with_the_factory(self):  # type: ignore[no-untyped-def]
        factory = self.factory
        seen: list[dict[str, bytes]] = []

        class StartTLS(Protocol):
            def dataReceived(self, data: bytes) -> None:
                if data == b"STARTTLS\r\n":
                    self.transport.write(b"OK begin\r\n")  # type: ignore[union-attr]
                    self.transport.startTLS(factory)  # type: ignore[union-attr]
                else:
                    bindings = channel_bindings(self.transport)
                    seen.append(bindings)
                    self.transport.write(b"tls:" + data)  # type: ignore[union-attr]

        port = yield reactor.listenTCP(0, Factory.forProtocol(StartTLS), interface="127.0.0.1")
        self.addCleanup(port.stopListening)

        def client() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10) as raw:
                raw.sendall(b"STARTTLS\r\n")
                assert raw.recv(100) == b"OK begin\r\n"
                with client_context(self.ca_path).wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"hello")
                    der = s.getpeercert(binary_form=True)
                    assert der is not None
                    return s.recv(100), der

        echoed, der = yield deferToThread(client)
        self.assertEqual(echoed, b"tls:hello")
        # channel binding data is available after STARTTLS too (SCRAM-PLUS)
        self.assertEqual(seen[0]["tls-server-end-point"], hashlib.sha256(der).digest())


class ContextTests(SynchronousTestCase):
    def test_no_compression_and_tls12_floor(self) -> None:
        ca = CertificateAuthority()
        cert, key = ca.issue(temp_path(self))
        ctx = build_context(cert, key)
        options = ctx.set_options(0)
        self.assertTrue(options & SSL.OP_NO_COMPRESSION)
        self.assertTrue(options & SSL.OP_CIPHER_SERVER_PREFERENCE)

    def test_bad_files_one_line_error(self) -> None:
        with self.assertRaises(TLSConfigError) as cm:
            ReloadableContextFactory("/nonexistent/cert.pem", "/nonexistent/key.pem")
        self.assertNotIn("\n", str(cm.exception))
        ca = CertificateAuthority()
        d = temp_path(self)
        cert, _key = ca.issue(d, name="a")
        _cert2, key2 = ca.issue(d, name="b")
        with self.assertRaises(TLSConfigError):
            build_context(cert, key2)  # key does not match

    def test_self_signed_generated_once_with_log_line(self) -> None:
        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        data = temp_path(self)
        cert, key = ensure_certificate(data, "mail.example.org")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        loaded = x509.load_pem_x509_certificate(Path(cert).read_bytes())
        sans = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(sans.get_values_for_type(x509.DNSName), ["mail.example.org", "localhost"])
        logged = [e for e in events if "self-signed" in str(e.get("log_format", ""))]
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged[0]["path"], cert)
        before = Path(cert).read_bytes()
        self.assertEqual(ensure_certificate(data, "other"), (cert, key))
        self.assertEqual(Path(cert).read_bytes(), before)
        build_context(cert, key)  # usable
