"""Password schemes of Dovecot's ``{SCHEME}data`` notation.

A stored password looks like ``{ARGON2ID}$argon2id$v=19$...``; the part in
braces names the scheme, with an optional ``.b64``/``.hex`` suffix giving the
encoding for digest schemes (Dovecot's "Password Schemes" documentation).
Without braces the checker's default scheme applies (Dovecot: CRYPT).

Supported: ARGON2ID / ARGON2I (argon2-cffi), BLF-CRYPT (bcrypt),
SHA512-CRYPT / SHA256-CRYPT (pure, :mod:`mailframe.auth.shacrypt`), CRYPT
(by ``$id$`` prefix), PBKDF2 (Dovecot's ``$1$salt$rounds$hex``, HMAC-SHA1),
SHA / SHA256 / SHA512 and salted SSHA / SSHA256 / SSHA512, SCRAM-SHA-256
(secrets only, for the SCRAM mechanism), and PLAIN / CLEAR / CLEARTEXT.

Everything here is blocking and CPU-bound: callers run it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from mailframe.auth.scram_math import DEFAULT_ITERATIONS, ScramSecrets, derive_secrets
from mailframe.auth.shacrypt import make_sha_crypt, sha_crypt_verify

__all__ = ["split_scheme", "verify_password", "plaintext_of", "scram_secrets_of",
           "hash_password", "stored_problem", "SUPPORTED_SCHEMES", "HASH_SCHEMES"]

_PLAIN = frozenset({"PLAIN", "CLEAR", "CLEARTEXT"})
_DIGESTS = {"SHA": "sha1", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512", "MD5": "md5",
            "PLAIN-MD5": "md5", "LDAP-MD5": "md5"}
_SALTED = {"SSHA": "sha1", "SSHA256": "sha256", "SSHA512": "sha512", "SMD5": "md5"}
SUPPORTED_SCHEMES = frozenset(
    {"ARGON2ID", "ARGON2I", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "CRYPT", "PBKDF2",
     "SCRAM-SHA-256"} | _PLAIN | set(_DIGESTS) | set(_SALTED))
#: Schemes :func:`hash_password` can produce (for ``mailframe passwd``).
HASH_SCHEMES = ("ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "PBKDF2",
                "SCRAM-SHA-256", "PLAIN")


def split_scheme(stored: str, default: str = "CRYPT") -> tuple[str, str, str]:
    """``(SCHEME, encoding, data)``; encoding is ``""``, ``"B64"`` or ``"HEX"``."""
    scheme = default
    data = stored
    if stored.startswith("{"):
        end = stored.find("}")
        if end > 1:
            scheme, data = stored[1:end], stored[end + 1:]
    scheme = scheme.upper()
    encoding = ""
    if "." in scheme:
        scheme, _, encoding = scheme.rpartition(".")
    return scheme, encoding, data


def _decode(data: str, encoding: str, size: int) -> bytes:
    """Digest bytes from base64 or hex; Dovecot guesses by length when unsaid."""
    if encoding == "HEX" or (not encoding and len(data) == size * 2):
        return binascii.unhexlify(data)
    return base64.b64decode(data, validate=True)


def _crypt_verify(password: bytes, data: str) -> bool:
    if data.startswith(("$5$", "$6$")):
        return sha_crypt_verify(password, data)
    if data.startswith(("$2a$", "$2b$", "$2y$")):
        import bcrypt
        return bool(bcrypt.checkpw(password, data.encode("ascii")))
    if data.startswith("$argon2"):
        return _argon2_verify(password, data)
    return False  # DES and MD5 crypt are not supported


def _argon2_verify(password: bytes, data: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(PasswordHasher().verify(data, password))
    except (VerificationError, InvalidHashError):
        return False


def _pbkdf2_verify(password: bytes, data: str) -> bool:
    """Dovecot PBKDF2: ``$1$<salt>$<rounds>$<hex PBKDF2-HMAC-SHA1>``."""
    parts = data.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "1":
        return False
    want = binascii.unhexlify(parts[4])
    got = hashlib.pbkdf2_hmac("sha1", password, parts[2].encode("ascii"), int(parts[3]), len(want))
    return hmac.compare_digest(got, want)


def _scram_verify(password: bytes, data: str) -> bool:
    stored = ScramSecrets.from_dovecot(data)
    derived = derive_secrets(password.decode("utf-8"), stored.salt, stored.iterations)
    return hmac.compare_digest(derived.stored_key, stored.stored_key)


def verify_password(stored: str, password: str | bytes, default_scheme: str = "CRYPT") -> bool:
    """Whether ``password`` matches ``stored``.  Never raises for bad data:
    an unknown scheme or a malformed hash simply does not match."""
    pw = password.encode("utf-8") if isinstance(password, str) else password
    scheme, encoding, data = split_scheme(stored, default_scheme)
    try:
        if scheme in _PLAIN:
            return hmac.compare_digest(data.encode("utf-8"), pw)
        if scheme in ("ARGON2ID", "ARGON2I"):
            return _argon2_verify(pw, data)
        if scheme in ("BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "CRYPT"):
            return _crypt_verify(pw, data)
        if scheme == "PBKDF2":
            return _pbkdf2_verify(pw, data)
        if scheme == "SCRAM-SHA-256":
            return _scram_verify(pw, data)
        if scheme in _DIGESTS:
            algo = _DIGESTS[scheme]
            want = _decode(data, encoding, hashlib.new(algo).digest_size)
            return hmac.compare_digest(hashlib.new(algo, pw).digest(), want)
        if scheme in _SALTED:
            algo = _SALTED[scheme]
            size = hashlib.new(algo).digest_size
            raw = _decode(data, encoding, -1)
            digest, salt = raw[:size], raw[size:]
            return hmac.compare_digest(hashlib.new(algo, pw + salt).digest(), digest)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        return False
    return False


_CRYPT_PREFIXES = {"SHA512-CRYPT": ("$6$",), "SHA256-CRYPT": ("$5$",),
                   "BLF-CRYPT": ("$2a$", "$2b$", "$2y$"), "ARGON2ID": ("$argon2id$",),
                   "ARGON2I": ("$argon2i$",),
                   "CRYPT": ("$5$", "$6$", "$2a$", "$2b$", "$2y$", "$argon2")}


def stored_problem(stored: str, default_scheme: str = "CRYPT") -> str | None:
    """Why ``stored`` can never match any password (an unknown scheme, a
    hash of the wrong shape), or None when it looks usable.  Cheap: for
    warnings when a users file is loaded, never shows the hash itself."""
    scheme, encoding, data = split_scheme(stored, default_scheme)
    if scheme not in SUPPORTED_SCHEMES:
        return f"unknown password scheme {{{scheme}}}"
    if scheme in _PLAIN:
        return None
    if encoding not in ("", "B64", "HEX"):
        return f"unknown encoding .{encoding.lower()} for {{{scheme}}}"
    problem = f"malformed {{{scheme}}} hash"
    try:
        if scheme in _CRYPT_PREFIXES:
            if not data.startswith(_CRYPT_PREFIXES[scheme]):
                return problem + " (DES and MD5 crypt are not supported)" if scheme == "CRYPT" else problem
            if data.startswith("$2") and len(data) != 60:
                return problem
            if data.startswith(("$5$", "$6$")) and data.count("$") < 3:
                return problem
            if data.startswith("$argon2") and data.count("$") < 4:
                return problem
        elif scheme == "PBKDF2":
            parts = data.split("$")
            if len(parts) != 5 or parts[0] != "" or parts[1] != "1" or int(parts[3]) <= 0:
                return problem
            binascii.unhexlify(parts[4])
        elif scheme == "SCRAM-SHA-256":
            ScramSecrets.from_dovecot(data)
        elif scheme in _DIGESTS:
            size = hashlib.new(_DIGESTS[scheme]).digest_size
            if len(_decode(data, encoding, size)) != size:
                return problem
        elif scheme in _SALTED:
            size = hashlib.new(_SALTED[scheme]).digest_size
            if len(_decode(data, encoding, -1)) <= size:
                return problem
    except (ValueError, TypeError, binascii.Error):
        return problem
    return None


def plaintext_of(stored: str, default_scheme: str = "CRYPT") -> str | None:
    """The clear password when the scheme keeps it (CRAM-MD5 needs it), else None."""
    scheme, _, data = split_scheme(stored, default_scheme)
    return data if scheme in _PLAIN else None


def scram_secrets_of(stored: str, default_scheme: str = "CRYPT",
                     salt_for_plain: bytes | None = None) -> ScramSecrets | None:
    """SCRAM-SHA-256 secrets from a stored password, or None if it cannot give them.

    ``{SCRAM-SHA-256}`` entries give them directly; clear passwords give them
    when ``salt_for_plain`` is supplied (derivation costs 4096 HMACs).
    """
    scheme, _, data = split_scheme(stored, default_scheme)
    if scheme == "SCRAM-SHA-256":
        try:
            return ScramSecrets.from_dovecot(data)
        except (ValueError, binascii.Error):
            return None
    if scheme in _PLAIN and salt_for_plain is not None:
        try:
            return derive_secrets(data, salt_for_plain)
        except ValueError:
            return None
    return None


def hash_password(password: str, scheme: str = "ARGON2ID") -> str:
    """A new ``{SCHEME}...`` string for ``password`` with a fresh random salt."""
    scheme = scheme.upper()
    pw = password.encode("utf-8")
    if scheme == "ARGON2ID":
        from argon2 import PasswordHasher
        return "{ARGON2ID}" + PasswordHasher().hash(pw)
    if scheme == "BLF-CRYPT":
        import bcrypt
        # pyca/bcrypt writes $2b$; Dovecot and PHP write the identical $2y$.
        raw = bcrypt.hashpw(pw, bcrypt.gensalt(rounds=10, prefix=b"2b")).decode()
        return "{BLF-CRYPT}$2y$" + raw[4:]
    if scheme == "SHA512-CRYPT":
        return "{SHA512-CRYPT}" + make_sha_crypt(pw, "6")
    if scheme == "SHA256-CRYPT":
        return "{SHA256-CRYPT}" + make_sha_crypt(pw, "5")
    if scheme == "PBKDF2":
        salt = base64.b64encode(secrets.token_bytes(12), b"./").decode()
        rounds = 100_000
        digest = hashlib.pbkdf2_hmac("sha1", pw, salt.encode(), rounds).hex()
        return f"{{PBKDF2}}$1${salt}${rounds}${digest}"
    if scheme == "SCRAM-SHA-256":
        return "{SCRAM-SHA-256}" + derive_secrets(password, secrets.token_bytes(16),
                                                  DEFAULT_ITERATIONS).dovecot()
    if scheme in _PLAIN:
        return "{PLAIN}" + password
    raise ValueError(f"cannot hash with scheme {scheme}")
