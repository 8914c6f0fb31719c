"""The operator's log lines, each counted in :mod:`mailframe.ops.metrics`.

One line when an IMAP connection opens (peer, TLS), when it logs in (user,
mechanism, TLS), when a login is refused (peer, user when known, reason),
when it closes (duration, octets in and out); one line per delivered or
refused SMTP/LMTP copy (from, to, size, folder, result, queue id).

Lines are twisted.logger events in the ``mailframe.ops`` namespace; every
field is also a key of the event (``mf_event`` names the kind), so the
JSON observer (:mod:`mailframe.ops.jsonlog`) writes them as fields.  The
text reads ``key=value`` so that ``grep conn=1a2b`` follows a connection.

No event ever carries a password, a SASL response or message content.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from mailframe.ops import metrics

__all__ = ["ImapConnection", "delivery", "refused_connection", "LOGIN_COMMAND"]

log = Logger(namespace="mailframe.ops")

#: The "mechanism" of the LOGIN command (RFC 3501 §6.2.3), distinct from
#: the SASL mechanism named LOGIN.
LOGIN_COMMAND = "LOGIN-COMMAND"

_ids = itertools.count(1)
#: Under --workers the open line names the worker process serving it.
_WORKER_FIELD = " worker={worker}" if os.environ.get("MAILFRAME_WORKER") else ""
_PREFIX = f"{os.getpid() % 0x10000:04x}"


def _next_id() -> str:
    return f"{_PREFIX}-{next(_ids)}"


# Label children looked up once: ``labels()`` costs a lock and a dict
# lookup per call, several times a command otherwise.
_OCTETS = metrics.OCTETS["imap"]

#: A character that cannot be in a tag (RFC 3501 §9: tag = 1*<any
#: ASTRING-CHAR except "+">).
_NOT_TAG = re.compile(rb'[^\x21-\x7e]|[+(){%*"\\]')
_COMMANDS: dict[tuple[str, str], Any] = {}
_SECONDS: dict[str, Any] = {}


def _command_done(command: str, status: str, seconds: float) -> None:
    counter = _COMMANDS.get((command, status))
    if counter is None:
        counter = _COMMANDS[command, status] = metrics.COMMANDS.labels(command, status)
    histogram = _SECONDS.get(command)
    if histogram is None:
        histogram = _SECONDS[command] = metrics.COMMAND_SECONDS.labels(command)
    counter.inc()
    histogram.observe(seconds)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def refused_connection(protocol: str, peer: str, reason: str) -> None:
    """A connection turned away before any session (e.g. too many from
    one address)."""
    metrics.CONNECTIONS_REFUSED.labels(protocol, reason).inc()
    log.info("{protocol} connection refused peer={peer} reason={reason!r}",
             mf_event="connection_refused", protocol=protocol, peer=peer, reason=reason)


class ImapConnection:
    """What one IMAP connection reports: its log lines and its numbers.

    ``state`` is called at scrape time for the connections-by-state gauge.
    ``clock`` is a monotonic clock (seconds), replaceable in tests.
    """

    protocol_name = "imap"

    def __init__(self, peer: str, secure: bool, state: Callable[[], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.id = _next_id()
        self.peer = peer
        self.secure = secure
        self.user: str | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self._state = state
        self._clock = clock
        self._opened = clock()
        self._command: str | None = None
        self._tag = b""
        self._started = 0.0
        self._closed = False
        self._mechanism: str | None = None  # authenticated by, not yet admitted
        self._auth_reported = False

    def state_name(self) -> str:
        """RFC 3501 §3 state, underscored: ``not_authenticated`` ..."""
        return self._state().replace(" ", "_")

    # --- lifecycle ----------------------------------------------------------

    def opened(self) -> None:
        metrics.CONNECTIONS.labels("imap").inc()
        metrics.track(self)
        log.info("imap conn={conn} open peer={peer} tls={tls}" + _WORKER_FIELD,
                 mf_event="imap_open", conn=self.id, peer=self.peer, tls=_yes(self.secure),
                 worker=os.getpid())

    def tls_started(self) -> None:
        self.secure = True

    def authenticated(self, mechanism: str) -> None:
        """Credentials checked; :meth:`admitted` or :meth:`not_admitted`
        follows once the session takes the account."""
        self._mechanism = mechanism

    def admitted(self, user: str) -> None:
        """The session is now logged in as ``user``."""
        self.logged_in(user, self._mechanism or "-")

    def not_admitted(self, user: str, reason: str) -> None:
        """Credentials were good but the login is refused (a limit)."""
        self.login_refused(user, self._mechanism or "-", reason)

    def logged_in(self, user: str, mechanism: str) -> None:
        self.user = user
        self._mechanism = None
        self._auth_reported = True
        metrics.LOGINS.labels(mechanism, "ok").inc()
        log.info("imap conn={conn} login user={user} mechanism={mechanism} tls={tls} peer={peer}",
                 mf_event="imap_login", conn=self.id, user=user, mechanism=mechanism,
                 tls=_yes(self.secure), peer=self.peer)

    def login_refused(self, user: str | None, mechanism: str, reason: str) -> None:
        self._mechanism = None
        self._auth_reported = True
        metrics.LOGINS.labels(mechanism, "failed").inc()
        log.info("imap conn={conn} login refused peer={peer} user={user} mechanism={mechanism} "
                 "tls={tls} reason={reason!r}",
                 mf_event="imap_login_refused", conn=self.id, peer=self.peer,
                 user=user if user is not None else "-", mechanism=mechanism,
                 tls=_yes(self.secure), reason=reason)

    def closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        metrics.untrack(self)
        duration = round(self._clock() - self._opened, 3)
        log.info("imap conn={conn} close peer={peer} user={user} duration={duration}s "
                 "in={bytes_in} out={bytes_out}",
                 mf_event="imap_close", conn=self.id, peer=self.peer,
                 user=self.user if self.user is not None else "-", duration=duration,
                 bytes_in=self.bytes_in, bytes_out=self.bytes_out)

    # --- traffic ------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """Count ``data`` coming in."""
        self.bytes_in += len(data)
        _OCTETS.received += len(data)

    def sent(self, data: bytes) -> None:
        """Count ``data`` going out; a tagged status line ends the command
        in progress (RFC 3501 §2.2.2)."""
        self.bytes_out += len(data)
        _OCTETS.sent += len(data)
        if self._command is not None and data.startswith(self._tag) and data.endswith(b"\r\n"):
            status = data[len(self._tag):len(self._tag) + 4]
            for word in (b"OK ", b"NO ", b"BAD "):
                if status.startswith(word) and data.count(b"\n") == 1:
                    self._done(word.strip().decode("ascii"), data[len(self._tag) + len(word):])
                    break

    def command_taken(self, first_line: bytes) -> None:
        """The session took a new command (its first line)."""
        if self._command is not None:
            return  # a continuation inside AUTHENTICATE or IDLE's DONE
        tag = first_line.split(b" ", 1)[0]
        if not tag or _NOT_TAG.search(tag):
            return  # no valid tag (RFC 3501 §9): the reply is untagged
        self._command = metrics.command_label(first_line)
        self._tag = tag + b" "
        self._started = self._clock()
        self._auth_reported = False

    def _done(self, status: str, text: bytes) -> None:
        command, self._command = self._command, None
        assert command is not None
        if status != "OK" and command in ("LOGIN", "AUTHENTICATE") and not self._auth_reported:
            # Refused before any credentials were checked (plaintext not
            # allowed, a malformed command): the server's own reply text.
            reason = text.decode("utf-8", "replace").strip()[:200]
            self.login_refused(None, LOGIN_COMMAND if command == "LOGIN" else "-", reason)
        _command_done(command, status, self._clock() - self._started)


def delivery(protocol: str, *, queue_id: str, sender: str, recipient: str, user: str,
             size: int, folder: str | None, code: int, seconds: float) -> None:
    """One copy of an SMTP/LMTP message: stored (2xx), deferred (4xx, the
    client retries) or refused (5xx).  ``folder`` is where it went, or
    None when it was not stored."""
    result = "delivered" if code < 400 else "deferred" if code < 500 else "refused"
    metrics.DELIVERIES.labels(protocol, result).inc()
    metrics.DELIVERY_SECONDS.labels(protocol).observe(seconds)
    log.info("{protocol} delivery id={queue_id} from=<{sender}> to=<{recipient}> user={user} "
             "size={size} folder={folder} result={result} code={code}",
             mf_event="delivery", protocol=protocol, queue_id=queue_id, sender=sender,
             recipient=recipient, user=user, size=size, folder=folder or "-", result=result,
             code=code)
