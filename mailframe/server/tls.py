"""TLS for IMAPS (RFC 8314 implicit TLS) and STARTTLS (RFC 3501 §6.2.1).

- :class:`ReloadableContextFactory` — a server context from certificate and
  key files (TLS 1.2 minimum, no compression, forward-secret AEAD ciphers
  for TLS 1.2).  :meth:`ReloadableContextFactory.reload` swaps in a new
  context; connections already up keep theirs, new ones get the new
  certificate.  :func:`install_sighup_reload` reloads on SIGHUP.
- :func:`ensure_certificate` — a self-signed certificate generated into the
  data directory on first run, with a clear log line.
- :func:`tls_server_endpoint` / :func:`server_endpoint` — implicit-TLS
  listeners with the reloadable factory.  For STARTTLS the adapter calls
  ``transport.startTLS(factory)`` with the same factory (after discarding
  any input buffered before the handshake: CVE-2011-0411).
- :class:`CertificateAuthority` — a throw-away CA issuing server
  certificates, for tests and examples.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from zope.interface import implementer

__all__ = ["ReloadableContextFactory", "TLSConfigError", "install_sighup_reload", "channel_bindings",
           "tls_server_end_point_hash",
           "ensure_certificate", "tls_server_endpoint", "server_endpoint", "ssl_certificate",
           "CertificateAuthority"]

_log = Logger()

#: TLS 1.2 suites: ECDHE/DHE with AEAD only (Mozilla "intermediate").
#: TLS 1.3 suites are OpenSSL's defaults and all strong.
CIPHERS_TLS12 = (b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                 b"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")


class TLSConfigError(ValueError):
    """Certificate or key missing, unreadable or not matching (one line)."""


def build_context(cert_path: str, key_path: str | None = None) -> SSL.Context:
    """A server ``SSL.Context``; ``cert_path`` may hold the chain (leaf first)
    and the key too (then ``key_path`` may be None)."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE
                    | SSL.OP_SINGLE_DH_USE | SSL.OP_SINGLE_ECDH_USE | SSL.OP_NO_RENEGOTIATION)
    ctx.set_cipher_list(CIPHERS_TLS12)
    ctx.set_session_id(b"mailframe")
    for path in dict.fromkeys([cert_path, key_path or cert_path]):
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise TLSConfigError(f"TLS certificate or key {path}: {(e.strerror or str(e)).lower()}") \
                from None
    try:
        ctx.use_certificate_chain_file(cert_path)
        ctx.use_privatekey_file(key_path or cert_path)
        ctx.check_privatekey()
    except SSL.Error as e:
        reason = "; ".join(str(arg) for arg in e.args) or "unreadable"
        raise TLSConfigError(f"TLS certificate {cert_path} / key {key_path or cert_path}: {reason}") \
            from None
    return ctx


@implementer(IOpenSSLServerConnectionCreator)
class ReloadableContextFactory:
    """A server TLS connection creator whose context can be replaced live.

    Works wherever Twisted takes a server context factory: endpoints,
    ``listenSSL``, ``TLSMemoryBIOFactory`` and ``transport.startTLS``.
    """

    def __init__(self, cert_path: str, key_path: str | None = None) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self._context = build_context(cert_path, key_path)
        self.generation = 1

    def reload(self) -> bool:
        """Re-read the files; on error keep the current context and log it."""
        try:
            self._context = build_context(self.cert_path, self.key_path)
        except TLSConfigError as e:
            _log.error("TLS reload failed, keeping the previous certificate: {err}", err=str(e))
            return False
        self.generation += 1
        _log.info("TLS certificate reloaded from {path}", path=self.cert_path)
        return True

    def getContext(self) -> SSL.Context:
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        return SSL.Connection(self._context, None)

    def certificate(self) -> x509.Certificate:
        """The leaf certificate now in use (e.g. for tls-server-end-point binding)."""
        return x509.load_pem_x509_certificate(Path(self.cert_path).read_bytes())


def tls_server_end_point_hash(der: bytes) -> bytes:
    """RFC 5929 §4.1: the certificate's hash with its signature algorithm's
    hash function, SHA-256 if that is MD5 or SHA-1 (or unknown)."""
    cert = x509.load_der_x509_certificate(der)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(der)
    return digest.finalize()


def channel_bindings(transport: Any) -> dict[str, bytes]:
    """SASL channel-binding data of a TLS connection, for SCRAM-SHA-256-PLUS.

    ``tls-server-end-point`` (RFC 5929 §4.1): a hash of our own certificate,
    with the certificate's signature hash, SHA-256 when that is MD5 or SHA-1.
    ``tls-exporter`` (RFC 9266): 32 bytes of exported keying material,
    offered on TLS 1.3 only (RFC 9266 §3).  Empty for a plain connection
    or before the handshake completed.
    """
    try:
        conn = transport.getHandle()
        cert = conn.get_certificate(as_cryptography=True)
        version = conn.get_protocol_version_name()
    except (AttributeError, SSL.Error, TypeError):
        return {}
    if not isinstance(conn, SSL.Connection) or cert is None:
        return {}
    out = {"tls-server-end-point": tls_server_end_point_hash(cert.public_bytes(serialization.Encoding.DER))}
    if version == "TLSv1.3":
        try:
            out["tls-exporter"] = conn.export_keying_material(b"EXPORTER-Channel-Binding", 32, None)
        except SSL.Error:
            pass
    return out


