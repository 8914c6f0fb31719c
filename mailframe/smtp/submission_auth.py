"""SMTP AUTH (RFC 4954) for a submission session: the ``AUTH`` command and
the SASL exchange that follows it, through the same
:class:`mailframe.auth.authenticator.Authenticator` as IMAP (cred portal,
checkers, failed-login throttle).

The replies: ``334`` challenges in bare base64 (§4), ``235`` on success,
``535 5.7.8`` for bad credentials, ``538 5.7.11`` where the mechanism needs
TLS (§6), ``454 4.7.0`` when the user store is unavailable, ``501`` for a
cancelled exchange (``*``) or undecodable base64, ``503`` when already
authenticated or inside a mail transaction, and ``421`` after too many
failures.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.mail import smtp
from twisted.python.failure import Failure

from mailframe.auth.sasl import SaslChallenge, SaslExchange, SaslSuccess
from mailframe.errors import AuthenticationFailed, CannotDo, LimitExceeded, PrivacyRequired

if TYPE_CHECKING:
    from mailframe.smtp.submission import SubmissionSession

__all__ = ["SmtpAuth", "SASL"]

_log = Logger()
SASL = "SASL"  # the session mode while an AUTH exchange runs
_ENCRYPTION_REQUIRED = b"5.7.11 Encryption required for requested authentication mechanism"


class SmtpAuth:
    """The AUTH state of one submission session."""

    def __init__(self, session: SubmissionSession) -> None:
        self.session = session
        self.exchange: SaslExchange | None = None
        self._final_account: Any = None  # success waiting for the client's empty line
        self._failures = 0

    @property
    def running(self) -> bool:
        return self.exchange is not None

    def command(self, rest: bytes) -> None:
        """``AUTH mechanism [initial-response]`` (RFC 4954 §4)."""
        s = self.session
        if s.username is not None:
            s.sendCode(503, b"5.5.1 Already authenticated")
            return
        if s._from is not None:
            s.sendCode(503, b"5.5.1 AUTH not permitted during a mail transaction")
            return
        if not s.auth_allowed():
            s.sendCode(538, _ENCRYPTION_REQUIRED)
            return
        parts = rest.split(None, 1)
        mech = parts[0].decode("ascii", "replace").upper() if parts else ""
        if mech not in s.offered_mechanisms():
            s.sendCode(504, b"5.5.4 Unrecognized authentication type")
            return
        initial: bytes | None = None
        if len(parts) == 2:
            initial = self._b64(parts[1])
            if initial is None:
                return
        try:
            self.exchange = s.sub.authenticator.start(mech, s.secure, s.peer)
        except LimitExceeded:
            self._too_many()
            return
        except PrivacyRequired:
            s.sendCode(538, _ENCRYPTION_REQUIRED)
            return
        except CannotDo:
            s.sendCode(504, b"5.5.4 Unrecognized authentication type")
            return
        s.mode = SASL
        self._step(initial)

    def line(self, line: bytes) -> None:
        """A client response line while the exchange runs (§4)."""
        if line == b"*":
            self.cancel()
            self.session.mode = smtp.COMMAND
            self.session.sendCode(501, b"5.0.0 Authentication cancelled")
            return
        if self._final_account is not None:
            self._authenticated(self._final_account)
            return
        response = self._b64(line) if line else b""
        if response is not None:
            self._step(response)

    def cancel(self) -> None:
        if self.exchange is not None:
            self.exchange.cancel()
        self.exchange = None

    def _b64(self, data: bytes) -> bytes | None:
        if data == b"=":  # RFC 4954 §4: an empty initial response
            return b""
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.session.mode = smtp.COMMAND
            self.exchange = None
            self.session.sendCode(501, b"5.5.2 Cannot decode response")
            return None

    def _step(self, response: bytes | None) -> None:
        assert self.exchange is not None
        s = self.session
        s._busy = True
        d = self.exchange.step(response)
        d.addCallbacks(self._stepped, self._failed)
        d.addErrback(lambda f: _log.failure("AUTH step failed", f))
        d.addBoth(lambda _: s._resume())

    def _challenge(self, data: bytes) -> None:
        s = self.session
        s._plain_reply = True  # a 334 carries base64 only
        try:
            s.sendCode(334, base64.b64encode(data))
        finally:
            s._plain_reply = False

    def _stepped(self, result: SaslChallenge | SaslSuccess) -> None:
        if isinstance(result, SaslChallenge):
            self._challenge(result.data)
        elif result.final is not None:  # RFC 4954 §4: additional data in a 334
            self._final_account = result.account
            self._challenge(result.final)
        else:
            self._authenticated(result.account)

    def _authenticated(self, account: Any) -> None:
        s = self.session
        s.mode = smtp.COMMAND
        self.exchange = None
        self._final_account = None
        s.username = str(account.username)
        _log.info("submission: {user} authenticated from {peer}", user=s.username, peer=s.peer)
        s.sendCode(235, b"2.7.0 Authentication successful")

    def _failed(self, failure: Failure) -> None:
        s = self.session
        s.mode = smtp.COMMAND
        self.exchange = None
        err = failure.value
        if isinstance(err, LimitExceeded):
            self._too_many()
            return
        if isinstance(err, PrivacyRequired):
            s.sendCode(538, _ENCRYPTION_REQUIRED)
            return
        if isinstance(err, AuthenticationFailed) and getattr(err, "code", None) == "UNAVAILABLE":
            s.sendCode(454, b"4.7.0 Temporary authentication failure")
            return
        if not isinstance(err, AuthenticationFailed):
            _log.failure("AUTH failed unexpectedly", failure)
        self._failures += 1
        s.sendCode(535, b"5.7.8 Authentication credentials invalid")
        if self._failures >= s.sub.max_auth_failures:
            self._too_many()

    def _too_many(self) -> None:
        self.session.sendCode(421, b"4.7.0 Too many failed authentications, closing connection")
        self.session._tr.loseConnection()
