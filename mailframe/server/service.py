"""Build the running server from options: one store, one cred portal,
IMAP, SMTP and LMTP listeners sharing them (DESIGN.md, "Configuration and
launch"; issue 6, "One process, one config")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from twisted.application import service, strports
from twisted.application.internet import StreamServerEndpointService
from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python import usage

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import CheckerError, InMemoryChecker, open_checker, parse_user_option
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import ConnectionLimiter
from mailframe.errors import StoreUnavailable
from mailframe.imap.session import ServerConfig, server_limits
from mailframe.server.protocol import IMAPFactory, ServerContext
from mailframe.store import open_store

log = Logger()


@dataclass
class Prepared:
    """Everything opened while checking the options, before listening."""

    store: Any
    checkers: list[Any] = field(default_factory=list)


def prepare(opts: Any) -> Prepared:
    """Open the store and the users, and check every endpoint string;
    any problem becomes a one-line UsageError (exit status 1)."""
    for kind in ("imap", "imaps", "smtp", "lmtp", "submission", "submissions"):
        for desc in opts[kind]:
            try:
                serverFromString(reactor, desc)
            except (ValueError, KeyError, TypeError) as e:
                raise usage.UsageError(f"--{kind} {desc!r}: {e}") from None
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
    try:
        store = open_store(opts["store"])
    except StoreUnavailable as e:
        raise usage.UsageError(f"--store {opts['store']!r}: {e}") from None
    return Prepared(store, checkers)


class _Stopping(service.Service):
    """Runs ``stop`` (which may return a Deferred) when the server stops:
    closing the store, flushing the webhook queue."""

    def __init__(self, stop: Any) -> None:
        self.stop = stop

    def stopService(self) -> Any:
        super().stopService()  # type: ignore[no-untyped-call]
        return self.stop()


def make_service(opts: Any) -> service.MultiService:
    prepared: Prepared = opts.prepared if hasattr(opts, "prepared") else prepare(opts)
    store = prepared.store
    root = service.MultiService()
    _Stopping(store.close).setServiceParent(root)  # type: ignore[no-untyped-call]

    checker = chain(prepared.checkers)
    portal = Portal(MailRealm(store), [checker])
    authenticator = Authenticator(
        portal,
        allow_insecure_plaintext=bool(opts["allow-plaintext"]),
        hostname=opts["domain-name"],
    )
    limits = server_limits(opts["max-line"], opts["max-literal"], opts["max-depth"])
    config = ServerConfig(
        limits=limits,
        timeout_auth=opts["timeout"],
        timeout_preauth=opts["timeout-preauth"],
    )
    tls = None if opts["no-tls"] else _tls(opts)
    notifier = None
    if opts["webhooks"]:
        from mailframe.smtp.webhooks import WebhookNotifier

        notifier = WebhookNotifier(opts["webhooks"])
        config.events = notifier.notify
        _Stopping(notifier.stop).setServiceParent(root)  # type: ignore[no-untyped-call]
    limiter = ConnectionLimiter(
        per_ip=opts["max-connections-per-ip"] or None,
        per_user=opts["max-connections-per-user"] or None,
    )
    context = ServerContext(authenticator, config, tls, limiter)
    factory = IMAPFactory(context)
    reloadable = [tls] if tls is not None else []
    for desc in opts["imap"]:
        strports.service(desc, factory).setServiceParent(root)
    for desc in opts["imaps"]:
        from mailframe.server.tls import server_endpoint

        endpoint, tls_factory = server_endpoint(reactor, desc)
        if tls_factory is not None:
            reloadable.append(tls_factory)
        StreamServerEndpointService(endpoint, factory).setServiceParent(root)
    from mailframe.smtp.delivery import Delivery

    delivery = Delivery(store, checker, [notifier] if notifier is not None else [])
    if opts["submission"] or opts["submissions"]:
        from mailframe.smtp.sending import add_submission

        reloadable += add_submission(opts, root, delivery, authenticator, tls, reactor, limiter)
    if reloadable:
        from mailframe.server.tls import install_sighup_reload

        install_sighup_reload(reloadable)

    if opts["smtp"] or opts["lmtp"]:
        from mailframe.smtp.esmtp import smtp_factory
        from mailframe.smtp.lmtp import lmtp_factory

        for desc in opts["smtp"]:
            f = smtp_factory(delivery, opts["domain"], opts["max-size"], tls, opts["domain-name"])
            strports.service(desc, f).setServiceParent(root)
        for desc in opts["lmtp"]:
            f = lmtp_factory(delivery, opts["domain"], opts["max-size"], None, opts["domain-name"])
            strports.service(desc, f).setServiceParent(root)
    return root


def chain(checkers: list[Any]) -> Any:
    """One checker for the portal: the only one, or the first that knows
    the user (``--user`` entries before the users file)."""
    if len(checkers) == 1:
        return checkers[0]
    from mailframe.auth.chain import ChainedChecker

    return ChainedChecker(checkers)


def _tls(opts: Any) -> Any:
    """The STARTTLS context factory: the given certificate, or a
    self-signed one generated into the data directory on first run."""
    from mailframe.server.tls import ReloadableContextFactory, ensure_certificate

    if opts["tls-cert"]:
        return ReloadableContextFactory(opts["tls-cert"], opts["tls-key"])
    cert, key = ensure_certificate(opts["data-dir"], opts["domain-name"])
    return ReloadableContextFactory(cert, key)
