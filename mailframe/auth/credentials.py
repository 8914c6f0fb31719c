"""twisted.cred credential types for the SASL mechanisms, and user names.

Each mechanism ends in one credentials object handed to the Portal, so a
user's own checker plugs in by accepting the interface:

- LOGIN command, PLAIN and LOGIN mechanisms: ``IUsernamePassword``
  (:class:`UsernamePassword`; ``username`` and ``password`` are bytes, as
  twisted.cred's own checkers expect — the name is the normalised one, UTF-8);
- CRAM-MD5 (RFC 2195): ``IUsernameHashedPassword`` (:class:`CramMD5Credentials`);
- SCRAM-SHA-256 (RFC 5802 / RFC 7677): :class:`IScramCredentials`, checked
  against a checker that also provides :class:`IScramSecretSource` (the
  server needs salt and iteration count before the client's proof arrives).

The authorization identity (SASL authzid) travels as the Portal's *mind*
(:class:`LoginMind`); the realm decides whether the authenticated user may
act as it.
"""

from __future__ import annotations

import hmac
import secrets
import time
import unicodedata
from dataclasses import dataclass
from hashlib import md5

from twisted.cred.credentials import ICredentials, IUsernameHashedPassword, IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from zope.interface import Attribute, Interface, implementer

from mailframe.auth.scram_math import ScramSecrets, h_sha256, hmac_sha256

__all__ = ["UsernamePassword", "CramMD5Credentials", "IScramCredentials", "ScramCredentials",
           "IScramSecretSource", "LoginMind", "AuthorizationRefused", "normalize_username"]

MAX_USERNAME = 255


def normalize_username(name: str | bytes, lowercase: bool = True) -> str:
    """The canonical form of a login name, or ValueError.

    NFC-normalised, lower-cased by default (mail addresses compare
    case-insensitively in practice).  Names a store could turn into a path
    trick are refused outright: empty, over 255 characters, control
    characters, ``/``, ``\\``, a leading ``.``, ``%`` (store URL expansion).
    """
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    name = unicodedata.normalize("NFC", name)
    if lowercase:
        name = name.lower()
    if not name or len(name) > MAX_USERNAME or name.startswith("."):
        raise ValueError("invalid user name")
    if any(c in "/\\%" or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") or c.isspace()
           for c in name):
        raise ValueError("invalid user name")
    return name


@implementer(IUsernamePassword)
class UsernamePassword:
    """A user name (normalised, given as ``str``, kept as UTF-8 ``username``
    bytes like twisted.cred's own class, and as ``name``) and the password
    exactly as sent (bytes)."""

    def __init__(self, username: str, password: bytes) -> None:
        self.name = username
        self.username = username.encode("utf-8")
        self.password = password

    def checkPassword(self, password: bytes | str) -> bool:
        if isinstance(password, str):
            password = password.encode("utf-8")
        return hmac.compare_digest(self.password, password)


@implementer(IUsernameHashedPassword)
class CramMD5Credentials:
    """CRAM-MD5 (RFC 2195): the server's challenge and the client's digest.

    Unlike twisted's own class, the challenge uses ``secrets`` and the
    digest comparison is constant-time.
    """

    def __init__(self, hostname: str = "localhost") -> None:
        self.challenge = f"<{secrets.randbelow(2**62)}.{int(time.time())}@{hostname}>".encode("ascii")
        self.name = ""
        self.username = b""
        self.response = b""

    def set_response(self, username: str, hexdigest: bytes) -> None:
        self.name = username
        self.username = username.encode("utf-8")  # bytes, like twisted.cred's
        self.response = hexdigest.lower()

    def checkPassword(self, password: bytes | str) -> bool:
        if isinstance(password, str):
            password = password.encode("utf-8")
        expected = hmac.new(password, self.challenge, md5).hexdigest().encode("ascii")
        return hmac.compare_digest(expected, self.response)


class IScramSecretSource(Interface):
    """A checker that can give the SCRAM secrets of a user."""

    def scram_secrets(username: str):  # type: ignore[no-untyped-def]
        """Deferred[ScramSecrets | None]: None when the user is unknown or
        their stored password cannot yield SCRAM-SHA-256 secrets."""


class IScramCredentials(ICredentials, Interface):  # Interface: for pydoctor, which cannot see ICredentials
    """A SCRAM-SHA-256 client proof over an AuthMessage (RFC 5802 §3)."""

    username = Attribute("str: the (normalised) authentication identity")

    def check(secrets: ScramSecrets) -> bool:
        """Whether the proof was made with the password behind ``secrets``."""


@implementer(IScramCredentials)
class ScramCredentials:
    """The last client message of a SCRAM exchange, ready to be verified."""

    def __init__(self, username: str, auth_message: bytes, client_proof: bytes) -> None:
        self.username = username
        self.auth_message = auth_message
        self.client_proof = client_proof

    def check(self, secrets: ScramSecrets) -> bool:
        """ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); then
        H(ClientKey) must equal StoredKey (RFC 5802 §3)."""
        signature = hmac_sha256(secrets.stored_key, self.auth_message)
        if len(self.client_proof) != len(signature):
            return False
        client_key = bytes(a ^ b for a, b in zip(self.client_proof, signature, strict=True))
        return hmac.compare_digest(h_sha256(client_key), secrets.stored_key)


class AuthorizationRefused(UnauthorizedLogin):
    """The credentials were right, but their owner may not act as the
    authorization identity asked for (SASL authzid): the session answers
    ``NO [AUTHORIZATIONFAILED]`` (RFC 5530 §3), as Dovecot does for a
    master user refused the target user, not ``[AUTHENTICATIONFAILED]``."""


@dataclass(frozen=True)
class LoginMind:
    """The Portal's *mind* for a login: who the client asked to act as, and how
    it connected.  ``authzid`` is None or ``""`` for "the same user"."""

    authzid: str | None = None
    peer: str = ""
    secure: bool = False
