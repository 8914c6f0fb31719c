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

import base64
import re
from collections.abc import Iterable, Iterator

__all__ = ["to_crlf", "has_bare_lf", "CRLFStream", "crlf_chunks", "binary_to_base64"]

_BARE_LF = re.compile(rb"(?<!\r)\n")


#: Octets counted per call in :func:`has_bare_lf`.
_SLICE = 1 << 20


def has_bare_lf(data: bytes) -> bool:
    """Whether some LF in ``data`` has no CR before it (two C-speed counts,
    a megabyte at a time: a store's thread checking a 50 MB APPEND lets
    the reactor thread have the GIL between slices)."""
    for start in range(0, len(data), _SLICE):
        end = start + _SLICE
        lf = data.count(b"\n", start, end)
        # each CRLF whose LF lies in [start, end), its CR perhaps just before
        if lf and lf != data.count(b"\r\n", max(0, start - 1), end):
            return True
    return False


def to_crlf(data: bytes) -> bytes:
    """``data`` with every bare LF turned into CRLF; ``data`` itself (no
    copy) when it has none."""
    if not has_bare_lf(data):
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


_BINARY_CTE = re.compile(rb"(?im)^(content-transfer-encoding[ \t]*:\s*)binary\b")


def binary_to_base64(raw: bytes) -> bytes:
    """A message APPENDed as binary (``literal8``, RFC 3516 §4.4) in the
    form Dovecot 2.3 saves it: every part whose Content-Transfer-Encoding
    is ``binary`` is re-encoded as base64 (76-character lines, the field
    now says ``base64``) so its octets survive, and everything else gets
    CRLF line ends (:func:`to_crlf`).  BINARY[] of such a part still
    answers the exact octets that were sent."""
    if not _BINARY_CTE.search(raw):
        return to_crlf(raw)
    from ._info import parse
    from ._structure import LEAF, MESSAGE, MULTIPART, Node

    leaves: list[tuple[int, int, int]] = []

    def walk(node: Node) -> None:
        kind, kids = node.kind, node.children
        if kind == MULTIPART:
            for kid in kids:
                walk(kid)
        elif kind == MESSAGE:
            walk(kids[0])
        elif kind == LEAF and node.cte == b"binary":
            leaves.append((node.header_start, node.body_start, node.end))

    walk(parse(raw).tree)
    out: list[bytes] = []
    pos = 0
    for hstart, bstart, bend in leaves:
        out.append(to_crlf(raw[pos:hstart]))
        out.append(to_crlf(_BINARY_CTE.sub(rb"\1base64", raw[hstart:bstart], count=1)))
        out.append(base64.encodebytes(raw[bstart:bend]).rstrip(b"\n").replace(b"\n", b"\r\n"))
        pos = bend
    out.append(to_crlf(raw[pos:]))
    return b"".join(out)
