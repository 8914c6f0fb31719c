"""SASL exchanges (RFC 4422) for AUTHENTICATE: PLAIN, LOGIN and CRAM-MD5.

The session owns the wire (base64, ``+`` continuations, ``*`` cancellation,
SASL-IR); an exchange sees decoded bytes only.  ``step(None)`` means "no
initial response"; each step's Deferred gives a :class:`SaslChallenge` to
send, or :class:`SaslSuccess` with the account, or fails with
AuthenticationFailed / PrivacyRequired / LimitExceeded (after the throttle's
delay for a failure), or ProtocolError for a step after the end.

SCRAM-SHA-256 lives in :mod:`mailframe.auth.sasl_scram`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from twisted.internet.defer import Deferred, ensureDeferred

from mailframe.auth.credentials import CramMD5Credentials, UsernamePassword
from mailframe.errors import AuthenticationFailed, ProtocolError

__all__ = ["SaslChallenge", "SaslSuccess", "SaslExchange", "PlainExchange", "LoginExchange",
           "CramMD5Exchange", "AuthBackend"]


@dataclass(frozen=True)
class SaslChallenge:
    """Server data for a ``+ <base64>`` continuation (RFC 3501 §6.2.2)."""

    data: bytes


@dataclass(frozen=True)
class SaslSuccess:
    """Authenticated.  ``final`` is additional data with success (RFC 4422
    §3.6; SCRAM's server-final message), or None."""

    account: Any
    final: bytes | None = None


class AuthBackend(Protocol):
    """What an exchange needs from the :class:`mailframe.auth.authenticator.Authenticator`."""

    async def authenticate(self, credentials: Any, username: str, peer: str, secure: bool,
                           authzid: str | None = None) -> Any: ...

    async def refuse(self, reason: str, peer: str, username: str | None) -> None: ...

    def normalize(self, name: str) -> str: ...


class SaslExchange:
    """One AUTHENTICATE exchange; subclasses implement :meth:`_step`."""

    mechanism = ""

    def __init__(self, backend: AuthBackend, secure: bool, peer: str) -> None:
        self.backend = backend
        self.secure = secure
        self.peer = peer
        self.done = False
        self.cancelled = False
        self._busy = False

    def step(self, response: bytes | None) -> Deferred[SaslChallenge | SaslSuccess]:
        """Feed the client's decoded response (None: no initial response)."""
        if self.done or self.cancelled:
            return Deferred.fromCoroutine(self._raise(ProtocolError("SASL exchange already finished")))
        if self._busy:
            return Deferred.fromCoroutine(self._raise(ProtocolError("SASL step already in progress")))
        self._busy = True
        return ensureDeferred(self._run(response))

    @staticmethod
    async def _raise(error: Exception) -> Any:
        raise error

    async def _run(self, response: bytes | None) -> SaslChallenge | SaslSuccess:
        try:
            result = await self._step(response)
        except BaseException:
            self.done = True
            raise
        finally:
            self._busy = False
        if isinstance(result, SaslSuccess):
            self.done = True
        return result

    def cancel(self) -> None:
        """The client sent ``*`` (RFC 3501 §6.2.2): the exchange is over."""
        self.cancelled = True

    async def _step(self, response: bytes | None) -> SaslChallenge | SaslSuccess:
        raise NotImplementedError

    async def _fail(self, reason: str, username: str | None = None) -> NoReturn:
        """Malformed client data: counted and delayed like a bad password."""
        await self.backend.refuse(reason, self.peer, username)
        raise AuthenticationFailed(reason)

    def _name(self, raw: bytes) -> str | None:
        try:
            return self.backend.normalize(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


class PlainExchange(SaslExchange):
    """PLAIN (RFC 4616 §2): ``[authzid] NUL authcid NUL passwd``, UTF-8."""

    mechanism = "PLAIN"

    async def _step(self, response: bytes | None) -> SaslChallenge | SaslSuccess:
        if response is None:
            return SaslChallenge(b"")
        parts = response.split(b"\x00")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            return await self._fail("Malformed PLAIN response")
        authcid = self._name(parts[1])
        if authcid is None:
            return await self._fail("Invalid user name")
        try:
            authzid = parts[0].decode("utf-8") or None
        except UnicodeDecodeError:
            return await self._fail("Invalid authorization identity", authcid)
        account = await self.backend.authenticate(
            UsernamePassword(authcid, parts[2]), authcid, self.peer, self.secure, authzid)
        return SaslSuccess(account)


class LoginExchange(SaslExchange):
    """The LOGIN mechanism (draft-murchison-sasl-login): ``Username:`` then
    ``Password:`` prompts; a SASL-IR initial response is the user name."""

    mechanism = "LOGIN"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._username: bytes | None = None
        self._started = False

    async def _step(self, response: bytes | None) -> SaslChallenge | SaslSuccess:
        if not self._started:
            self._started = True
            if response is None:
                return SaslChallenge(b"Username:")
        if response is None:
            return await self._fail("Empty LOGIN response")
        if self._username is None:
            self._username = response
            return SaslChallenge(b"Password:")
        authcid = self._name(self._username)
        if authcid is None:
            return await self._fail("Invalid user name")
        account = await self.backend.authenticate(
            UsernamePassword(authcid, response), authcid, self.peer, self.secure)
        return SaslSuccess(account)


class CramMD5Exchange(SaslExchange):
    """CRAM-MD5 (RFC 2195): a ``<msg-id>`` challenge, then ``user hexdigest``.
    Server-first: an initial response is refused (RFC 4959 §3)."""

    mechanism = "CRAM-MD5"

    def __init__(self, backend: AuthBackend, secure: bool, peer: str,
                 hostname: str = "localhost") -> None:
        super().__init__(backend, secure, peer)
        self.credentials = CramMD5Credentials(hostname)
        self._challenged = False

    async def _step(self, response: bytes | None) -> SaslChallenge | SaslSuccess:
        if not self._challenged:
            if response is not None:
                return await self._fail("CRAM-MD5 takes no initial response")
            self._challenged = True
            return SaslChallenge(self.credentials.challenge)
        if response is None:
            return await self._fail("Empty CRAM-MD5 response")
        user, sep, digest = response.rpartition(b" ")
        if not sep or len(digest) != 32 or any(c not in b"0123456789abcdefABCDEF" for c in digest):
            return await self._fail("Malformed CRAM-MD5 response")
        authcid = self._name(user)
        if authcid is None:
            return await self._fail("Invalid user name")
        self.credentials.set_response(authcid, digest)
        account = await self.backend.authenticate(self.credentials, authcid, self.peer, self.secure)
        return SaslSuccess(account)
