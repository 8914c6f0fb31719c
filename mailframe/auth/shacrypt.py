"""SHA-crypt (``$5$`` SHA256-CRYPT and ``$6$`` SHA512-CRYPT), pure Python.

Python's ``crypt`` module is deprecated (PEP 594) and gone in 3.13, so the
algorithm is implemented here from Ulrich Drepper's specification "Unix crypt
using SHA-256 and SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt),
the one glibc, ``mkpasswd`` and Dovecot use.  Verification runs off the
reactor thread (see :mod:`mailframe.auth.checkers`), so speed matters little.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["sha_crypt", "sha_crypt_verify", "make_sha_crypt"]

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ROUNDS_DEFAULT = 5000
ROUNDS_MIN = 1000
ROUNDS_MAX = 999_999_999

# Byte permutation of the final digest before base-64 encoding (spec steps 22e/f).
_PERM_256 = [(0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
             (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29)]
_PERM_512 = [(0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4),
             (47, 5, 26), (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51),
             (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13), (56, 14, 35),
             (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19),
             (62, 20, 41)]


def _b64_from_24bit(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ITOA64[w & 0x3F])
        w >>= 6
    return "".join(out)


def _repeat(digest: bytes, length: int) -> bytes:
    """``length`` bytes made of ``digest`` repeated (spec steps 16/20)."""
    size = len(digest)
    return digest * (length // size) + digest[: length % size]


def sha_crypt(password: bytes, salt: str, rounds: int | None, variant: str) -> str:
    """The full ``$5$``/``$6$`` string for ``password``.

    ``rounds`` None means the default 5000 with no ``rounds=`` field, as the
    spec requires for output compatibility.  ``variant`` is ``"5"`` or ``"6"``.
    """
    if variant == "5":
        new, perm = hashlib.sha256, _PERM_256
    elif variant == "6":
        new, perm = hashlib.sha512, _PERM_512
    else:
        raise ValueError("unknown SHA-crypt variant")
    salt_b = salt.encode("ascii")[:16]
    n_rounds = ROUNDS_DEFAULT if rounds is None else min(max(rounds, ROUNDS_MIN), ROUNDS_MAX)

    b = new(password + salt_b + password).digest()
    a = new(password + salt_b + _repeat(b, len(password)))
    length = len(password)
    while length > 0:
        a.update(b if length & 1 else password)
        length >>= 1
    a_digest = a.digest()

    dp = new(password * len(password)).digest()
    p = _repeat(dp, len(password))
    ds = new(salt_b * (16 + a_digest[0])).digest()
    s = _repeat(ds, len(salt_b))

    c = a_digest
    for i in range(n_rounds):
        h = new()
        h.update(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()

    encoded = "".join(_b64_from_24bit(c[x], c[y], c[z], 4) for x, y, z in perm)
    if variant == "5":
        encoded += _b64_from_24bit(0, c[31], c[30], 3)
    else:
        encoded += _b64_from_24bit(0, 0, c[63], 2)
    head = f"${variant}$"
    if rounds is not None:
        head += f"rounds={n_rounds}$"
    return head + salt_b.decode("ascii") + "$" + encoded


def _parse(stored: str) -> tuple[str, int | None, str]:
    parts = stored.split("$")
    # "", variant, [rounds=N], salt, hash
    if len(parts) not in (4, 5) or parts[0] != "" or parts[1] not in ("5", "6"):
        raise ValueError("not a SHA-crypt string")
    rounds: int | None = None
    if len(parts) == 5:
        if not parts[2].startswith("rounds="):
            raise ValueError("bad rounds field")
        rounds = int(parts[2][len("rounds="):])
        salt = parts[3]
    else:
        salt = parts[2]
    return parts[1], rounds, salt


def sha_crypt_verify(password: bytes, stored: str) -> bool:
    """Whether ``password`` matches a ``$5$...`` or ``$6$...`` string."""
    try:
        variant, rounds, salt = _parse(stored)
    except ValueError:
        return False
    computed = sha_crypt(password, salt, rounds, variant)
    return hmac.compare_digest(computed.encode("ascii"), stored.encode("ascii", "replace"))


def make_sha_crypt(password: bytes, variant: str = "6", rounds: int | None = None) -> str:
    """A new SHA-crypt string with a random 16-character salt."""
    salt = "".join(secrets.choice(_ITOA64) for _ in range(16))
    return sha_crypt(password, salt, rounds, variant)
