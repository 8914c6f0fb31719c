"""``--workers N``: N server processes sharing the listening sockets
(issue 16, "Every core").

The supervisor (the process twistd started) binds every listener once,
before any privilege drop, and hands the listening sockets to its worker
processes by descriptor inheritance; each worker is a full ``twistd
mailframe`` with its own reactor that adopts them
(``IReactorSocket.adoptStreamPort``) instead of binding.  Why not
``SO_REUSEPORT``: one socket has one accept queue, so a busy worker does
not get connections hashed to it while an idle one waits (the kernel
hashes ``SO_REUSEPORT`` connections by address, whatever each worker's
load); it works for ``unix:`` (LMTP) and ``systemd:`` (socket activation)
listeners as well as TCP, and a port is never briefly unbound while a
worker restarts.  TLS listeners (``ssl:``) are bound by the supervisor as
plain sockets; each worker wraps its adopted port in TLS itself, so
SIGHUP's certificate reload works per worker.

The supervisor restarts a worker that dies (at once if it ran for a while,
else after a delay doubling up to :data:`RESTART_MAX` seconds so a crash
loop does not spin), forwards SIGHUP to every worker, and on SIGTERM stops
them all and waits.  Workers log through a pipe to the supervisor
(JSON events re-published in its log, so ``--logfile`` and
``--logger`` apply to everything), and exit should the supervisor die.

Worker 0 (the *primary*) also runs what must run once: the outbound
submission queue (the others only write new entries into its directory
and raise a marker it polls).  ``--metrics`` and ``--health`` are served
by the supervisor alone, from every worker's answers on private sockets
(:mod:`mailframe.server._worker_ops`): the sums of all workers' metrics,
and healthy only when every worker is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.logger import ILogObserver, Logger, eventAsJSON, eventFromJSON, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = ["Supervisor", "WORKER_ENV", "LISTEN_ENV", "worker_index", "adopt", "log_observer"]

log = Logger(namespace="mailframe.workers")

#: Set in a worker's environment: its index (0 is the primary).
WORKER_ENV = "MAILFRAME_WORKER"
#: Set in a worker's environment: JSON ``{"KIND DESC": [fd, family]}``.
LISTEN_ENV = "MAILFRAME_LISTEN_FDS"
#: Set in a worker's environment: the supervisor's runtime directory,
#: where the worker answers metrics and health on ``worker-N.sock``.
DIR_ENV = "MAILFRAME_WORKER_DIR"
#: Set in a worker's environment: how many workers there are.
COUNT_ENV = "MAILFRAME_WORKERS"
#: The worker's end of its log pipe.
LOG_FD = 3
#: The worker's descriptor of the first listening socket (then 11, 12...).
FIRST_LISTEN_FD = 10
#: A worker that ran this long before dying is restarted at once.
STABLE_AFTER = 10.0
#: Longest wait before restarting a crash-looping worker (seconds).
RESTART_MAX = 30.0
#: How long stop waits for workers before SIGKILL (seconds).
STOP_GRACE = 30.0


def worker_index() -> int | None:
    """This process's worker index, or None outside ``--workers``."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value is not None and value.isdigit() else None


def is_primary() -> bool:
    """Whether this process runs the once-only services (queue, metrics,
    health): a single process, or worker 0."""
    return worker_index() in (None, 0)


# --------------------------------------------------------------- worker side


def _inherited() -> dict[str, tuple[int, int]]:
    raw = os.environ.get(LISTEN_ENV)
    if not raw:
        return {}
    return {k: (int(v[0]), int(v[1])) for k, v in json.loads(raw).items()}