def install_sighup_reload(factories: Iterable[ReloadableContextFactory],
                          reactor: Any = None) -> Callable[[], None]:
    """Reload every factory on SIGHUP (in the reactor thread).  Returns a
    function restoring the previous handler."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor
        reactor = default_reactor
    targets = list(factories)

    def reload_all() -> None:
        for f in targets:
            f.reload()

    def handler(signum: int, frame: Any) -> None:
        reactor.callFromThread(reload_all)

    previous = signal.signal(signal.SIGHUP, handler)

    def restore() -> None:
        signal.signal(signal.SIGHUP, previous)

    return restore


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _san(hostnames: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[no-any-return]
                             serialization.NoEncryption())


def ensure_certificate(data_dir: str, hostname: str = "localhost") -> tuple[str, str]:
    """``(cert_path, key_path)`` under ``data_dir/tls``, generating a
    self-signed certificate (RSA 2048, SANs hostname/localhost/127.0.0.1/::1)
    if none is there yet."""
    directory = Path(data_dir) / "tls"
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        return str(cert_path), str(key_path)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    hosts = dict.fromkeys([hostname, "localhost", "127.0.0.1", "::1"])
    cert = (x509.CertificateBuilder().subject_name(_name(hostname)).issuer_name(_name(hostname))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(_san(hosts), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    _log.warn("No TLS certificate configured: generated a self-signed certificate for {host} "
              "in {path} (SHA-256 {fp}); clients will warn until you configure a real one",
              host=hostname, path=str(cert_path), fp=fingerprint)
    return str(cert_path), str(key_path)


def tls_server_endpoint(reactor: Any, port: int, factory: ReloadableContextFactory,
                        interface: str = "", backlog: int = 50) -> SSL4ServerEndpoint:
    """An implicit-TLS (IMAPS) TCP listener using ``factory``."""
    return SSL4ServerEndpoint(reactor, port, factory, backlog=backlog, interface=interface)


def _split_description(description: str) -> list[str]:
    parts, cur, it = [], [], iter(description)
    for ch in it:
        if ch == "\\":
            cur.append(next(it, ""))
        elif ch == ":":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def ssl_certificate(description: str) -> tuple[str, str] | None:
    """``(cert, key)`` an ``ssl:`` listener string names (Twisted's
    ``privateKey=`` and ``certKey=``, the latter defaulting to the former),
    else None."""
    parts = _split_description(description)
    if parts[0] != "ssl":
        return None
    opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if "privateKey" not in opts:
        return None
    return opts.get("certKey", opts["privateKey"]), opts["privateKey"]


def server_endpoint(reactor: Any, description: str
                    ) -> tuple[Any, ReloadableContextFactory | None]:
    """An endpoint for a listener string, and its reloadable TLS factory.

    ``ssl:PORT:privateKey=KEY[:certKey=CERT][:interface=..][:backlog=..]``
    gets a :class:`ReloadableContextFactory` (so SIGHUP reloads it); any
    other string, or ``ssl:`` with further options, goes to Twisted's
    ``serverFromString`` unchanged (factory None).
    """
    parts = _split_description(description)
    if parts[0] == "ssl" and len(parts) >= 2:
        positional = [p for p in parts[1:] if "=" not in p]
        opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        port = opts.pop("port", positional[0] if positional else None)
        if port is not None and "privateKey" in opts and set(opts) <= {
                "privateKey", "certKey", "interface", "backlog"} and len(positional) <= 1:
            factory = ReloadableContextFactory(opts.get("certKey", opts["privateKey"]),
                                               opts["privateKey"])
            return tls_server_endpoint(reactor, int(port), factory, opts.get("interface", ""),
                                       int(opts.get("backlog", 50))), factory
    return serverFromString(reactor, description), None


class CertificateAuthority:
    """A throw-away CA for tests: ``issue()`` writes a server cert and key."""

    def __init__(self, common_name: str = "mailframe test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(_name(common_name))
                     .issuer_name(_name(common_name)).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write_ca(self, path: str) -> str:
        Path(path).write_bytes(self.cert_pem)
        return path

    def issue(self, directory: str, hostnames: Iterable[str] = ("localhost", "127.0.0.1"),
              name: str = "server", days: int = 30) -> tuple[str, str]:
        """Write ``name.pem`` (leaf then CA) and ``name.key``; return their paths."""
        hosts = list(hostnames)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(_san(hosts), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = d / f"{name}.pem", d / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + self.cert_pem)
        _write_private(key_path, _key_pem(key))
        return str(cert_path), str(key_path)
