"""A checker that asks an HTTP(S) endpoint, through treq.

Request (``POST`` to the configured URL, ``Content-Type: application/json``)::

    {"action": "authenticate", "username": "alice", "password": "...", "service": "imap"}
    {"action": "exists", "username": "alice", "service": "imap"}

Response: HTTP 200 with ``{"ok": true}`` or ``{"ok": false}``; 401, 403 and
404 also mean "no".  Anything else (other status, bad JSON, a timeout, a
refused connection) is :class:`AuthServiceUnavailable` — the Authenticator
answers ``NO [UNAVAILABLE]`` rather than pretend the password was wrong.

HTTPS certificates are verified (Twisted's browser-like policy, the
platform's trust store unless ``trust_root`` is given).  Answers are cached
briefly, keyed by a keyed hash of the password (never the password itself):
``positive_ttl`` for yes, ``negative_ttl`` for no.  Identical questions
asked at the same time share one request, and at most ``max_concurrent``
requests are in flight, so a login storm does not become a storm on the
auth service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from treq.client import HTTPClient
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, DeferredSemaphore, ensureDeferred
from twisted.logger import Logger
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from zope.interface import implementer

from mailframe.auth.credentials import normalize_username
from mailframe.interfaces import IUserDirectory

__all__ = ["HTTPChecker", "AuthServiceUnavailable"]

_log = Logger()
_NO = frozenset({401, 403, 404})


class AuthServiceUnavailable(Exception):
    """The HTTP auth service did not give a usable answer."""


@implementer(ICredentialsChecker, IUserDirectory)
class HTTPChecker:
    """``IUsernamePassword`` (LOGIN, PLAIN, LOGIN mechanism) over HTTP JSON."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, url: str, *, timeout: float = 5.0, positive_ttl: float = 60.0,
                 negative_ttl: float = 5.0, service: str = "imap", reactor: Any = None,
                 trust_root: Any = None, headers: dict[str, str] | None = None,
                 persistent: bool = True, cache_size: int = 10_000, max_concurrent: int = 20,
                 normalize: Callable[[str], str] = normalize_username) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"HTTP checker wants an http:// or https:// URL, got {url!r}")
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.url = url
        self.timeout = timeout
        self.positive_ttl = positive_ttl
        self.negative_ttl = negative_ttl
        self.service = service
        self.reactor = reactor
        self.headers: dict[bytes | str, bytes | str] = {
            "Content-Type": "application/json", "Accept": "application/json"}
        self.headers.update(headers or {})
        self.normalize = normalize
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, bytes], tuple[bool, float]] = OrderedDict()
        self._key = secrets.token_bytes(32)
        self._inflight: dict[tuple[str, str, bytes], list[Deferred[bool]]] = {}
        self._slots = DeferredSemaphore(max_concurrent)
        self._pool = HTTPConnectionPool(reactor, persistent=persistent)
        policy = BrowserLikePolicyForHTTPS(trustRoot=trust_root)
        self._client = HTTPClient(Agent(reactor, contextFactory=policy, pool=self._pool))

    def close(self) -> Deferred[None]:
        """Close pooled connections (on shutdown, and in tests)."""
        return self._pool.closeCachedConnections()  # type: ignore[no-any-return]

    # -- cache --------------------------------------------------------------
    def _cache_get(self, key: tuple[str, str, bytes]) -> bool | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[1] < self.reactor.seconds():
            del self._cache[key]
            return None
        return hit[0]

    def _cache_put(self, key: tuple[str, str, bytes], value: bool) -> None:
        ttl = self.positive_ttl if value else self.negative_ttl
        if ttl <= 0:
            return
        self._cache[key] = (value, self.reactor.seconds() + ttl)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # -- the HTTP call ------------------------------------------------------
    async def _ask(self, body: dict[str, Any]) -> bool:
        d = self._client.post(self.url, data=json.dumps(body).encode("utf-8"),
                              headers=self.headers)
        d.addTimeout(self.timeout, self.reactor)
        try:
            response = await d
            content = response.content()
            content.addTimeout(self.timeout, self.reactor)
            raw = await content
        except Exception as e:
            _log.warn("auth service {url} failed: {err}", url=self.url, err=repr(e))
            raise AuthServiceUnavailable(f"auth service failed: {e.__class__.__name__}") from None
        if response.code in _NO:
            return False
        if response.code != 200:
            _log.warn("auth service {url} answered HTTP {code}", url=self.url, code=response.code)
            raise AuthServiceUnavailable(f"auth service answered HTTP {response.code}")
        try:
            answer = json.loads(raw)
            ok = answer["ok"]
            if not isinstance(ok, bool):
                raise TypeError("ok must be a boolean")
        except (ValueError, KeyError, TypeError) as e:
            _log.warn("auth service {url} answered unusable JSON: {err}", url=self.url, err=e)
            raise AuthServiceUnavailable("auth service answered unusable JSON") from None
        return ok

    async def _cached(self, action: str, username: str, password: bytes | None) -> bool:
        digest = b"" if password is None else hmac.new(self._key, password, hashlib.sha256).digest()
        key = (action, username, digest)
        hit = self._cache_get(key)
        if hit is not None:
            return hit
        waiters = self._inflight.get(key)
        if waiters is not None:  # the same question is already being asked
            waiter: Deferred[bool] = Deferred()
            waiters.append(waiter)
            return await waiter
        self._inflight[key] = []
        body: dict[str, Any] = {"action": action, "username": username, "service": self.service}
        if password is not None:
            body["password"] = password.decode("utf-8")
        try:
            ok = await self._slots.run(lambda: ensureDeferred(self._ask(body)))
        except BaseException as e:
            for w in self._inflight.pop(key):
                w.errback(e)
            raise
        self._cache_put(key, ok)
        for w in self._inflight.pop(key):
            w.callback(ok)
        return ok

    # -- ICredentialsChecker / IUserDirectory ---------------------------------
    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        return ensureDeferred(self._check(credentials))

    async def _check(self, credentials: Any) -> str:
        try:
            name = self.normalize(credentials.username)
            password = credentials.password
            if isinstance(password, str):
                password = password.encode("utf-8")
            password.decode("utf-8")
        except (ValueError, UnicodeError):
            raise UnauthorizedLogin("invalid user name or password encoding") from None
        if not await self._cached("authenticate", name, password):
            raise UnauthorizedLogin("rejected by the auth service")
        return name

    def exists(self, username: str) -> Deferred[bool]:
        return ensureDeferred(self._exists(username))

    async def _exists(self, username: str) -> bool:
        try:
            name = self.normalize(username)
        except ValueError:
            return False
        return await self._cached("exists", name, None)
