"""``--metrics`` and ``--health`` under ``--workers``: served once, by the
supervisor, from what every worker reports.

Each worker answers ``/metrics`` and ``/health`` on a private Unix socket
in the supervisor's runtime directory (:func:`worker_site`); the
supervisor's listeners ask every worker at each request and answer for
the whole server: the Prometheus samples of all workers summed per series
(counters, histograms and gauges such as connections by state add up
across processes; start times take the earliest), and health ``200 ok``
only when every worker is running and healthy, else ``503`` naming each
problem with its worker.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.web.client import Agent, readBody
from twisted.web.iweb import IAgentEndpointFactory
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

__all__ = ["worker_site", "socket_path", "AggregateMetrics", "AggregateHealth", "merge_metrics"]

#: Seconds the supervisor waits for one worker's answer.
ASK_TIMEOUT = 5.0


def socket_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"worker-{index}.sock")


def worker_site(health: Any) -> Any:
    """The private site of one worker: ``/metrics`` and ``/health``."""
    from twisted.web.server import Site

    from mailframe.ops.health import HealthResource
    from mailframe.ops.metrics import MetricsResource

    root = Resource()
    root.putChild(b"metrics", MetricsResource())
    root.putChild(b"health", HealthResource(health))
    site = Site(root)
    site.noisy = False
    return site


@implementer(IAgentEndpointFactory)
class _ToSocket:
    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path

    def endpointForURI(self, uri: Any) -> Any:
        return UNIXClientEndpoint(self.reactor, self.path, timeout=ASK_TIMEOUT)


async def _ask(reactor: Any, path: str, what: bytes) -> tuple[int, bytes]:
    agent = Agent.usingEndpointFactory(reactor, _ToSocket(reactor, path))
    d = agent.request(b"GET", b"http://worker/" + what)
    d.addTimeout(ASK_TIMEOUT, reactor)
    response = await d
    body = await readBody(response)
    return int(response.code), body


class _Asking(Resource):
    """Ask every running worker, then answer (``render`` is per subclass)."""

    isLeaf = True

    def __init__(self, reactor: Any, workers: Callable[[], tuple[str, int, list[int]]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.reactor = reactor
        #: () -> (runtime directory, worker count, indexes of running workers)
        self.workers = workers

    async def _gather(self, what: bytes) -> dict[int, tuple[int, bytes] | str]:
        directory, count, running = self.workers()
        out: dict[int, tuple[int, bytes] | str] = {}
        for index in range(count):
            if index not in running:
                out[index] = "not running (being restarted)"
                continue
            try:
                out[index] = await _ask(self.reactor, socket_path(directory, index), what)
            except Exception as e:  # not listening yet, timed out, ...
                out[index] = f"no answer ({type(e).__name__})"
        return out

    def render_GET(self, request: Request) -> Any:
        def failed(_: object) -> None:
            request.setResponseCode(500)
            request.finish()

        defer.Deferred.fromCoroutine(self._answer(request)).addErrback(failed)
        return NOT_DONE_YET

    async def _answer(self, request: Request) -> None:
        raise NotImplementedError


class AggregateMetrics(_Asking):
    """``GET``: the Prometheus text of all workers, summed per series."""

    async def _answer(self, request: Request) -> None:
        from mailframe.ops.metrics import CONTENT_TYPE

        got = await self._gather(b"metrics")
        texts = [r[1].decode("utf-8") for r in got.values() if isinstance(r, tuple) and r[0] == 200]
        request.setHeader(b"Content-Type", CONTENT_TYPE.encode("ascii"))
        request.write(merge_metrics(texts).encode("utf-8"))
        request.finish()


class AggregateHealth(_Asking):
    """``GET``: ``200 ok`` when every worker that answers is healthy (one
    starting or being restarted does not count: the others serve), else
    503 with each problem followed by its worker, one a line; 503 too when
    no worker answers."""

    async def _answer(self, request: Request) -> None:
        got = await self._gather(b"health")
        problems = []
        answered = 0
        for index, result in sorted(got.items()):
            if isinstance(result, str):
                continue  # starting or restarting: the others serve meanwhile
            answered += 1
            if result[0] != 200:
                for line in result[1].decode("utf-8", "replace").splitlines():
                    problems.append(f"{line} (worker {index})")
        if not answered:
            problems += [f"worker {i}: {r}" for i, r in sorted(got.items()) if isinstance(r, str)]
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        if problems:
            request.setResponseCode(503)
        request.write("".join(p + "\n" for p in problems).encode() if problems else b"ok\n")
        request.finish()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def merge_metrics(texts: list[str]) -> str:
    """Prometheus text exposition of the per-series sums of ``texts``
    (the earliest value for ``*_created`` and ``*start_time_seconds``)."""
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            _doc, _type, samples = families.setdefault(
                family.name, (family.documentation, family.type, {}))
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                if key not in samples:
                    samples[key] = s.value
                elif s.name.endswith(("_created", "start_time_seconds")):
                    samples[key] = min(samples[key], s.value)
                else:
                    samples[key] += s.value
    out = []
    for name, (doc, kind, samples) in families.items():
        shown = name + "_total" if kind == "counter" else name + "_info" if kind == "info" else name
        out.append(f"# HELP {shown} {doc.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
        out.append(f"# TYPE {shown} {kind}")
        for (sample, labels), value in samples.items():
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            out.append(f"{sample}{{{text}}} {_number(value)}" if text else f"{sample} {_number(value)}")
    return "\n".join(out) + "\n"
