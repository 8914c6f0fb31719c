"""The object the IMAP session authenticates through.

It wraps a twisted.cred Portal (realm: :class:`mailframe.auth.realm.MailRealm`)
and adds what IMAP needs around it: which SASL mechanisms to advertise, the
plaintext policy (LOGINDISABLED, ``[PRIVACYREQUIRED]``; RFC 3501 §6.2.3,
RFC 9051 §11.1), and failed-login delays (:class:`LoginThrottle`).

Every failure reaches the session as one of AuthenticationFailed,
PrivacyRequired or LimitExceeded (all CommandFailed → tagged NO), or
ProtocolError for a step after an exchange ended.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword
from twisted.cred.error import LoginFailed
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from mailframe.auth.credentials import (
    AuthorizationRefused,
    IScramCredentials,
    IScramSecretSource,
    LoginMind,
    UsernamePassword,
    normalize_username,
)
from mailframe.auth.sasl import (
    CramMD5Exchange,
    LoginExchange,
    PlainExchange,
    SaslChallenge,
    SaslExchange,
    SaslSuccess,
)
from mailframe.auth.sasl_scram import ScramSha256Exchange
from mailframe.auth.throttle import LoginThrottle
from mailframe.errors import AuthenticationFailed, CannotDo, MailframeError, PrivacyRequired
from mailframe.interfaces import IAccount

__all__ = ["Authenticator", "SaslChallenge", "SaslSuccess", "SaslExchange", "is_local_peer",
           "DEFAULT_MECHANISMS"]

_log = Logger()
DEFAULT_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS")
_PLAINTEXT = frozenset({"PLAIN", "LOGIN"})


def is_local_peer(peer: str) -> bool:
    """Whether ``peer`` (an IP address string) is loopback.

    ``""`` and UNIX socket names (starting with ``/`` or ``unix``) count as
    local; anything else that is not an IP address does not.
    """
    if not peer or peer.startswith(("/", "unix")):
        return True
    try:
        addr = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


class Authenticator:
    """LOGIN and AUTHENTICATE for the session, over a twisted.cred Portal.

    ``allow_insecure_plaintext`` lets LOGIN/PLAIN/LOGIN-mechanism through on
    unencrypted connections from anywhere; ``allow_local_plaintext`` (default)
    from loopback only.  ``mechanisms`` limits and orders what is offered;
    mechanisms the portal's checkers cannot serve are dropped, and with
    ``only_universal_mechanisms`` (default) so are CRAM-MD5 and SCRAM when
    the checker says some of its users' stored passwords cannot serve them
    (clients that pick the strongest advertised mechanism would fail).
    """

    def __init__(self, portal: Portal, *, throttle: LoginThrottle | None = None,
                 clock: IReactorTime | None = None,
                 allow_insecure_plaintext: bool = False, allow_local_plaintext: bool = True,
                 mechanisms: Sequence[str] = DEFAULT_MECHANISMS, hostname: str = "localhost",
                 normalize: Callable[[str], str] = normalize_username,
                 only_universal_mechanisms: bool = True,
                 nonce_factory: Callable[[], str] = lambda: secrets.token_urlsafe(18)) -> None:
        if throttle is None:
            if clock is None:
                from twisted.internet import reactor as clock
            throttle = LoginThrottle(clock)  # type: ignore[arg-type]
        self.portal = portal
        self.throttle = throttle
        self.allow_insecure_plaintext = allow_insecure_plaintext
        self.allow_local_plaintext = allow_local_plaintext
        self.hostname = hostname
        self.normalize = normalize
        self.nonce_factory = nonce_factory
        self.only_universal_mechanisms = only_universal_mechanisms
        self._mechanisms = [m.upper() for m in mechanisms if self._servable(m.upper())]

    # -- capability -------------------------------------------------------
    def _servable(self, mechanism: str) -> bool:
        ifaces = set(self.portal.listCredentialsInterfaces())
        if mechanism in _PLAINTEXT:
            return IUsernamePassword in ifaces
        if mechanism == "CRAM-MD5":
            return IUsernameHashedPassword in ifaces
        if mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"):
            return self._scram_source() is not None
        return False

    def _scram_source(self) -> Any:
        checker = self.portal.checkers.get(IScramCredentials)
        return checker if checker is not None and IScramSecretSource.providedBy(checker) else None

    def plaintext_allowed(self, secure: bool, peer: str) -> bool:
        """False → advertise LOGINDISABLED and refuse LOGIN/PLAIN/LOGIN."""
        return secure or self.allow_insecure_plaintext or (
            self.allow_local_plaintext and is_local_peer(peer))

    def mechanisms(self, secure: bool, peer: str,
                   channel_binding: Mapping[str, bytes] | None = None) -> list[str]:
        """``AUTH=`` names for CAPABILITY, without those refused here.

        ``channel_binding`` is the connection's binding data
        (:func:`mailframe.server.tls.channel_bindings`); SCRAM-SHA-256-PLUS is
        offered only on a TLS connection that has some.
        """
        plain_ok = self.plaintext_allowed(secure, peer)
        plus_ok = secure and bool(channel_binding)
        cram = self._checker_allows(IUsernameHashedPassword)
        scram = self._checker_allows(IScramCredentials)
        return [m for m in self._mechanisms if (plain_ok or m not in _PLAINTEXT)
                and (plus_ok or m != "SCRAM-SHA-256-PLUS")
                and (m != "CRAM-MD5" or cram is None or m in cram)
                and (not m.startswith("SCRAM") or scram is None or m in scram)]

    def _checker_allows(self, interface: Any) -> frozenset[str] | None:
        """What the checker for ``interface`` says all its users can do
        (``sasl_mechanisms()``), or None when it does not say."""
        if not self.only_universal_mechanisms:
            return None
        checker = self.portal.checkers.get(interface)
        probe = getattr(checker, "sasl_mechanisms", None)
        return probe() if callable(probe) else None

    # -- LOGIN command ------------------------------------------------------
    def login(self, username: str, password: str | bytes, secure: bool, peer: str) -> Deferred[Any]:
        """Deferred[IAccount] for the LOGIN command (RFC 3501 §6.2.3)."""
        return Deferred.fromCoroutine(self._login(username, password, secure, peer))

    async def _login(self, username: str, password: str | bytes, secure: bool, peer: str) -> Any:
        if not self.plaintext_allowed(secure, peer):
            _log.info("refused LOGIN in plaintext from {peer}", peer=peer)
            raise PrivacyRequired("LOGIN is disabled on unencrypted connections; use STARTTLS")
        try:
            name = self.normalize(username)
        except ValueError:
            await self.refuse("invalid user name", peer, None)
            raise AuthenticationFailed("Authentication failed") from None
        pw = password.encode("utf-8") if isinstance(password, str) else password
        return await self.authenticate(UsernamePassword(name, pw), name, peer, secure)

    # -- AUTHENTICATE -------------------------------------------------------
    def start(self, mechanism: str, secure: bool, peer: str,
              channel_binding: Mapping[str, bytes] | None = None) -> SaslExchange:
        """A new exchange; CannotDo for an unknown mechanism, PrivacyRequired
        for a plaintext one on an unencrypted non-local connection.  Pass the
        same ``channel_binding`` as to :meth:`mechanisms`."""
        mech = mechanism.upper()
        if mech not in self.mechanisms(True, "", channel_binding if secure else None):
            raise CannotDo(f"Unsupported authentication mechanism {mechanism[:40]}")
        if mech in _PLAINTEXT and not self.plaintext_allowed(secure, peer):
            _log.info("refused AUTHENTICATE {mech} in plaintext from {peer}", mech=mech, peer=peer)
            raise PrivacyRequired(f"{mech} is disabled on unencrypted connections; use STARTTLS")
        self.throttle.check(peer)
        if mech == "PLAIN":
            return PlainExchange(self, secure, peer)
        if mech == "LOGIN":
            return LoginExchange(self, secure, peer)
        if mech == "CRAM-MD5":
            return CramMD5Exchange(self, secure, peer, self.hostname)
        bindings = channel_binding if secure else None
        return ScramSha256Exchange(self, secure, peer, self._scram_source(), self.nonce_factory,
                                   bindings=bindings, plus=mech == "SCRAM-SHA-256-PLUS")

    # -- shared path (the exchanges call these) ---------------------------------
    async def refuse(self, reason: str, peer: str, username: str | None) -> None:
        """Count a failure and wait out its delay."""
        _log.info("authentication refused from {peer}: {reason}", peer=peer, reason=reason)
        await self.throttle.record_failure(peer, username)

    async def authenticate(self, credentials: Any, username: str, peer: str, secure: bool,
                           authzid: str | None = None) -> Any:
        """Portal login with the throttle around it; returns the IAccount."""
        self.throttle.check(peer, username)
        mind = LoginMind(authzid=authzid, peer=peer, secure=secure)
        try:
            _iface, account, _logout = await self.portal.login(credentials, mind, IAccount)
        except AuthorizationRefused:
            # RFC 5530 §3: authenticated, but not as whom they asked to be
            await self.refuse("authorization identity refused", peer, username)
            raise AuthenticationFailed("Authorization failed", code="AUTHORIZATIONFAILED") from None
        except LoginFailed:
            await self.refuse("bad credentials", peer, username)
            raise AuthenticationFailed("Authentication failed") from None
        except MailframeError:
            raise
        except Exception as e:  # a checker's backend is down: refuse, clearly
            _log.failure("authentication backend failed for {user!r} from {peer}",
                         user=username, peer=peer)
            await self.refuse(f"backend failure: {e.__class__.__name__}", peer, username)
            raise AuthenticationFailed("Authentication service temporarily unavailable",
                                       code="UNAVAILABLE") from None
        self.throttle.record_success(peer, username)
        served = str(getattr(account, "username", authzid or username))
        if served != username:
            # SASL authzid (RFC 4616 §2): who logged in, and whom they act as.
            _log.info("authenticated {authcid!r} as {authzid!r} from {peer}",
                      authcid=username, authzid=served, peer=peer)
        else:
            _log.info("authenticated {user!r} from {peer}", user=username, peer=peer)
        return account
