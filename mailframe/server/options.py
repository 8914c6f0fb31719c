"""``twistd mailframe`` options (DESIGN.md, "Configuration and launch").

Every listener is a Twisted endpoint string and may be repeated; the store
and the users are short URL-like strings resolved through entry points.
Anything wrong is a one-line usage error and exit status 1.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.python import usage

from mailframe.imap.limits import Limits

DEFAULT_DATA = "mailframe-data"
DEFAULT_IMAP = "tcp:1143:interface=127.0.0.1"
DEFAULT_SMTP = "tcp:2525:interface=127.0.0.1"


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Run the mailframe IMAP server (and SMTP/LMTP delivery into the same store). "
        "With no options: IMAP on localhost:1143, SMTP on localhost:2525, Maildir "
        "store and users file under ./mailframe-data."
    )

    optParameters = [
        ["admins", None, "", "Comma-separated users who may administer every mailbox (with --acl) "
                             "and log in as anyone (SASL authorization identity)."],
        ["public-owner", None, "public", "With --acl: the store account holding the Public/ "
                                         "mailboxes (nobody needs to log in as it)."],
        ["acl-private-seen", None, "off", "With --acl: whose \\Seen is each reader's own: public "
                                             "(Public/ mailboxes), shared (every mailbox one does "
                                             "not own) or off."],
        ["data-dir", "d", DEFAULT_DATA, "Directory for the default store, users file and TLS certificate."],
        ["store", "s", None, "Mail store: memory, maildir:PATH (%u = user name), or a plugin's URL. "
                             "Default: maildir:<data-dir>/mail"],
        ["users", "u", None, "Users: passwd-file:PATH, http(s)://URL or a plugin's URL. "
                             "Default: passwd-file:<data-dir>/users"],
        ["tls-cert", None, None, "PEM certificate (chain) for STARTTLS and SMTP STARTTLS."],
        ["tls-key", None, None, "PEM private key for --tls-cert."],
        ["domain-name", None, "localhost", "Host name for greetings and SASL."],
        ["max-line", None, str(Limits.max_line), "Longest command line in bytes."],
        ["max-literal", None, str(Limits.max_literal), "Largest literal (APPEND size) in bytes."],
        ["max-depth", None, str(Limits.max_depth), "Deepest parenthesis nesting in a command."],
        ["compress-level", None, "6",
         "zlib level (1-9) for COMPRESS=DEFLATE (RFC 4978); 0 does not offer COMPRESS."],
        ["max-nonsync-literal", None, "0",
         "Largest non-synchronizing literal {n+} in bytes (0: as --max-literal, advertised as "
         "LITERAL+; 4096: LITERAL-, RFC 7888)."],
        ["max-preauth-literal", None, str(Limits.max_preauth_literal),
         "Largest literal before login, in bytes (a whole command before login is bounded by --max-line)."],
        ["max-connections-per-ip", None, "50", "Concurrent logged-in connections from one address "
                                               "(0: no limit)."],
        ["max-preauth-connections-per-ip", None, "100",
         "Concurrent connections from one address not yet logged in; past it the oldest idle one is "
         "closed to admit a new one (0: no limit)."],
        ["max-connections-per-user", None, "50", "Concurrent logged-in sessions of one user (0: no limit)."],
        ["max-size", None, str(50 * 1024 * 1024), "Largest message accepted by SMTP/LMTP."],
        ["quota-storage", None, None, "Default QUOTA (RFC 9208) storage limit per user, e.g. 1G, "
                                      "500M (bytes without a suffix); a user's quota_rule in the "
                                      "users file overrides it.  Default: none."],
        ["quota-messages", None, None, "Default QUOTA (RFC 9208) message-count limit per user.  "
                                       "Default: none."],
        ["metadata-max-size", None, str(64 * 1024),
         "Largest METADATA (RFC 5464) entry value in bytes (at least 1024)."],
        ["metadata-max-entries", None, "100",
         "Most METADATA entries on one mailbox, or on the server, per user (at least 10)."],
        ["timeout", None, "1800", "Autologout after this many idle seconds once logged in (RFC 3501 §5.4)."],
        ["timeout-preauth", None, "60", "Seconds an unauthenticated connection may stay idle."],
        ["notify-max-mailboxes", None, "1000",
         "Mailboxes one IMAP NOTIFY may watch; more is NO [NOTIFICATIONOVERFLOW] (RFC 5465)."],
        ["relay", None, None, "Send outbound mail through this smarthost, smtp://user:pass@host:587 "
                              "(STARTTLS required, certificate verified) or smtps://... "
                              "Default: direct delivery to each domain's MX."],
        ["relay-ca", None, None, "PEM CA certificate(s) to verify the --relay host with "
                                 "(default: the system's trust store)."],
        ["queue-dir", None, None, "Outbound queue directory. Default: <data-dir>/queue"],
        ["queue-lifetime", None, str(5 * 24 * 3600), "Seconds before undeliverable mail is bounced."],
        ["queue-retry", None, "300", "Seconds before the first retry (doubling after each)."],
        ["queue-retry-max", None, str(4 * 3600), "Longest wait between retries, in seconds."],
        ["dns", None, None, "HOST:PORT of the DNS server for MX lookups (default: resolv.conf)."],
        ["mx-port", None, "25", "Port to connect to on MX hosts."],
        # Operations (mailframe.ops): log level, Prometheus metrics, health checks.
        ["log-level", None, "info", "Drop log events below this level: debug, info, warn, error, critical."],
        ["metrics", None, None, "Endpoint serving Prometheus metrics, e.g. tcp:9100:interface=127.0.0.1"],
        ["health", None, None, "Endpoint answering health checks (200 or 503), e.g. tcp:8080:interface=127.0.0.1"],
        ["login-delay", None, "1", "Seconds a failed login waits; doubles per failure of one user "
                                   "from one address."],
        ["login-delay-max", None, "15", "Longest failed-login delay, in seconds."],
        ["login-lockout", None, "10", "Failures of one user from one address before that pair is "
                                      "refused for a while (0: never)."],
        ["login-lockout-address", None, "100", "Failures from one address, any users, before it is "
                                               "refused for a while (0: never)."],
        ["workers", None, None, "Server processes sharing the listeners, under one supervisor that "
                                "restarts them (default: the number of CPUs; 1: one process, no "
                                "supervisor; --store memory always runs one)."],
        ["spool-literal", None, str(1 << 20), "APPEND literals of at least this many bytes are "
                                              "written to a temporary file as they arrive, off the "
                                              "reactor, instead of held in memory (0: never)."],
        ["spool-dir", None, None, "Directory for those temporary files (default: the system's, "
                                  "e.g. $TMPDIR or /tmp)."],
        ["stall-warn", None, "0", "Log what the reactor was doing whenever it kept connections "
                                  "waiting longer than this many milliseconds (0: off)."],
        ["switch-interval", None, "1", "Milliseconds a thread computing in Python keeps the GIL "
                                       "from the reactor thread (0: Python's default, 5)."],
    ]
    optFlags = [
        ["no-smtp", None, "Do not start the default SMTP listener."],
        ["no-tls", None, "Do not offer STARTTLS (no certificate is generated)."],
        ["allow-plaintext", None, "Allow LOGIN/PLAIN on unencrypted connections from any address "
                                  "(by default only from loopback)."],
        ["acl", None, "Shared mailboxes under access control (RFC 4314 ACL, RFC 2342 namespaces): "
                      "other users' under shared/USER/, public ones under Public/ (Maildir and memory "
                      "stores)."],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["imap"] = []
        self["imaps"] = []
        self["smtp"] = []
        self["lmtp"] = []
        self["user"] = []
        self["domain"] = []
        self["webhooks"] = []
        self["submission"] = []
        self["submissions"] = []
        self["dkim-key"] = []

    def opt_imap(self, endpoint: str) -> None:
        """IMAP listener endpoint (repeatable). Default: tcp:1143:interface=127.0.0.1"""
        self["imap"].append(endpoint)

    def opt_imaps(self, endpoint: str) -> None:
        """Implicit-TLS IMAP listener, e.g. ssl:993:privateKey=key.pem:certKey=cert.pem (repeatable)."""
        self["imaps"].append(endpoint)

    def opt_smtp(self, endpoint: str) -> None:
        """SMTP listener endpoint (repeatable). Default: tcp:2525:interface=127.0.0.1"""
        self["smtp"].append(endpoint)

    def opt_lmtp(self, endpoint: str) -> None:
        """LMTP listener endpoint, e.g. unix:/run/mailframe/lmtp (repeatable)."""
        self["lmtp"].append(endpoint)

    def opt_submission(self, endpoint: str) -> None:
        """Message submission listener (RFC 6409; STARTTLS before AUTH), e.g. tcp:587 (repeatable)."""
        self["submission"].append(endpoint)

    def opt_submissions(self, endpoint: str) -> None:
        """Implicit-TLS submission listener (RFC 8314), e.g. ssl:465:privateKey=..:certKey=.. (repeatable)."""
        self["submissions"].append(endpoint)

    def opt_dkim_key(self, spec: str) -> None:
        """DOMAIN:SELECTOR:KEYFILE, sign outbound mail from DOMAIN with DKIM (repeatable)."""
        self["dkim-key"].append(spec)

    def opt_user(self, spec: str) -> None:
        """NAME:PASSWORD, a user for quick trials and tests (repeatable)."""
        self["user"].append(spec)

    def opt_domain(self, name: str) -> None:
        """A mail domain SMTP/LMTP accept mail for (repeatable). Default: localhost"""
        self["domain"].append(name)

    def opt_webhook(self, url: str) -> None:
        """URL to POST mail events to (repeatable)."""
        self["webhooks"].append(url)

    def postOptions(self) -> None:
        for name in ("spool-literal", "max-line", "max-literal", "max-depth", "max-nonsync-literal", "max-preauth-literal",
                     "max-connections-per-ip",
                     "max-preauth-connections-per-ip", "max-connections-per-user", "max-size",
                     "login-lockout", "login-lockout-address"):
            self[name] = _int(self, name)
        self["compress-level"] = _int(self, "compress-level")
        self["notify-max-mailboxes"] = _int(self, "notify-max-mailboxes")
        self["stall-warn"] = _number(self, "stall-warn", zero=True)
        self["switch-interval"] = _number(self, "switch-interval", zero=True)
        if self["compress-level"] > 9:
            raise usage.UsageError("--compress-level goes from 0 (COMPRESS off) to 9")
        for name in ("timeout", "timeout-preauth", "queue-lifetime", "queue-retry", "queue-retry-max"):
            self[name] = _number(self, name)
        self["mx-port"] = _int(self, "mx-port")
        if self["acl-private-seen"] not in ("off", "public", "shared"):
            raise usage.UsageError("--acl-private-seen is one of off, public, shared")
        if self["relay"] is not None:
            from mailframe.smtp.outbound import parse_relay

            try:
                parse_relay(self["relay"])
            except ValueError as e:
                raise usage.UsageError(str(e)) from None
        if self["queue-dir"] is None:
            self["queue-dir"] = os.path.join(self["data-dir"], "queue")
        from mailframe.ops.loglevel import parse_level

        try:
            self["log-level"] = parse_level(self["log-level"])
        except ValueError as e:
            raise usage.UsageError(f"--log-level: {e}") from None
        for name in ("login-delay", "login-delay-max"):
            self[name] = _number(self, name, zero=True)
        if bool(self["tls-cert"]) != bool(self["tls-key"]):
            raise usage.UsageError("--tls-cert and --tls-key go together")
        data = self["data-dir"]
        if self["store"] is None:
            self["store"] = "maildir:" + os.path.join(data, "mail")
        self["workers"] = _workers(self)
        if not self["imap"] and not self["imaps"]:
            self["imap"] = [DEFAULT_IMAP]
        if not self["smtp"] and not self["no-smtp"]:
            self["smtp"] = [DEFAULT_SMTP]
        if not self["domain"]:
            self["domain"] = ["localhost"]
        self["quota-default"] = _quota_default(self)
        self["metadata-limits"] = _metadata_limits(self)


def _quota_default(opts: Any) -> Any:
    """--quota-storage and --quota-messages as one QuotaLimits."""
    from mailframe.quota import QuotaLimits, parse_size

    try:
        storage = parse_size(opts["quota-storage"]) if opts["quota-storage"] else None
        messages = parse_size(opts["quota-messages"]) if opts["quota-messages"] else None
    except ValueError as e:
        raise usage.UsageError(f"--quota-storage/--quota-messages: {e}") from None
    return QuotaLimits(storage or None, messages or None)


def _metadata_limits(opts: Any) -> Any:
    """--metadata-max-size and --metadata-max-entries (RFC 5464 §4.1: a
    server takes values of 1024 octets and 10 entries at least)."""
    from mailframe.store.metadata import MetadataLimits

    size, entries = _int(opts, "metadata-max-size"), _int(opts, "metadata-max-entries")
    if size < 1024 or entries < 10:
        raise usage.UsageError("METADATA limits: --metadata-max-size 1024 and "
                               "--metadata-max-entries 10 at least (RFC 5464 §4.1)")
    return MetadataLimits(size, entries)


def _workers(opts: Any) -> int:
    """--workers: a count of at least 1, the number of CPUs by default,
    and 1 for the memory store (its mailboxes live in one process's
    memory and cannot be shared)."""
    if opts["workers"] is None:
        count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        count = max(1, count or 1)
    else:
        count = _int(opts, "workers")
        if count < 1:
            raise usage.UsageError("--workers must be at least 1")
    opts.workers_note = None
    if count > 1 and opts["store"].partition(":")[0] == "memory":
        opts.workers_note = (f"--store memory cannot be shared between processes: running one "
                             f"process instead of {count} workers")
        count = 1
    return count


def _int(opts: Any, name: str) -> int:
    try:
        value = int(opts[name])
    except ValueError:
        raise usage.UsageError(f"--{name} wants a whole number, got {opts[name]!r}") from None
    if value < 0:
        raise usage.UsageError(f"--{name} must not be negative")
    return value


def _number(opts: Any, name: str, zero: bool = False) -> float:
    try:
        value = float(opts[name])
    except ValueError:
        raise usage.UsageError(f"--{name} wants a number of seconds, got {opts[name]!r}") from None
    if value < 0 or (value == 0 and not zero) or value != value:
        raise usage.UsageError(f"--{name} must be {'zero or more' if zero else 'positive'}")
    return value
