"""Where queued mail goes: a smarthost, or the recipient domain's MX hosts.

- :class:`RelayTransport` — ``--relay smtp://user:pass@host:port``: every
  message through one smarthost, STARTTLS required and its certificate
  verified against the system roots (or ``--relay-ca``), AUTH PLAIN when the
  URL has credentials; ``smtps://`` for implicit TLS (RFC 8314).
- :class:`MXTransport` — direct delivery (RFC 5321 §5.1): MX records by
  preference (equal preferences shuffled), no MX → the domain itself
  (implicit MX), a null MX (RFC 7505) → permanent failure; for each host its
  AAAA and A addresses in turn; a host that cannot be reached or answers
  4xx for every recipient → the next one.  STARTTLS is used when offered,
  without certificate checks (opportunistic, RFC 7435).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    connectProtocol,
    wrapClientTLS,
)
from twisted.names import dns
from twisted.names import error as dns_error

from mailframe.smtp.client import (
    PermanentFailure,
    RcptResult,
    SMTPClient,
    TemporaryFailure,
    send_message,
)
from mailframe.smtp.queue_store import Entry

__all__ = ["RelayConfig", "parse_relay", "RelayTransport", "MXTransport", "ITransport",
           "mx_hosts"]


class ITransport(Protocol):
    def deliver(self, entry: Entry, content: bytes) -> Deferred[list[RcptResult]]: ...


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False


def parse_relay(url: str) -> RelayConfig:
    """``smtp://[user:pass@]host[:port]`` (port 587) or ``smtps://...`` (465)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"--relay wants smtp://[user:pass@]host[:port] or smtps://..., got {url!r}")
    implicit = parts.scheme == "smtps"
    port = parts.port or (465 if implicit else 587)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if user is not None and password is None:
        raise ValueError("--relay: a user name needs a password (smtp://user:pass@host)")
    return RelayConfig(parts.hostname, port, user, password, implicit)


async def _connect(endpoint: Any, client: SMTPClient, where: str) -> None:
    try:
        await connectProtocol(endpoint, client)
    except Exception as e:
        raise TemporaryFailure(f"cannot connect to {where}: {e}") from None


class RelayTransport:
    """Every entry through one smarthost (see module docs)."""

    def __init__(self, reactor: Any, config: RelayConfig, helo: str, *,
                 trust_root: Any = None, timeout: float = 300.0) -> None:
        self.reactor = reactor
        self.config = config
        self.helo = helo
        self.timeout = timeout
        self.tls = ssl.optionsForClientTLS(config.host, trustRoot=trust_root)

    def deliver(self, entry: Entry, content: bytes) -> Deferred[list[RcptResult]]:
        return Deferred.fromCoroutine(self._deliver(entry, content))

    async def _deliver(self, entry: Entry, content: bytes) -> list[RcptResult]:
        c = self.config
        endpoint: Any = HostnameEndpoint(self.reactor, c.host, c.port, timeout=30)
        if c.implicit_tls:
            endpoint = wrapClientTLS(self.tls, endpoint)
        client = SMTPClient(self.reactor, self.timeout)
        where = f"{c.host}:{c.port}"
        await _connect(endpoint, client, where)
        creds = (c.username, c.password) if c.username and c.password else None
        return await send_message(
            client, helo=self.helo, sender=entry.sender, recipients=list(entry.recipients),
            content=content, tls=None if c.implicit_tls else self.tls,
            require_tls=not c.implicit_tls, credentials=creds, smtputf8=entry.smtputf8,
            peer_name=where,
        )


async def mx_hosts(resolver: Any, domain: str) -> list[str]:
    """The hosts to try for ``domain``, in order (RFC 5321 §5.1)."""
    try:
        answers, _auth, _extra = await resolver.lookupMailExchange(domain)
    except dns_error.DNSNameError:
        raise PermanentFailure(f"domain {domain} does not exist", "5.1.2") from None
    except Exception as e:
        raise TemporaryFailure(f"MX lookup for {domain} failed: {e.__class__.__name__}",
                               "4.4.3") from None
    records = [(rr.payload.preference, str(rr.payload.name))
               for rr in answers if rr.type == dns.MX]
    if not records:
        return [domain]  # implicit MX
    if len(records) == 1 and records[0][1] in ("", "."):
        raise PermanentFailure(f"domain {domain} accepts no mail (null MX)", "5.1.10")
    by_pref: dict[int, list[str]] = {}
    for pref, name in records:
        if name not in ("", "."):
            by_pref.setdefault(pref, []).append(name)
    hosts: list[str] = []
    for pref in sorted(by_pref):
        group = by_pref[pref]
        random.shuffle(group)
        hosts += group
    return hosts


async def _addresses(resolver: Any, host: str) -> list[tuple[int, str]]:
    """(6 or 4, address) for ``host``: AAAA first, then A."""
    out: list[tuple[int, str]] = []
    for family, lookup, rtype in ((6, resolver.lookupIPV6Address, dns.AAAA),
                                  (4, resolver.lookupAddress, dns.A)):
        try:
            answers, _a, _e = await lookup(host)
        except Exception:
            continue
        for rr in answers:
            if rr.type == rtype:
                out.append((family, rr.payload.dottedQuad() if rtype == dns.A
                            else _ipv6(rr.payload.address)))
    return out


def _ipv6(packed: bytes) -> str:
    import socket

    return socket.inet_ntop(socket.AF_INET6, packed)


class MXTransport:
    """Direct delivery to the recipient domain's mail exchangers."""

    def __init__(self, reactor: Any, resolver: Any, helo: str, *, port: int = 25,
                 timeout: float = 300.0) -> None:
        self.reactor = reactor
        self.resolver = resolver
        self.helo = helo
        self.port = port
        self.timeout = timeout
        self.tls = ssl.CertificateOptions(verify=False)

    def deliver(self, entry: Entry, content: bytes) -> Deferred[list[RcptResult]]:
        return Deferred.fromCoroutine(self._deliver(entry, content))

    async def _deliver(self, entry: Entry, content: bytes) -> list[RcptResult]:
        hosts = await mx_hosts(self.resolver, entry.domain)
        last_error: TemporaryFailure | None = None
        last_results: list[RcptResult] | None = None
        for host in hosts:
            addresses = await _addresses(self.resolver, host)
            if not addresses:
                last_error = TemporaryFailure(f"no address for MX host {host}", "4.4.4")
                continue
            for family, address in addresses:
                endpoint = (TCP6ClientEndpoint if family == 6 else TCP4ClientEndpoint)(
                    self.reactor, address, self.port, timeout=30)
                client = SMTPClient(self.reactor, self.timeout)
                where = f"{host}[{address}]"
                try:
                    await _connect(endpoint, client, where)
                    results = await send_message(
                        client, helo=self.helo, sender=entry.sender,
                        recipients=list(entry.recipients), content=content, tls=self.tls,
                        smtputf8=entry.smtputf8, peer_name=where)
                except TemporaryFailure as e:
                    last_error = e
                    continue
                if all(400 <= r.code < 500 for r in results):
                    last_results = results  # RFC 5321 §5.1: try the next host
                    continue
                return results
        if last_results is not None:
            return last_results
        raise last_error or TemporaryFailure(f"no mail exchanger for {entry.domain}", "4.4.4")
