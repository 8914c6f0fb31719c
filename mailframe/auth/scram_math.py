"""The SCRAM arithmetic of RFC 5802 §3, for SCRAM-SHA-256 (RFC 7677).

Kept apart from the mechanism (:mod:`mailframe.auth.sasl_scram`) so the
password schemes can derive and parse stored SCRAM secrets without pulling
in twisted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import stringprep
import unicodedata
from dataclasses import dataclass

__all__ = ["ScramSecrets", "derive_secrets", "saslprep", "hmac_sha256", "h_sha256"]

DEFAULT_ITERATIONS = 4096  # RFC 7677 §4: "at least 4096"


@dataclass(frozen=True)
class ScramSecrets:
    """What a server stores for SCRAM (RFC 5802 §3): never the password."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def dovecot(self) -> str:
        """Dovecot's ``{SCRAM-SHA-256}`` body: ``iter,salt,stored,server``."""
        b64 = base64.b64encode
        return (f"{self.iterations},{b64(self.salt).decode()},"
                f"{b64(self.stored_key).decode()},{b64(self.server_key).decode()}")

    @classmethod
    def from_dovecot(cls, body: str) -> ScramSecrets:
        """Parse Dovecot's ``iter,salt,stored,server`` form (ValueError if bad)."""
        parts = body.split(",")
        if len(parts) != 4:
            raise ValueError("SCRAM secrets need four comma-separated fields")
        dec = base64.b64decode
        return cls(salt=dec(parts[1], validate=True), iterations=int(parts[0]),
                   stored_key=dec(parts[2], validate=True), server_key=dec(parts[3], validate=True))


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def h_sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def derive_secrets(password: str, salt: bytes, iterations: int = DEFAULT_ITERATIONS) -> ScramSecrets:
    """SaltedPassword, ClientKey, StoredKey, ServerKey (RFC 5802 §3)."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = hmac_sha256(salted, b"Client Key")
    return ScramSecrets(salt=salt, iterations=iterations, stored_key=h_sha256(client_key),
                        server_key=hmac_sha256(salted, b"Server Key"))


def _prohibited(ch: str) -> bool:
    return (stringprep.in_table_c12(ch) or stringprep.in_table_c21_c22(ch)
            or stringprep.in_table_c3(ch) or stringprep.in_table_c4(ch)
            or stringprep.in_table_c5(ch) or stringprep.in_table_c6(ch)
            or stringprep.in_table_c7(ch) or stringprep.in_table_c8(ch)
            or stringprep.in_table_c9(ch))


def saslprep(text: str) -> str:
    """SASLprep (RFC 4013) of a user name or password; ValueError if prohibited.

    Mapping (§2.1): non-ASCII spaces to SPACE, "commonly mapped to nothing"
    removed; NFKC (§2.2); prohibited output (§2.3) and bidi rules (§2.4)
    checked; unassigned code points allowed (stored strings, RFC 3454 §7).
    """
    mapped = "".join(" " if stringprep.in_table_c12(c) else c
                     for c in text if not stringprep.in_table_b1(c))
    norm = unicodedata.normalize("NFKC", mapped)
    for c in norm:
        if _prohibited(c):
            raise ValueError("prohibited character in SASLprep input")
    if any(stringprep.in_table_d1(c) for c in norm):
        if any(stringprep.in_table_d2(c) for c in norm):
            raise ValueError("mixed bidirectional text")
        if not (stringprep.in_table_d1(norm[0]) and stringprep.in_table_d1(norm[-1])):
            raise ValueError("RandALCat text must start and end with RandALCat")
    return norm
