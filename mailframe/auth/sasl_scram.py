"""SCRAM-SHA-256 (RFC 7677, the SCRAM of RFC 5802) as a SASL exchange.

Client-first (§5.1), server-first with the salt and iteration count, client
final with the proof, server-final ``v=<ServerSignature>`` returned as
:attr:`SaslSuccess.final`.

Channel binding (RFC 5802 §6): SCRAM-SHA-256-PLUS takes ``p=<type>`` with a
type the connection offers (``tls-server-end-point``, RFC 5929;
``tls-exporter``, RFC 9266) and checks the binding data in ``c=``.  Plain
SCRAM-SHA-256 takes ``n``, and ``y`` only when PLUS was not offered on this
connection (``y`` with PLUS on offer means a downgrade attack).
An unknown user gets a stable fake salt so the exchange does not reveal who
exists (RFC 5802 §9); it fails at the proof like a wrong password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from mailframe.auth.credentials import ScramCredentials
from mailframe.auth.sasl import AuthBackend, SaslChallenge, SaslExchange, SaslSuccess
from mailframe.auth.scram_math import DEFAULT_ITERATIONS, ScramSecrets, hmac_sha256, saslprep

__all__ = ["ScramSha256Exchange", "decode_saslname"]

_FAKE_KEY = secrets.token_bytes(32)


def decode_saslname(raw: str) -> str:
    """``saslname`` (RFC 5802 §7): ``=2C`` is ``,`` and ``=3D`` is ``=``."""
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == ",":
            raise ValueError("bare comma in saslname")
        if c == "=":
            code = raw[i:i + 3]
            if code == "=2C":
                out.append(",")
            elif code == "=3D":
                out.append("=")
            else:
                raise ValueError("bad escape in saslname")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _attrs(message: str) -> list[tuple[str, str]]:
    pairs = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=" or not part[0].isalpha():
            raise ValueError("malformed SCRAM attribute")
        pairs.append((part[0], part[2:]))
    return pairs


class ScramSha256Exchange(SaslExchange):
    """Server side of SCRAM-SHA-256 over an :class:`IScramSecretSource`."""

    mechanism = "SCRAM-SHA-256"

    def __init__(self, backend: AuthBackend, secure: bool, peer: str, source: Any,
                 nonce_factory: Callable[[], str] = lambda: secrets.token_urlsafe(18),
                 bindings: Mapping[str, bytes] | None = None, plus: bool = False) -> None:
        super().__init__(backend, secure, peer)
        self.bindings = dict(bindings or {})
        self.plus = plus
        if plus:
            self.mechanism = "SCRAM-SHA-256-PLUS"
        self._cbind_data = b""
        self.source = source
        self.nonce_factory = nonce_factory
        self._state = "start"
        self._gs2 = b""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._username = ""
        self._authzid: str | None = None
        self._secrets: ScramSecrets | None = None

    async def _step(self, response: bytes | None) -> SaslChallenge | SaslSuccess:
        if self._state == "start":
            self._state = "first"
            if response is None:
                return SaslChallenge(b"")
        if response is None:
            return await self._fail("Empty SCRAM response")
        try:
            text = response.decode("utf-8")
        except UnicodeDecodeError:
            return await self._fail("SCRAM message is not UTF-8")
        if self._state == "first":
            return await self._client_first(text)
        return await self._client_final(text)

    async def _client_first(self, text: str) -> SaslChallenge:
        # gs2-header = gs2-cbind-flag "," [ authzid ] ","   (RFC 5802 §7)
        flag, sep1, rest = text.partition(",")
        authz, sep2, bare = rest.partition(",")
        if not (sep1 and sep2):
            return await self._fail("Malformed SCRAM GS2 header")
        if self.plus:
            cb_type = flag[2:] if flag.startswith("p=") else ""
            if cb_type not in self.bindings:
                return await self._fail("SCRAM-SHA-256-PLUS needs a channel binding type "
                                        f"this connection offers: {', '.join(sorted(self.bindings))}")
            self._cbind_data = self.bindings[cb_type]
        elif flag == "y" and self.bindings:
            return await self._fail("Channel binding downgrade: the server offers SCRAM-SHA-256-PLUS")
        elif flag not in ("n", "y"):
            return await self._fail("Channel binding needs SCRAM-SHA-256-PLUS")
        try:
            if authz:
                if not authz.startswith("a="):
                    raise ValueError("bad authzid")
                self._authzid = decode_saslname(authz[2:])
            attrs = _attrs(bare)
            if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
                raise ValueError("client-first needs n= then r=")
            if any(k == "m" for k, _ in attrs):
                raise ValueError("mandatory extension not supported")
            cnonce = attrs[1][1]
            if any(not (0x21 <= ord(c) <= 0x7E) or c == "," for c in cnonce):
                raise ValueError("bad nonce")
            self._username = self.backend.normalize(saslprep(decode_saslname(attrs[0][1])))
        except ValueError as e:
            return await self._fail(f"Malformed SCRAM client-first message: {e}")
        self._gs2 = text[: len(flag) + len(authz) + 2].encode("utf-8")
        self._client_first_bare = bare
        found = await self.source.scram_secrets(self._username)
        self._secrets = found if found is not None else self._fake_secrets(self._username)
        self._nonce = cnonce + self.nonce_factory()
        salt = base64.b64encode(self._secrets.salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt},i={self._secrets.iterations}"
        self._state = "final"
        return SaslChallenge(self._server_first.encode("utf-8"))

    @staticmethod
    def _fake_secrets(username: str) -> ScramSecrets:
        salt = hmac.new(_FAKE_KEY, username.encode("utf-8"), hashlib.sha256).digest()[:16]
        return ScramSecrets(salt, DEFAULT_ITERATIONS, secrets.token_bytes(32), secrets.token_bytes(32))

    async def _client_final(self, text: str) -> SaslSuccess:
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        try:
            if not sep:
                raise ValueError("no proof")
            attrs = _attrs(without_proof)
            if len(attrs) < 2 or attrs[0][0] != "c" or attrs[1][0] != "r":
                raise ValueError("client-final needs c= then r=")
            if not hmac.compare_digest(base64.b64decode(attrs[0][1], validate=True),
                                       self._gs2 + self._cbind_data):
                raise ValueError("channel binding data does not match")
            if attrs[1][1] != self._nonce:
                raise ValueError("nonce mismatch")
            proof = base64.b64decode(proof_b64, validate=True)
        except (ValueError, binascii.Error) as e:
            return await self._fail(f"Malformed SCRAM client-final message: {e}", self._username)
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof))
        auth_bytes = auth_message.encode("utf-8")
        credentials = ScramCredentials(self._username, auth_bytes, proof)
        account = await self.backend.authenticate(credentials, self._username, self.peer,
                                                  self.secure, self._authzid)
        assert self._secrets is not None
        signature = hmac_sha256(self._secrets.server_key, auth_bytes)
        return SaslSuccess(account, b"v=" + base64.b64encode(signature))
