"""``--health ENDPOINT``: 200 only while every listener is up and the
store answers; 503 otherwise, with the reason in the body.

Listeners: each IMAP, IMAPS, SMTP and LMTP endpoint is wrapped
(:class:`WatchedEndpoint`) so the check knows whether its ``listen``
succeeded and whether the port is still listening.

The store: a Maildir store (one with a ``template`` path) is probed by
creating, writing and deleting a small file in its root directory, in a
thread, within :data:`PROBE_TIMEOUT` seconds: this fails when the
directory is gone, replaced, immutable (``chattr +i``), on a read-only or
full file system, or hangs (a dead NFS server) — the conditions under which
delivery would fail too, and it fails for root as well, which ignores mode
bits but not these.  Any other store is asked ``health()`` when it has
that method (a Deferred or value; failing means down), and is otherwise
taken as answering.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

__all__ = ["Health", "WatchedEndpoint", "HealthResource", "health_service", "PROBE_TIMEOUT"]

#: Seconds the store probe may take before the store counts as down.
PROBE_TIMEOUT = 5.0

_probes = itertools.count(1)


@dataclass
class _Listener:
    name: str
    port: Any = None
    error: str | None = "not started"


@dataclass
class Health:
    """The checks one server's health endpoint runs."""

    reactor: Any
    store: Any = None
    listeners: list[_Listener] = field(default_factory=list)
    probe_timeout: float = PROBE_TIMEOUT

    def watch(self, name: str, endpoint: Any) -> WatchedEndpoint:
        """Wrap a server endpoint so its listening is checked; ``name``
        (e.g. ``imap tcp:143``) appears in the 503 body."""
        listener = _Listener(name)
        self.listeners.append(listener)
        return WatchedEndpoint(endpoint, listener)

    async def check(self) -> list[str]:
        """The problems found now; empty when healthy."""
        problems = []
        for listener in self.listeners:
            if listener.error is not None:
                problems.append(f"listener {listener.name}: {listener.error}")
            elif not getattr(listener.port, "connected", True):
                problems.append(f"listener {listener.name}: no longer listening")
        store_problem = await self._store()
        if store_problem is not None:
            problems.append(f"store: {store_problem}")
        return problems

    async def _store(self) -> str | None:
        if self.store is None:
            return None
        template = getattr(self.store, "template", None)
        if isinstance(template, str):
            root = template.split("%u", 1)[0]
            root = os.path.dirname(root) if "%u" in template else root
            d: Deferred[None] = deferToThread(_probe_directory, root or ".")
        else:
            probe = getattr(self.store, "health", None)
            if probe is None:
                return None
            d = maybeDeferred(probe)
        d.addTimeout(self.probe_timeout, self.reactor)
        try:
            await d
        except Exception as e:  # any failure is the reason
            return _describe(e)
        return None


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError):
        return f"{error.filename or ''}: {error.strerror or error}".lstrip(": ")
    from twisted.internet.defer import TimeoutError

    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}"


def _probe_directory(root: str) -> None:
    """Create, write, sync and delete a file in ``root`` (in a thread)."""
    path = os.path.join(root, f".mailframe-health-{os.getpid()}-{next(_probes)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"mailframe health probe\n")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(path)


class WatchedEndpoint:
    """A server endpoint whose ``listen`` outcome a :class:`Health` sees."""

    def __init__(self, inner: Any, listener: _Listener) -> None:
        self._inner = inner
        self._listener = listener

    def listen(self, factory: Any) -> Deferred[Any]:
        d: Deferred[Any] = self._inner.listen(factory)

        def up(port: Any) -> Any:
            self._listener.port = port
            self._listener.error = None
            return port

        def down(failure: Failure) -> Failure:
            self._listener.error = f"listen failed: {failure.getErrorMessage()}"
            return failure

        return d.addCallbacks(up, down)


class HealthResource(Resource):
    """``GET``: ``200 ok`` or ``503`` with one problem per line."""

    isLeaf = True

    def __init__(self, health: Health) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.health = health

    def render_GET(self, request: Request) -> Any:
        d = Deferred.fromCoroutine(self.health.check())
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def answer(problems: list[str]) -> None:
            if gone:
                return  # the client hung up before the checks ended
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.setHeader(b"Cache-Control", b"no-store")
            if problems:
                request.setResponseCode(503)
                body = "".join(p + "\n" for p in problems)
            else:
                body = "ok\n"
            request.write(body.encode("utf-8"))
            request.finish()

        def failed(failure: Failure) -> None:
            if gone:
                return
            request.setResponseCode(503)
            request.write(f"health check failed: {failure.getErrorMessage()}\n".encode())
            request.finish()

        d.addCallbacks(answer, failed)
        return NOT_DONE_YET


def health_service(health: Health, endpoint: str) -> StreamServerEndpointService:
    """A service answering :class:`HealthResource` at every path of
    ``endpoint`` (e.g. ``tcp:8080:interface=127.0.0.1``)."""
    site = Site(HealthResource(health))
    site.noisy = False
    service = StreamServerEndpointService(serverFromString(health.reactor, endpoint), site)
    service._raiseSynchronously = True
    return service