class AdoptedEndpoint:
    """A server endpoint listening on a socket the supervisor bound:
    ``adoptStreamPort``, wrapped in TLS when the listener string is an
    ``ssl:`` one (``tls`` is its context factory)."""

    def __init__(self, reactor: Any, fd: int, family: int, tls: Any = None,
                 balanced: bool = False) -> None:
        self.reactor = reactor
        self.fd = fd
        self.family = family
        self.tls = tls
        self.balanced = balanced

    def listen(self, factory: Any) -> defer.Deferred[Any]:
        if self.tls is not None:
            from twisted.protocols.tls import TLSMemoryBIOFactory

            factory = TLSMemoryBIOFactory(self.tls, False, factory)
        try:
            port = self.reactor.adoptStreamPort(self.fd, self.family, factory)
        except Exception:
            return defer.fail()
        table = load_table()
        if self.balanced and table is not None:
            from mailframe.server._balance import balance_port

            balance_port(self.reactor, port, table)
        if self.family == socket.AF_UNIX:
            # The socket file belongs to the supervisor: a worker stopping
            # must not unlink it from under the others.
            from twisted.internet import tcp

            def lost(reason: Any, port: Any = port) -> None:
                tcp.Port.connectionLost(port, reason)

            port.connectionLost = lost
        return defer.succeed(port)


def inherited(kind: str, desc: str) -> bool:
    """Whether the supervisor bound listener ``--KIND DESC`` for us."""
    return f"{kind} {desc}" in _inherited()


def adopt(reactor: Any, kind: str, desc: str, make: Callable[[], Any]) -> Any:
    """In a worker, the endpoint for listener ``--KIND DESC`` on the
    supervisor's socket; elsewhere (or for a listener the supervisor did
    not bind) ``make()``.  A worker calls ``make`` only for an ``ssl:``
    listener, to learn its TLS context (a ``systemd:`` one could not be
    parsed again: its descriptors were the supervisor's)."""
    entry = _inherited().get(f"{kind} {desc}")
    if entry is None:
        return make()
    fd, family = entry
    tls = None
    if desc.startswith("ssl:"):
        tls = getattr(make(), "_sslContextFactory", None)
    return AdoptedEndpoint(reactor, fd, family, tls, balanced=kind in ("imap", "imaps"))


_table: list[Any] = []


def load_table() -> Any:
    """In a worker, the shared table of IMAP connections per worker
    (:class:`mailframe.server._balance.LoadTable`); None elsewhere."""
    if not _table:
        index, directory = worker_index(), os.environ.get(DIR_ENV)
        count = os.environ.get(COUNT_ENV, "")
        table = None
        if index is not None and directory and count.isdigit():
            from mailframe.server._balance import TABLE_NAME, LoadTable

            try:
                table = LoadTable(os.path.join(directory, TABLE_NAME), int(count), index)
                table.adjust(0)
            except (OSError, ValueError):
                table = None
        _table.append(table)
    return _table[0]


