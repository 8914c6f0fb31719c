"""DKIM signing of submitted mail (RFC 6376) with dkimpy.

One key per signing domain (``--dkim-key DOMAIN:SELECTOR:PATH``, PEM RSA or
raw Ed25519 as dkimpy reads them).  A message is signed for the domain of
its ``From:`` address when there is a key for it (the alignment DMARC
checks, RFC 7489 §3.1.1), else for the envelope sender's domain, else not
at all.  ``relaxed/relaxed`` canonicalisation (RFC 6376 §3.4.2, §3.4.4),
which survives the header re-folding and whitespace changes relays make.
Signing is CPU work: call :meth:`DkimSigner.sign` in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

import dkim

__all__ = ["DkimKey", "DkimSigner", "parse_key_spec"]

_SIGNED = [b"from", b"sender", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc",
           b"mime-version", b"content-type", b"content-transfer-encoding", b"in-reply-to",
           b"references", b"list-id", b"list-unsubscribe"]


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_key: bytes


def parse_key_spec(spec: str) -> tuple[str, str, str]:
    """``DOMAIN:SELECTOR:PATH`` → its three parts (ValueError if malformed)."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"--dkim-key wants DOMAIN:SELECTOR:KEYFILE, got {spec!r}")
    return parts[0].lower().rstrip("."), parts[1], parts[2]


class DkimSigner:
    """Holds the keys; :meth:`sign` returns the ``DKIM-Signature`` header."""

    def __init__(self, keys: list[DkimKey]) -> None:
        self.keys = {k.domain: k for k in keys}

    @classmethod
    def from_specs(cls, specs: list[str]) -> DkimSigner:
        """Read the key files (at start-up, before the reactor runs)."""
        keys = []
        for spec in specs:
            domain, selector, path = parse_key_spec(spec)
            with open(path, "rb") as f:
                keys.append(DkimKey(domain, selector, f.read()))
        return cls(keys)

    def domain_for(self, message: bytes, sender: str) -> str | None:
        """The domain to sign as (see module docs), or None."""
        end = message.find(b"\r\n\r\n")
        head = message if end < 0 else message[: end + 2]
        headers = BytesHeaderParser(policy=compat32).parsebytes(head)
        for _name, addr in getaddresses([str(v) for v in headers.get_all("From", [])]):
            domain = addr.rpartition("@")[2].lower().rstrip(".")
            if domain in self.keys:
                return domain
        domain = sender.rpartition("@")[2].lower().rstrip(".")
        return domain if domain in self.keys else None

    def sign(self, message: bytes, sender: str) -> bytes:
        """The ``DKIM-Signature: ...`` header (CRLF-ended) to prepend, or
        ``b""`` when no key applies."""
        domain = self.domain_for(message, sender)
        if domain is None:
            return b""
        key = self.keys[domain]
        present = {line.split(b":", 1)[0].strip().lower()
                   for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                   if line[:1] not in (b" ", b"\t") and b":" in line}
        include = [h for h in _SIGNED if h in present] or [b"from"]
        signature: bytes = dkim.sign(
            message, key.selector.encode(), domain.encode(), key.private_key,
            canonicalize=(b"relaxed", b"relaxed"), include_headers=include, linesep=b"\r\n")
        return signature if signature.endswith(b"\r\n") else signature + b"\r\n"
