"""SCRAM-SHA-256-PLUS: channel binding data from real TLS connections
(RFC 5929 tls-server-end-point, RFC 9266 tls-exporter) and hand-written
exchanges (RFC 5802 §6, §7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl

from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailframe.auth.authenticator import SaslSuccess
from mailframe.errors import AuthenticationFailed, CannotDo
from mailframe.server.tls import (
    CertificateAuthority,
    ReloadableContextFactory,
    channel_bindings,
    tls_server_end_point_hash,
)
from tests.auth.helpers import make_authenticator, result_of, sync_checker, temp_path

BINDING = {"tls-server-end-point": bytes(range(32)), "tls-exporter": b"\x42" * 32}


def client_final(first: bytes, gs2: bytes, cbind: bytes, client_first_bare: str,
                 password: str) -> tuple[bytes, bytes]:
    """(client-final message, expected server-final) computed as a client would."""
    text = first.decode()
    attrs = dict(kv.split("=", 1) for kv in text.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    without = f"c={base64.b64encode(gs2 + cbind).decode()},r={attrs['r']}"
    auth_msg = f"{client_first_bare},{text},{without}".encode()
    sig = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, hashlib.sha256).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig, strict=True))).decode()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_msg, hashlib.sha256).digest())
    return f"{without},p={proof}".encode(), expected


def failure_of(d: Deferred[object], clock: object) -> Exception:
    clock.advance(60)  # type: ignore[attr-defined]
    out: list[object] = []
    d.addBoth(out.append)
    return out[0].value  # type: ignore[attr-defined,no-any-return]


class PlusExchangeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.auth, self.clock, _ = make_authenticator(sync_checker({"alice": "wonderland"}))

    def test_offered_only_with_tls_and_binding(self) -> None:
        self.assertIn("SCRAM-SHA-256-PLUS", self.auth.mechanisms(True, "10.1.1.1", BINDING))
        self.assertNotIn("SCRAM-SHA-256-PLUS", self.auth.mechanisms(True, "10.1.1.1"))
        self.assertNotIn("SCRAM-SHA-256-PLUS", self.auth.mechanisms(False, "10.1.1.1", BINDING))
        with self.assertRaises(CannotDo):
            self.auth.start("SCRAM-SHA-256-PLUS", True, "10.1.1.1")

    def run_plus(self, cb_type: str) -> SaslSuccess:
        ex = self.auth.start("scram-sha-256-plus", True, "10.1.1.1", BINDING)
        gs2 = f"p={cb_type},,".encode()
        first = result_of(ex.step(gs2 + b"n=alice,r=abcdef")).data
        final, expected = client_final(first, gs2, BINDING[cb_type], "n=alice,r=abcdef", "wonderland")
        done = result_of(ex.step(final))
        self.assertEqual(done.final, expected)
        return done  # type: ignore[no-any-return]

    def test_plus_tls_server_end_point(self) -> None:
        self.assertEqual(self.run_plus("tls-server-end-point").account.username, "alice")

    def test_plus_tls_exporter(self) -> None:
        self.assertEqual(self.run_plus("tls-exporter").account.username, "alice")

    def test_plus_wrong_binding_data_fails(self) -> None:
        ex = self.auth.start("SCRAM-SHA-256-PLUS", True, "10.1.1.1", BINDING)
        gs2 = b"p=tls-server-end-point,,"
        first = result_of(ex.step(gs2 + b"n=alice,r=abcdef")).data
        final, _ = client_final(first, gs2, b"\x00" * 32, "n=alice,r=abcdef", "wonderland")
        self.assertIsInstance(failure_of(ex.step(final), self.clock), AuthenticationFailed)

    def test_plus_needs_p_flag_and_known_type(self) -> None:
        for first in (b"n,,n=alice,r=x", b"y,,n=alice,r=x", b"p=tls-unique,,n=alice,r=x"):
            ex = self.auth.start("SCRAM-SHA-256-PLUS", True, "10.1.1.1", BINDING)
            self.assertIsInstance(failure_of(ex.step(first), self.clock), AuthenticationFailed, first)

    def test_downgrade_y_flag_refused_when_plus_offered(self) -> None:
        ex = self.auth.start("SCRAM-SHA-256", True, "10.1.1.1", BINDING)
        self.assertIsInstance(failure_of(ex.step(b"y,,n=alice,r=x"), self.clock), AuthenticationFailed)
        # without PLUS on offer, "y" is fine (client supports binding, server does not)
        ex = self.auth.start("SCRAM-SHA-256", False, "10.1.1.1", BINDING)
        first = result_of(ex.step(b"y,,n=alice,r=x")).data
        final, expected = client_final(first, b"y,,", b"", "n=alice,r=x", "wonderland")
        self.assertEqual(result_of(ex.step(final)).final, expected)

    def test_plain_scram_rejects_p_flag(self) -> None:
        ex = self.auth.start("SCRAM-SHA-256", True, "10.1.1.1", BINDING)
        self.assertIsInstance(failure_of(ex.step(b"p=tls-exporter,,n=alice,r=x"), self.clock),
                              AuthenticationFailed)


class ServerSide(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.factory.seen.callback(channel_bindings(self.transport))  # type: ignore[attr-defined]
        self.transport.write(b"ok")  # type: ignore[union-attr]


class ChannelBindingDataTests(TestCase):
    @inlineCallbacks
    def check(self, max_version: ssl.TLSVersion):  # type: ignore[no-untyped-def]
        ca = CertificateAuthority()
        cert, key = ca.issue(temp_path(self))
        factory = Factory.forProtocol(ServerSide)
        factory.seen = Deferred()  # type: ignore[attr-defined]
        port = yield reactor.listenSSL(0, factory, ReloadableContextFactory(cert, key),
                                       interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
        ctx.maximum_version = max_version

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"hi")
                    s.recv(10)
                    der = s.getpeercert(binary_form=True)
                    assert der is not None
                    return der

        der = yield deferToThread(client)
        seen = yield factory.seen  # type: ignore[attr-defined]
        # The client's view of the server certificate hashes to the server's binding.
        self.assertEqual(seen["tls-server-end-point"], hashlib.sha256(der).digest())
        self.assertEqual(tls_server_end_point_hash(der), hashlib.sha256(der).digest())
        return seen

    @inlineCallbacks
    def test_tls12_end_point_only(self):  # type: ignore[no-untyped-def]
        seen = yield self.check(ssl.TLSVersion.TLSv1_2)
        self.assertEqual(sorted(seen), ["tls-server-end-point"])

    @inlineCallbacks
    def test_tls13_exporter_too(self):  # type: ignore[no-untyped-def]
        seen = yield self.check(ssl.TLSVersion.TLSv1_3)
        self.assertEqual(sorted(seen), ["tls-exporter", "tls-server-end-point"])
        self.assertEqual(len(seen["tls-exporter"]), 32)

    def test_plain_transport_has_none(self) -> None:
        from twisted.internet.testing import StringTransport
        self.assertEqual(channel_bindings(StringTransport()), {})
        self.assertTrue(SSL.Connection)  # pyOpenSSL available
