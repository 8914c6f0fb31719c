"""Prometheus metrics (text exposition format 0.0.4) for ``--metrics``.

Everything lives in one :data:`REGISTRY` of this process (not
prometheus_client's global one, so nothing of the client library's own
process collectors is mixed in by accident).  The counters are updated by
:mod:`mailframe.ops.events`; the connection gauge is computed at scrape
time from the live connections (:func:`track`), so it can never drift.

The page is served through Twisted (:class:`MetricsResource` on a
``twisted.web`` site at the ``--metrics`` endpoint): no thread of
prometheus_client's own HTTP server runs in the process.

Store latencies: there is no single place where every store call passes
(handlers call the account and mailbox objects directly), so the store's
time is measured inside each IMAP command's latency
(``mailframe_imap_command_seconds``) and, for deliveries, as
``mailframe_delivery_seconds`` (the append up to durability).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import serverFromString
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

__all__ = [
    "REGISTRY", "MetricsResource", "metrics_service", "track", "command_label",
    "CONNECTIONS", "CONNECTIONS_REFUSED", "LOGINS", "COMMANDS", "COMMAND_SECONDS",
    "OCTETS", "Octets", "DELIVERIES", "DELIVERY_SECONDS",
]

#: The text format every Prometheus version reads (names and labels here
#: need no escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: The registry ``--metrics`` serves.
REGISTRY = CollectorRegistry(auto_describe=True)

#: IMAP command latency buckets, seconds: sub-millisecond NOOPs up to slow
#: SEARCHes of large mailboxes.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0)

CONNECTIONS = Counter(
    "mailframe_connections_opened", "Connections accepted, by protocol.",
    ["protocol"], registry=REGISTRY)
CONNECTIONS_REFUSED = Counter(
    "mailframe_connections_refused", "Connections refused at once, by protocol and reason.",
    ["protocol", "reason"], registry=REGISTRY)
LOGINS = Counter(
    "mailframe_logins", "IMAP logins by SASL mechanism (LOGIN for the LOGIN command) and result.",
    ["mechanism", "result"], registry=REGISTRY)
COMMANDS = Counter(
    "mailframe_imap_commands", "IMAP commands answered, by command and tagged status.",
    ["command", "status"], registry=REGISTRY)
COMMAND_SECONDS = Histogram(
    "mailframe_imap_command_seconds",
    "Time from taking an IMAP command to its tagged response (store calls included).",
    ["command"], buckets=_BUCKETS, registry=REGISTRY)

class Octets:
    """Octets in and out for one protocol: plain integers added to on every
    read and write (cheaper than a prometheus_client counter's lock), read
    by :class:`_OctetsCollector` at scrape time."""

    __slots__ = ("received", "sent")

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0


#: ``mailframe_bytes_received_total`` and ``mailframe_bytes_sent_total`` by
#: protocol.
OCTETS: dict[str, Octets] = {"imap": Octets()}
DELIVERIES = Counter(
    "mailframe_deliveries", "Message copies delivered by SMTP/LMTP, by protocol and result.",
    ["protocol", "result"], registry=REGISTRY)
DELIVERY_SECONDS = Histogram(
    "mailframe_delivery_seconds",
    "Time from end of DATA to the copy being durable in the store (or refused).",
    ["protocol"], buckets=_BUCKETS, registry=REGISTRY)

#: Command words counted under their own name; anything else is "OTHER"
#: (a client cannot grow the label set).  RFC 3501 §6 and the extensions
#: the server speaks (IDLE, ENABLE, ID, NAMESPACE, UNSELECT, MOVE).
_KNOWN = frozenset(
    "CAPABILITY NOOP LOGOUT ID ENABLE STARTTLS LOGIN AUTHENTICATE SELECT EXAMINE CREATE "
    "DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB NAMESPACE STATUS APPEND IDLE CHECK CLOSE "
    "UNSELECT EXPUNGE SEARCH FETCH STORE COPY MOVE".split())
_UID = frozenset({"FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE"})


def command_label(first_line: bytes) -> str:
    """The metric label for a command line ``tag SP name ...``: the
    upper-cased name, ``UID FETCH`` style for UID commands, ``OTHER`` for
    anything unknown."""
    words = first_line.split(b" ", 3)
    if len(words) < 2:
        return "OTHER"
    name = words[1].decode("ascii", "replace").upper()
    if name == "UID" and len(words) > 2:
        sub = words[2].decode("ascii", "replace").upper()
        return "UID " + sub if sub in _UID else "OTHER"
    return name if name in _KNOWN else "OTHER"


class Tracked(Protocol):
    """A live connection as the gauge sees it."""

    protocol_name: str

    def state_name(self) -> str:
        """The connection's state right now, e.g. ``authenticated``."""


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def track(connection: Tracked) -> None:
    """Count ``connection`` in ``mailframe_connections`` while it lives
    (until :func:`untrack` or garbage collection)."""
    _LIVE.add(connection)


def untrack(connection: Tracked) -> None:
    """Stop counting ``connection``."""
    _LIVE.discard(connection)


class _ConnectionCollector(Collector):
    """``mailframe_connections{protocol, state}``: open connections now.
    IMAP states are RFC 3501 §3's (``not_authenticated``,
    ``authenticated``, ``selected``, ``logout``)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mailframe_connections", "Open connections by protocol and state.",
            labels=["protocol", "state"])
        counts: dict[tuple[str, str], int] = {}
        for conn in list(_LIVE):
            key = (conn.protocol_name, conn.state_name())
            counts[key] = counts.get(key, 0) + 1
        for state in ("not_authenticated", "authenticated", "selected"):
            counts.setdefault(("imap", state), 0)
        for (proto, state), n in sorted(counts.items()):
            family.add_metric([proto, state], n)
        yield family


REGISTRY.register(_ConnectionCollector())


class _OctetsCollector(Collector):
    """The :data:`OCTETS` totals as two counters."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        received = CounterMetricFamily(
            "mailframe_bytes_received", "Octets received from clients (after TLS), by protocol.",
            labels=["protocol"])
        sent = CounterMetricFamily(
            "mailframe_bytes_sent", "Octets sent to clients (before TLS), by protocol.",
            labels=["protocol"])
        for protocol, octets in sorted(OCTETS.items()):
            received.add_metric([protocol], octets.received)
            sent.add_metric([protocol], octets.sent)
        yield received
        yield sent


REGISTRY.register(_OctetsCollector())


class MetricsResource(Resource):
    """``GET`` answers the registry in the Prometheus text format."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE.encode("ascii"))
        return generate_latest(self.registry)


def metrics_service(reactor: Any, endpoint: str) -> StreamServerEndpointService:
    """A service serving :class:`MetricsResource` at every path of
    ``endpoint`` (a Twisted endpoint string, e.g.
    ``tcp:9100:interface=127.0.0.1``)."""
    site = Site(MetricsResource())
    site.noisy = False
    service = StreamServerEndpointService(serverFromString(reactor, endpoint), site)
    service._raiseSynchronously = True
    return service
