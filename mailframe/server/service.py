"""Build the running server from options: one store, one cred portal,
IMAP, SMTP and LMTP listeners sharing them (DESIGN.md, "Configuration and
launch"; issue 6, "One process, one config")."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python import usage

from mailframe.acl.namespaces import Namespaces
from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import CheckerError, InMemoryChecker, open_checker, parse_user_option
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import ConnectionLimiter, LoginThrottle
from mailframe.errors import StoreUnavailable
from mailframe.imap.session import ServerConfig, server_limits
from mailframe.interfaces import IUserDirectory
from mailframe.server.protocol import IMAPFactory, ServerContext
from mailframe.server.workers import (
    adopt,
    inherited,
    load_table,
    supervisor_service,
    worker_index,
)
from mailframe.store import open_store
from mailframe.store.metadata import with_metadata
from mailframe.store.objectid import ObjectIdStore
from mailframe.store.quota import with_quota

log = Logger()


@dataclass
class Prepared:
    """Everything opened while checking the options, before listening."""

    store: Any
    checkers: list[Any] = field(default_factory=list)
    #: The STARTTLS context factory (IMAP and SMTP), or None.
    tls: Any = None
    #: ``(description, endpoint, reloadable factory or None)`` per --imaps.
    imaps: list[tuple[str, Any, Any]] = field(default_factory=list)


def prepare(opts: Any) -> Prepared:
    """Open the store and the users, the TLS certificates, and check every
    endpoint string and that its port is free; any problem becomes a
    one-line UsageError (exit status 1) before logging starts."""
    for kind in ("imap", "imaps", "smtp", "lmtp", "submission", "submissions", "metrics", "health"):
        value = opts.get(kind)
        for desc in value if isinstance(value, list) else [value] if value else []:
            if inherited(kind, desc) or (kind in ("metrics", "health") and worker_index() is not None):
                continue  # the --workers supervisor's (it checked them)
            try:
                endpoint = serverFromString(reactor, desc)
            except (ValueError, KeyError, TypeError) as e:
                raise usage.UsageError(f"--{kind} {desc!r}: {e}") from None
            except OSError as e:  # an ssl: listener's certificate or key file
                where = f" {e.filename}" if e.filename else ""
                raise usage.UsageError(f"--{kind} {desc}:{where}: {(e.strerror or str(e)).lower()}") \
                    from None
            _probe(kind, desc, endpoint)
    checkers: list[Any] = []
    try:
        if opts["user"]:
            checkers.append(InMemoryChecker([parse_user_option(u) for u in opts["user"]]))
        users = opts["users"]
        if users is None:
            path = os.path.join(opts["data-dir"], "users")
            os.makedirs(opts["data-dir"], exist_ok=True)
            if not os.path.exists(path):
                with open(path, "a", encoding="utf-8"):
                    pass
            users = "passwd-file:" + path
        checkers.append(open_checker(users))
    except (CheckerError, OSError) as e:
        raise usage.UsageError(str(e)) from None
    from mailframe.server.tls import TLSConfigError, server_endpoint

    imaps = []
    try:
        for desc in opts["imaps"]:
            endpoint, factory = server_endpoint(reactor, desc)
            imaps.append((desc, endpoint, factory))
        tls = None if opts["no-tls"] else _tls(opts, imaps)
    except TLSConfigError as e:
        raise usage.UsageError(str(e)) from None
    try:
        store = open_store(opts["store"])
    except StoreUnavailable as e:
        raise usage.UsageError(f"--store {opts['store']!r}: {e}") from None
    # QUOTA (RFC 9208): every store's accounts get the users file's limits.
    # METADATA (RFC 5464): entries kept beside the mail, within the limits.
    store = with_metadata(store, opts.get("metadata-limits"))
    # OBJECTID (RFC 8474): stable ids where the store keeps them stable.
    store = ObjectIdStore(store)
    store = with_quota(store, opts.get("quota-default"), checkers)
    return Prepared(store, checkers, tls, imaps)


def _probe(kind: str, desc: str, endpoint: Any) -> None:
    """UsageError naming the option when a TCP listener's port cannot be
    bound (in use, or privileged): one line instead of a traceback once the
    server starts.  Only a check: the real listening happens at start."""
    port = getattr(endpoint, "_port", None)
    if not isinstance(port, int) or isinstance(port, bool) or port == 0:
        return
    interface = str(getattr(endpoint, "_interface", "") or "")
    family = socket.AF_INET6 if ":" in interface or type(endpoint).__name__.startswith("TCP6") \
        else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted's listen does
            probe.bind((interface, port))
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        raise usage.UsageError(f"--{kind} {desc}: {reason}") from None


class _Listener(StreamServerEndpointService):
    """A listener whose failure to listen is one line naming the option
    (should the port be taken between the check and the start)."""

    def __init__(self, kind: str, desc: str, endpoint: Any, factory: Any) -> None:
        super().__init__(endpoint, factory)  # type: ignore[no-untyped-call]
        self._raiseSynchronously = True
        self.option = f"--{kind} {desc}"

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()  # type: ignore[no-untyped-call]
        except CannotListenError as e:
            reason = getattr(e.socketError, "strerror", None) or str(e.socketError)
            sys.stderr.write(f"mailframe: {self.option}: {reason.lower()}\n")
            raise SystemExit(1) from None


def _listen(health: Any, kind: str, desc: str, factory: Any, endpoint: Any = None) -> _Listener:
    """A listener on ``desc`` (or the prepared ``endpoint``), watched by
    the health check."""
    made = endpoint
    endpoint = adopt(reactor, kind, desc,
                     lambda: made if made is not None else serverFromString(reactor, desc))
    return _Listener(kind, desc, health.watch(f"{kind} {desc}", endpoint), factory)


class _Stopping(service.Service):
    """Runs ``stop`` (which may return a Deferred) when the server stops:
    closing the store, flushing the webhook queue."""

    def __init__(self, stop: Any) -> None:
        self.stop = stop

    def stopService(self) -> Any:
        super().stopService()  # type: ignore[no-untyped-call]
        return self.stop()


def make_service(opts: Any) -> service.MultiService:
    note = getattr(opts, "workers_note", None)
    if note:
        log.warn("{note}", note=note)
    if opts.get("workers", 1) > 1 and worker_index() is None:
        return supervisor_service(opts, reactor, opts["workers"], _endpoint_for(opts))
    prepared: Prepared = opts.prepared if hasattr(opts, "prepared") else prepare(opts)
    store = prepared.store
    _warm_imports()
    from mailframe.server.threadpool import install

    # the reactor's thread pool (lighter dispatch than Twisted's), and the
    # GIL switch interval
    install(reactor, switch_interval=opts.get("switch-interval", 1) / 1000 or None)
    root = service.MultiService()
    _Stopping(store.close).setServiceParent(root)  # type: ignore[no-untyped-call]
    health = _operations(opts, root, store)
    if opts.get("stall-warn"):
        from mailframe.server.stallwatch import StallWatch

        watch = StallWatch(reactor, opts["stall-warn"] / 1000)
        reactor.callWhenRunning(watch.start)
        _Stopping(watch.stop).setServiceParent(root)  # type: ignore[no-untyped-call]

    checker = chain(prepared.checkers)
    _log_user_count(prepared.checkers)
    sharing = Namespaces(public_owner=opts["public-owner"],
                         private_seen=opts["acl-private-seen"]) if opts.get("acl") else None
    admins = [a.strip() for a in (opts.get("admins") or "").split(",") if a.strip()]
    portal = Portal(MailRealm(store, admins, sharing=sharing), [checker])
    throttle = LoginThrottle(
        reactor,
        base=opts["login-delay"],
        maximum=opts["login-delay-max"],
        lockout_after=opts["login-lockout"] or None,
        address_lockout_after=opts["login-lockout-address"] or None,
    )
    authenticator = Authenticator(
        portal,
        throttle=throttle,
        allow_insecure_plaintext=bool(opts["allow-plaintext"]),
        hostname=opts["domain-name"],
    )
    limits = replace(server_limits(opts["max-line"], opts["max-literal"], opts["max-depth"],
                                   opts["max-nonsync-literal"] or None),
                     max_preauth_literal=opts["max-preauth-literal"])
    config = ServerConfig(
        limits=limits,
        timeout_auth=opts["timeout"],
        timeout_preauth=opts["timeout-preauth"],
        notify_max_mailboxes=opts.get("notify-max-mailboxes", 1000),
    )
    tls = prepared.tls
    notifier = None
    if opts["webhooks"]:
        from mailframe.smtp.webhooks import WebhookNotifier

        notifier = WebhookNotifier(opts["webhooks"])
        config.events = notifier.notify
        _Stopping(notifier.stop).setServiceParent(root)  # type: ignore[no-untyped-call]
    limiter = ConnectionLimiter(
        per_ip=opts["max-connections-per-ip"] or None,
        per_user=opts["max-connections-per-user"] or None,
        preauth_per_ip=opts["max-preauth-connections-per-ip"] or None,
    )
    table = load_table()
    context = ServerContext(authenticator, config, tls, limiter,
                            on_connection=table.adjust if table is not None else None,
                            compress_level=opts["compress-level"] or None,
                            spool_min=opts.get("spool-literal", 1 << 20),
                            spool_dir=opts.get("spool-dir"))
    factory = IMAPFactory(context)
    reloadable = [tls] if tls is not None else []
    for desc in opts["imap"]:
        _listen(health, "imap", desc, factory).setServiceParent(root)  # type: ignore[no-untyped-call]
    for desc, endpoint, tls_factory in prepared.imaps:
        if tls_factory is not None and tls_factory not in reloadable:
            reloadable.append(tls_factory)
        _listen(health, "imaps", desc, factory, endpoint).setServiceParent(root)  # type: ignore[no-untyped-call]
    from mailframe.smtp.delivery import Delivery

    hooks: list[Any] = [notifier] if notifier is not None else []
    if opts.get("acl"):  # user+folder honours the "p" right (RFC 4314 §2.1)
        from mailframe.acl.post import PostRight

        hooks.insert(0, PostRight(store))
    delivery = Delivery(store, checker, hooks)
    if opts["submission"] or opts["submissions"]:
        from mailframe.smtp.sending import add_submission

        reloadable += add_submission(opts, root, delivery, authenticator, tls, reactor, limiter)
    if reloadable:
        from mailframe.server.tls import install_sighup_reload

        install_sighup_reload(reloadable)

    if opts["smtp"] or opts["lmtp"]:
        from mailframe.smtp.esmtp import smtp_factory
        from mailframe.smtp.lmtp import lmtp_factory

        if not IUserDirectory.providedBy(checker):
            log.warn("--users {users}: {kind} does not provide IUserDirectory, so SMTP/LMTP cannot "
                     "tell which recipients exist and will answer 451 to every one; give a checker "
                     "that provides both ICredentialsChecker and IUserDirectory (see README)",
                     users=opts["users"], kind=type(checker).__name__)
        for desc in opts["smtp"]:
            f = smtp_factory(delivery, opts["domain"], opts["max-size"], tls, opts["domain-name"])
            _listen(health, "smtp", desc, f).setServiceParent(root)  # type: ignore[no-untyped-call]
        for desc in opts["lmtp"]:
            f = lmtp_factory(delivery, opts["domain"], opts["max-size"], None, opts["domain-name"])
            _listen(health, "lmtp", desc, f).setServiceParent(root)  # type: ignore[no-untyped-call]
    return root


#: Modules the first LOGIN and SELECT of a process import lazily (the store
#: layers ask which store class an account is; change hints start inotify).
WARM_IMPORTS = ("mailframe.store.logaccount", "mailframe.store.maildir", "mailframe.store.mbox",
                "mailframe.store.sql.store", "mailframe.store._inotify")


def _warm_imports() -> None:
    """Import :data:`WARM_IMPORTS` before serving: imported lazily they cost
    the first user's session 50-400 ms of reactor time in each worker
    (issue 16, NOOP latency)."""
    import importlib

    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional store's dependency is missing
            pass


def _endpoint_for(opts: Any) -> Any:
    """How the --workers supervisor makes each listener's endpoint: as the
    single process would (``ssl:`` through :func:`server_endpoint`)."""
    from mailframe.server.tls import server_endpoint

    def endpoint_for(kind: str, desc: str) -> Any:
        if kind in ("imaps", "submissions"):
            return server_endpoint(reactor, desc)[0]
        return serverFromString(reactor, desc)

    return endpoint_for


def _operations(opts: Any, root: service.MultiService, store: Any) -> Any:
    """--log-level, --metrics and --health (mailframe.ops); returns the
    Health every listener registers with.  Under --workers the
    supervisor serves --metrics and --health, asking each worker on its
    private socket (:mod:`mailframe.server._worker_ops`)."""
    from mailframe.ops.health import Health, health_service
    from mailframe.ops.loglevel import LogLevelService

    if opts.get("log-level") is not None:
        LogLevelService(opts["log-level"]).setServiceParent(root)  # type: ignore[no-untyped-call]
    health = Health(reactor, store)
    index = worker_index()
    if index is not None:
        from twisted.internet.endpoints import UNIXServerEndpoint

        from mailframe.server._worker_ops import socket_path, worker_site
        from mailframe.server.workers import DIR_ENV

        path = socket_path(os.environ[DIR_ENV], index)
        if os.path.exists(path):
            os.unlink(path)  # the previous run of this worker's
        StreamServerEndpointService(UNIXServerEndpoint(reactor, path), worker_site(health)) \
            .setServiceParent(root)
        return health
    if opts.get("metrics"):
        from mailframe.ops.metrics import metrics_service

        metrics_service(reactor, opts["metrics"]).setServiceParent(root)
    if opts.get("health"):
        health_service(health, opts["health"]).setServiceParent(root)
    return health


def _log_user_count(checkers: list[Any]) -> None:
    """One line with how many users the server knows, from all tables
    (``--user`` entries and the users file together)."""
    names: set[str] = set()
    parts: list[str] = []
    counted = True
    for checker in checkers:
        label = "--user" if isinstance(checker, InMemoryChecker) else \
            getattr(checker, "describe", lambda c=checker: type(c).__name__)()
        probe = getattr(checker, "user_names", None)
        mine = probe() if callable(probe) else None
        if mine is None:
            counted = False
            parts.append(f"{label}: not listed")
            continue
        mine = list(mine)
        names.update(mine)
        parts.append(f"{label}: {len(mine)}")
    total = str(len(names)) if counted else f"{len(names)} listed"
    log.info("users: {total} ({parts})", total=total, parts="; ".join(parts))


def chain(checkers: list[Any]) -> Any:
    """One checker for the portal: the only one, or the first that knows
    the user (``--user`` entries before the users file)."""
    if len(checkers) == 1:
        return checkers[0]
    from mailframe.auth.chain import ChainedChecker

    return ChainedChecker(checkers)


def _tls(opts: Any, imaps: list[tuple[str, Any, Any]]) -> Any:
    """The STARTTLS context factory (IMAP and SMTP): ``--tls-cert``; else
    the certificate an ``--imaps`` listener names (one certificate
    configured anywhere serves everywhere); else a self-signed one
    generated into the data directory on first run."""
    from mailframe.server.tls import ReloadableContextFactory, ensure_certificate, ssl_certificate

    if opts["tls-cert"]:
        return ReloadableContextFactory(opts["tls-cert"], opts["tls-key"])
    for desc, _endpoint, factory in imaps:
        if factory is not None:
            log.info("STARTTLS uses the certificate of --imaps {desc} ({path})", desc=desc,
                     path=factory.cert_path)
            return factory
        named = ssl_certificate(desc)
        if named is not None:
            log.info("STARTTLS uses the certificate of --imaps {desc} ({path})", desc=desc,
                     path=named[0])
            return ReloadableContextFactory(*named)
    cert, key = ensure_certificate(opts["data-dir"], opts["domain-name"])
    return ReloadableContextFactory(cert, key)
