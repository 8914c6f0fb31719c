"""Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).

Printable US-ASCII (0x20-0x7E) stands for itself, except ``&``, written
``&-``.  Any other run of characters is UTF-16BE, base64-encoded with ``,``
instead of ``/`` and no padding, between ``&`` and ``-``.
:func:`decode` is strict: the RFC allows exactly one spelling of each name.
"""

from __future__ import annotations

import binascii

__all__ = ["encode", "decode"]

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def _is_direct(ch: str) -> bool:
    return "\x20" <= ch <= "\x7e"


def encode(name: str) -> bytes:
    """``name`` in modified UTF-7.  Raises ValueError for lone surrogates."""
    out = bytearray()
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be")  # strict: ValueError on lone surrogates
            b64 = binascii.b2a_base64(raw, newline=False).rstrip(b"=").replace(b"/", b",")
            out.extend(b"&" + b64 + b"-")
            run.clear()

    for ch in name:
        if _is_direct(ch):
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            run.append(ch)
    flush()
    return bytes(out)


def decode(data: bytes) -> str:
    """The name ``data`` spells in modified UTF-7.

    Raises ValueError for anything RFC 3501 §5.1.3 forbids: octets outside
    printable ASCII, an unterminated or malformed shift sequence, non-zero
    padding bits, odd UTF-16 lengths or bad surrogates, printable ASCII
    encoded in base64, or two shift sequences in a row (which one
    sequence would spell).
    """
    out: list[str] = []
    i = 0
    n = len(data)
    prev_shift_end = -1
    while i < n:
        c = data[i]
        if c < 0x20 or c > 0x7E:
            raise ValueError("octet outside printable ASCII in mailbox name")
        if c != 0x26:  # "&"
            start = i
            while i < n and data[i] != 0x26 and 0x20 <= data[i] <= 0x7E:
                i += 1
            out.append(data[start:i].decode("ascii"))
            continue
        end = data.find(b"-", i + 1)
        if end < 0:
            raise ValueError("unterminated modified base64 in mailbox name")
        if end == i + 1:
            out.append("&")
            i = end + 1
            continue
        if prev_shift_end == i:
            raise ValueError("adjacent modified base64 sequences in mailbox name")
        b64 = data[i + 1 : end]
        if not _B64.issuperset(b64):
            raise ValueError("invalid modified base64 in mailbox name")
        out.append(_decode_run(b64))
        i = end + 1
        prev_shift_end = i
    return "".join(out)


def _decode_run(b64: bytes) -> str:
    """One base64 run to text, checking it is the canonical encoding."""
    rem = len(b64) % 4
    if rem == 1:
        raise ValueError("truncated modified base64 in mailbox name")
    padded = b64.replace(b",", b"/") + b"=" * ((4 - rem) % 4)
    raw = binascii.a2b_base64(padded)
    if len(raw) % 2 or not raw:
        raise ValueError("modified base64 is not whole UTF-16 units")
    # Unused low bits of the last character must be zero (canonical form).
    if binascii.b2a_base64(raw, newline=False).rstrip(b"=") != padded.rstrip(b"="):
        raise ValueError("non-zero padding bits in modified base64")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise ValueError("invalid UTF-16 in mailbox name") from exc
    if any(_is_direct(ch) for ch in text):
        raise ValueError("printable ASCII encoded in modified base64")
    return text
