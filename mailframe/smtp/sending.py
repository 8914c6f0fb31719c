"""Wire the sending half from ``twistd mailframe`` options: the outbound
queue (relay or MX transport, bounces into the store), DKIM keys, and the
``--submission`` / ``--submissions`` listeners."""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import serverFromString
from twisted.python import usage

from mailframe.smtp.delivery import Delivery
from mailframe.smtp.queue import OutboundQueue

__all__ = ["make_queue", "add_submission"]


def _resolver(dns_option: str | None) -> Any:
    from twisted.names import client

    if not dns_option:
        return client.getResolver()
    host, _, port = dns_option.rpartition(":")
    if not host or not port.isdigit():
        raise usage.UsageError(f"--dns wants HOST:PORT, got {dns_option!r}")
    return client.Resolver(servers=[(host.strip("[]"), int(port))])


def _trust_root(path: str | None) -> Any:
    if not path:
        return None
    from twisted.internet import ssl

    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise usage.UsageError(f"--relay-ca {path!r}: {e.strerror}") from None
    certs = []
    marker = b"-----END CERTIFICATE-----"
    for block in pem.split(marker)[:-1]:
        certs.append(ssl.Certificate.loadPEM(block + marker + b"\n"))
    if not certs:
        raise usage.UsageError(f"--relay-ca {path!r}: no certificate in the file")
    return ssl.trustRootFromCertificates(certs)


def make_queue(opts: Any, delivery: Delivery, reactor: Any) -> OutboundQueue:
    """The outbound queue service for ``opts`` (not yet started)."""
    from mailframe.smtp.outbound import MXTransport, RelayTransport, parse_relay

    hostname = opts["domain-name"]
    transport: Any
    if opts["relay"]:
        transport = RelayTransport(reactor, parse_relay(opts["relay"]), hostname,
                                   trust_root=_trust_root(opts["relay-ca"]))
    else:
        transport = MXTransport(reactor, _resolver(opts["dns"]), hostname, port=opts["mx-port"])

    def bounce(username: str, message: bytes) -> Any:
        return delivery.deliver(username, message)

    return OutboundQueue(
        opts["queue-dir"], transport, bounce=bounce, hostname=hostname, clock=reactor,
        retry_initial=opts["queue-retry"], retry_max=opts["queue-retry-max"],
        lifetime=opts["queue-lifetime"])


def _same(endpoint: Any) -> Any:
    return endpoint


def add_submission(opts: Any, root: service.MultiService, delivery: Delivery,
                   authenticator: Any, tls: Any, reactor: Any, limiter: Any = None) -> list[Any]:
    """Add the queue and every submission listener to ``root``; returns
    the implicit-TLS context factories (for SIGHUP reloading)."""
    from mailframe.smtp.submission import SubmissionFactory

    signer = None
    if opts["dkim-key"]:
        from mailframe.smtp.dkim_sign import DkimSigner

        try:
            signer = DkimSigner.from_specs(opts["dkim-key"])
        except (OSError, ValueError) as e:
            raise usage.UsageError(f"--dkim-key: {e}") from None
    from mailframe.server.workers import adopt, is_primary, worker_index

    queue = make_queue(opts, delivery, reactor)
    if not is_primary():
        # --workers: the primary worker alone delivers; this one writes new
        # entries into the queue directory and tells it (no double delivery)
        queue.deliver = False
    elif worker_index() is not None:
        queue.poll = min(queue.poll, 1.0)  # hear the other workers' entries soon
        queue.orphan_age = 300.0  # the others may be writing entries as it starts
    queue.setServiceParent(root)  # type: ignore[no-untyped-call]
    realm_addresses = getattr(authenticator.portal.realm, "sender_addresses", None)

    def factory(tls_for_starttls: Any) -> SubmissionFactory:
        return SubmissionFactory(
            delivery, opts["domain"], authenticator, queue, max_size=opts["max-size"],
            tls=tls_for_starttls, hostname=opts["domain-name"], signer=signer,
            addresses=realm_addresses if callable(realm_addresses) else None, limiter=limiter)

    for desc in opts["submission"]:
        endpoint = adopt(reactor, "submission", desc, partial(serverFromString, reactor, desc))
        StreamServerEndpointService(endpoint, factory(tls)).setServiceParent(root)
    reloadable = []
    for desc in opts["submissions"]:
        from mailframe.server.tls import server_endpoint

        endpoint, tls_factory = server_endpoint(reactor, desc)
        if tls_factory is not None:
            reloadable.append(tls_factory)
        endpoint = adopt(reactor, "submissions", desc, partial(_same, endpoint))
        StreamServerEndpointService(endpoint, factory(None)).setServiceParent(root)
    return reloadable
