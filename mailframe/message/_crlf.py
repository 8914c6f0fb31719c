"""Line ends at save time: bare LF becomes CRLF (RFC 5322 §2.1 and
RFC 3501 §2.3.3: a message is lines ending in CRLF), as Dovecot converts a
message when it saves one, so RFC822.SIZE, BODYSTRUCTURE and every
section count the octets actually served.

Only a LF that has no CR before it gains one; a CR elsewhere is left as
it is (Dovecot leaves it too).  One linear pass; a message that is
already CRLF throughout comes back as the very same object, copied
nowhere.  :class:`CRLFStream` does the same chunk by chunk, for callers
that never hold a whole message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["to_crlf", "CRLFStream", "crlf_chunks"]

_BARE_LF = re.compile(rb"(?<!\r)\n")


def to_crlf(data: bytes) -> bytes:
    """``data`` with every bare LF turned into CRLF; ``data`` itself (no
    copy) when it has none."""
    lf = data.count(b"\n")
    if not lf or lf == data.count(b"\r\n"):
        return data
    return _BARE_LF.sub(b"\r\n", data)


class CRLFStream:
    """:func:`to_crlf` for a message that arrives in chunks: ``feed`` each
    chunk and write what it returns; a LF at the start of a chunk knows
    whether the previous chunk ended with CR."""

    __slots__ = ("_after_cr",)

    def __init__(self) -> None:
        self._after_cr = False

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return chunk
        out = to_crlf(chunk)
        if chunk[0] == 0x0A and self._after_cr:
            out = out[1:]  # the CR that ended the last chunk was its CR
        self._after_cr = chunk[-1] == 0x0D
        return out


def crlf_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Convert a message given as chunks, chunk by chunk."""
    stream = CRLFStream()
    for chunk in chunks:
        yield stream.feed(chunk)
