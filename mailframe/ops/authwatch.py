"""Watch one IMAP connection's logins: which mechanism, which user, why
refused.

:class:`WatchedAuthenticator` stands between the session and the shared
authenticator (:class:`mailframe.auth.authenticator.Authenticator`) of one
connection.  It passes every call through unchanged and tells the
connection's :class:`mailframe.ops.events.ImapConnection` the outcome of
LOGIN (RFC 3501 §6.2.3) and of each AUTHENTICATE exchange (§6.2.2).

The user name of a refused SASL login is read from the client's response
as the mechanism defines it (PLAIN's authcid, RFC 4616 §2; LOGIN's first
answer; CRAM-MD5's user, RFC 2195 §2; SCRAM's ``n=``, RFC 5802 §5.1):
only the name is kept, never the rest of the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from mailframe.ops.events import LOGIN_COMMAND, ImapConnection

__all__ = ["WatchedAuthenticator", "sasl_username"]

_MAX_NAME = 64



def _clip(raw: bytes) -> str | None:
    name = raw.decode("utf-8", "replace")[:_MAX_NAME]
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in name) or None


def sasl_username(mechanism: str, response: bytes | None, step: int) -> str | None:
    """The user name in the ``step``-th (0-based) client response of
    ``mechanism``, or None when this response carries none."""
    if response is None:
        return None
    if mechanism == "PLAIN":
        parts = response.split(b"\x00")
        return _clip(parts[1]) if len(parts) == 3 else None
    if mechanism == "LOGIN":
        return _clip(response) if step == 0 else None
    if mechanism == "CRAM-MD5":
        user, sep, _digest = response.rpartition(b" ")
        return _clip(user) if sep else None
    if mechanism.startswith("SCRAM-"):
        for attr in response.split(b","):
            if attr.startswith(b"n="):
                return _clip(attr[2:].replace(b"=2C", b",").replace(b"=3D", b"="))
    return None


def _reason(failure: Failure) -> str:
    error = failure.value
    text = getattr(error, "text", None) or str(error) or type(error).__name__
    return str(text)[:200]


class WatchedAuthenticator:
    """The session's authenticator for one connection (see module doc)."""

    def __init__(self, inner: Any, connection: ImapConnection) -> None:
        self._inner = inner
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def plaintext_allowed(self, secure: bool, peer: str) -> bool:
        return bool(self._inner.plaintext_allowed(secure, peer))

    def mechanisms(self, secure: bool, peer: str,
                   channel_binding: Mapping[str, bytes] | None = None) -> list[str]:
        return list(self._inner.mechanisms(secure, peer, channel_binding))

    def login(self, username: str, password: str | bytes, secure: bool, peer: str) -> Any:
        d: Deferred[Any] = self._inner.login(username, password, secure, peer)
        connection = self._connection
        name = _clip(username.encode("utf-8", "replace") if isinstance(username, str) else username)

        def ok(account: Any) -> Any:
            connection.authenticated(LOGIN_COMMAND)
            return account

        def failed(failure: Failure) -> Failure:
            connection.login_refused(name, LOGIN_COMMAND, _reason(failure))
            return failure

        return d.addCallbacks(ok, failed)

    def start(self, mechanism: str, secure: bool, peer: str,
              channel_binding: Mapping[str, bytes] | None = None) -> Any:
        mech = mechanism.upper()
        try:
            exchange = self._inner.start(mech, secure, peer, channel_binding)
        except Exception as e:
            label = mech if mech in self._inner.mechanisms(True, "", None) else "OTHER"
            self._connection.login_refused(None, label, _reason(Failure(e)))
            raise
        return _WatchedExchange(exchange, mech, self._connection)


class _WatchedExchange:
    """One AUTHENTICATE exchange, reporting how it ended."""

    def __init__(self, inner: Any, mechanism: str, connection: ImapConnection) -> None:
        self._inner = inner
        self._mechanism = mechanism
        self._connection = connection
        self._steps = 0
        self._user: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def step(self, response: bytes | None) -> Deferred[Any]:
        if response is not None:
            self._user = sasl_username(self._mechanism, response, self._steps) or self._user
            self._steps += 1
        d: Deferred[Any] = self._inner.step(response)

        def ok(result: Any) -> Any:
            account = getattr(result, "account", None)
            if account is not None:
                self._connection.authenticated(self._mechanism)
            return result

        def failed(failure: Failure) -> Failure:
            self._connection.login_refused(self._user, self._mechanism, _reason(failure))
            return failure

        return d.addCallbacks(ok, failed)

    def cancel(self) -> None:
        self._connection.login_refused(self._user, self._mechanism, "cancelled by the client")
        cancel = getattr(self._inner, "cancel", None)
        if cancel is not None:
            cancel()