@implementer(ILogObserver)
class _PipeObserver:
    """A worker's log observer: each event as one JSON line on fd 3."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pid = os.getpid()

    def __call__(self, event: dict[str, Any]) -> None:
        event = dict(event)
        event.setdefault("mf_worker", self.pid)
        try:
            line = eventAsJSON(event).encode("utf-8") + b"\n"
            os.write(self.fd, line)
        except (OSError, TypeError, ValueError):
            pass


def log_observer() -> ILogObserver:
    """twistd ``--logger`` factory of workers (fd 3 is their log pipe)."""
    _die_with_parent()
    return _PipeObserver(LOG_FD)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the supervisor dies (so a
    SIGKILLed supervisor leaves no orphan serving the old sockets)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


# ----------------------------------------------------------- supervisor side


class _Refuse(protocol.Factory):
    """The supervisor never accepts on the sockets it binds."""

    noisy = False

    def buildProtocol(self, addr: Any) -> None:
        return None


class _Worker(protocol.ProcessProtocol):
    """One worker process: relays its log, reports its end."""

    def __init__(self, supervisor: Supervisor, index: int) -> None:
        self.supervisor = supervisor
        self.index = index
        self.started = time.monotonic()
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._buffers: dict[int, bytes] = {}
        self.pid: int | None = None

    def connectionMade(self) -> None:
        self.pid = self.transport.pid  # type: ignore[union-attr]

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        buf = self._buffers.get(childFD, b"") + data
        *lines, rest = buf.split(b"\n")
        self._buffers[childFD] = rest
        for line in lines:
            self._line(childFD, line)

    def _line(self, fd: int, line: bytes) -> None:
        if fd == LOG_FD:
            try:
                event = eventFromJSON(line.decode("utf-8"))
            except ValueError:
                return
            globalLogPublisher(event)
        elif line.strip():
            # a worker's own stdout/stderr: start-up errors, prints
            sys.stderr.write(line.decode("utf-8", "replace") + "\n")

    def processEnded(self, reason: Failure) -> None:
        for fd, rest in self._buffers.items():
            if rest:
                self._line(fd, rest)
        self._buffers.clear()
        self.supervisor._ended(self, reason)
        self.ended.callback(None)


class Supervisor(service.Service):
    """Binds the listeners, runs ``count`` workers and keeps them running."""

    def __init__(self, reactor: Any, count: int, argv: list[str],
                 listeners: list[tuple[str, str, Any]]) -> None:
        self.reactor = reactor
        self.count = count
        self.argv = argv
        self.listeners = listeners
        self.ports: dict[str, Any] = {}
        self.workers: dict[int, _Worker] = {}
        self.failures: dict[int, int] = {}
        self._restarts: dict[int, Any] = {}
        self._stopping = False
        self._old_hup: Any = None
        #: runtime directory for the workers' private sockets
        self.directory = ""
        #: IMAP connections per worker (mailframe.server._balance)
        self.table: Any = None

    def worker_state(self) -> tuple[str, int, list[int]]:
        """(runtime directory, worker count, indexes running now)."""
        return self.directory, self.count, sorted(self.workers)

    # -- start ------------------------------------------------------------

    def privilegedStartService(self) -> None:
        """Bind every listener (before twistd drops privileges)."""
        super().privilegedStartService()  # type: ignore[no-untyped-call]
        for kind, desc, endpoint in self.listeners:
            got: list[Any] = []
            endpoint.listen(_Refuse()).addBoth(got.append)
            if not got or isinstance(got[0], Failure):
                error = got[0].value if got else "did not listen at once"
                reason = getattr(getattr(error, "socketError", None), "strerror", None) or str(error)
                sys.stderr.write(f"mailframe: --{kind} {desc}: {reason.lower()}\n")
                raise SystemExit(1)
            port = got[0]
            port.stopReading()  # the workers accept, never the supervisor
            self.ports[f"{kind} {desc}"] = port

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        import tempfile

        self.directory = tempfile.mkdtemp(prefix="mailframe-workers-")
        from mailframe.server._balance import TABLE_NAME, LoadTable

        self.table = LoadTable(os.path.join(self.directory, TABLE_NAME), self.count, create=True)
        self._old_hup = signal.signal(signal.SIGHUP, self._hup)
        log.info("supervisor pid={pid}: starting {n} workers", pid=os.getpid(), n=self.count)
        for index in range(self.count):
            self._spawn(index)

    def _inherit(self) -> tuple[dict[int, Any], dict[str, list[int]]]:
        fds: dict[int, Any] = {0: "w", 1: "r", 2: "r", LOG_FD: "r"}
        table: dict[str, list[int]] = {}
        for n, (key, port) in enumerate(self.ports.items()):
            # fixed numbers in the worker: the supervisor's own may be any,
            # 3 included (systemd's first socket, freed once adopted)
            fds[FIRST_LISTEN_FD + n] = port.fileno()
            table[key] = [FIRST_LISTEN_FD + n, int(port.socket.family)]
        return fds, table

    def _spawn(self, index: int) -> None:
        self._restarts.pop(index, None)
        if self._stopping:
            return
        fds, table = self._inherit()
        env = dict(os.environ)
        env[WORKER_ENV] = str(index)
        env[LISTEN_ENV] = json.dumps(table)
        env[DIR_ENV] = self.directory
        env[COUNT_ENV] = str(self.count)
        if self.table is not None:
            self.table[index] = 0  # running (its connections died with it)
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "--nodaemon", "--pidfile=", "--logger", "mailframe.server.workers.log_observer",
                "mailframe", *self.argv]
        worker = _Worker(self, index)
        self.workers[index] = worker
        self.reactor.spawnProcess(worker, sys.executable, args, env=env, childFDs=fds)
        log.info("worker {index} started pid={pid}", index=index, pid=worker.pid)

    # -- a worker ended ---------------------------------------------------

    def _ended(self, worker: _Worker, reason: Failure) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
            if self.table is not None:
                from mailframe.server._balance import ABSENT

                self.table[worker.index] = ABSENT
        if self._stopping:
            return
        ran = time.monotonic() - worker.started
        if ran >= STABLE_AFTER:
            self.failures[worker.index] = 0
        fails = self.failures[worker.index] = self.failures.get(worker.index, 0) + 1
        delay = 0.0 if fails <= 1 else min(RESTART_MAX, 0.5 * 2 ** (fails - 2))
        log.warn("worker {index} pid={pid} ended ({reason}) after {ran:.1f}s; restarting in {delay}s",
                 index=worker.index, pid=worker.pid, reason=reason.getErrorMessage(), ran=ran,
                 delay=delay)
        self._restarts[worker.index] = self.reactor.callLater(delay, self._spawn, worker.index)

    # -- signals and stop -------------------------------------------------

    def _hup(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self._signal_all, signal.SIGHUP)

    def _signal_all(self, signum: int) -> None:
        for worker in list(self.workers.values()):
            if worker.pid is not None:
                try:
                    os.kill(worker.pid, signum)
                except ProcessLookupError:
                    pass

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        self._stopping = True
        if self._old_hup is not None:
            signal.signal(signal.SIGHUP, self._old_hup)
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts.clear()
        waits = [w.ended for w in self.workers.values()]
        self._signal_all(signal.SIGTERM)
        kill = self.reactor.callLater(STOP_GRACE, self._signal_all, signal.SIGKILL)
        done: defer.Deferred[Any] = defer.DeferredList(waits)

        def close(_: object) -> defer.Deferred[Any]:
            if kill.active():
                kill.cancel()
            import shutil

            if self.directory:
                shutil.rmtree(self.directory, ignore_errors=True)
            return defer.DeferredList([defer.maybeDeferred(p.stopListening)
                                       for p in self.ports.values()])

        return done.addBoth(close).addBoth(lambda _: None)


def supervisor_service(opts: Any, reactor: Any, count: int,
                       endpoint_for: Callable[[str, str], Any]) -> service.MultiService:
    """The supervisor's service tree for ``opts``: every mail listener
    bound for the workers; --metrics and --health served here."""
    from twisted.application.internet import StreamServerEndpointService
    from twisted.web.server import Site

    from mailframe.ops.loglevel import LogLevelService
    from mailframe.server._worker_ops import AggregateHealth, AggregateMetrics

    root = service.MultiService()
    if opts.get("log-level") is not None:
        LogLevelService(opts["log-level"]).setServiceParent(root)  # type: ignore[no-untyped-call]
    listeners = []
    for kind in ("imap", "imaps", "smtp", "lmtp", "submission", "submissions"):
        for desc in opts.get(kind) or []:
            listeners.append((kind, desc, endpoint_for(kind, desc)))
    supervisor = Supervisor(reactor, count, list(opts.argv), listeners)
    supervisor.setServiceParent(root)  # type: ignore[no-untyped-call]
    for kind, resource in (("metrics", AggregateMetrics), ("health", AggregateHealth)):
        if opts.get(kind):
            site = Site(resource(reactor, supervisor.worker_state))
            site.noisy = False
            svc = StreamServerEndpointService(endpoint_for(kind, opts[kind]), site)
            svc._raiseSynchronously = True
            svc.setServiceParent(root)
    return root
