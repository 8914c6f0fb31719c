"""Who may log in: twisted.cred realm, checkers, SASL mechanisms, abuse limits.

Public API (see each module for details):

- :class:`mailframe.auth.authenticator.Authenticator` — what the IMAP session
  calls (``mechanisms``, ``plaintext_allowed``, ``login``, ``start``);
- :class:`mailframe.auth.realm.MailRealm` — cred realm over an IMailStore;
- :mod:`mailframe.auth.checkers` — passwd-file / in-memory checkers and
  :func:`mailframe.auth.checkers.open_checker`;
  :mod:`mailframe.auth.http_checker` — the treq HTTP checker;
- :mod:`mailframe.auth.throttle` — LoginThrottle, AttemptCounter, ConnectionLimiter;
- :mod:`mailframe.auth.schemes` — Dovecot password schemes;
- :mod:`mailframe.auth.passwd_tool` — ``mailframe passwd``.
"""

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import CheckerError, InMemoryChecker, PasswdFileChecker, open_checker
from mailframe.auth.realm import MailRealm
from mailframe.auth.sasl import SaslChallenge, SaslExchange, SaslSuccess
from mailframe.auth.throttle import AttemptCounter, ConnectionLimiter, LoginThrottle

__all__ = ["Authenticator", "MailRealm", "CheckerError", "InMemoryChecker", "PasswdFileChecker",
           "open_checker", "SaslChallenge", "SaslExchange", "SaslSuccess", "AttemptCounter",
           "ConnectionLimiter", "LoginThrottle"]
