"""FETCH sections as byte ranges, and BINARY decoding.

Part numbering follows RFC 3501 §6.4.5: the parts of a multipart are
numbered 1..n; a ``message/rfc822`` part's own sub-parts are the parts of
the encapsulated message's body (its multipart children, or ``1`` for a
non-multipart body); part 1 of a non-multipart message is its body.
``HEADER`` / ``TEXT`` of a part apply to a ``message/rfc822`` part (the
encapsulated message's header / body); ``MIME`` is a part's own MIME header.
BINARY is RFC 3516.
"""

from __future__ import annotations

import binascii
import re
from typing import TYPE_CHECKING

from mailframe.errors import UnknownCTE

from ._headers import iter_fields
from ._structure import LEAF, MESSAGE, MULTIPART, Node

if TYPE_CHECKING:
    from ._info import MessageInfo

__all__ = [
    "find_part",
    "section_range",
    "part_header_range",
    "decode_binary",
    "binary_size",
    "binary_decodes",
    "decode_cte",
]


def find_part(info: MessageInfo, part: tuple[int, ...]) -> Node | None:
    """The node addressed by a part number, or None (RFC 3501 §6.4.5).

    ``()`` is the whole message.  "Part 1 of a non-multipart message is
    its body": a message (the top level, or the message inside a
    message/rfc822 part) whose body is not multipart takes the number 1
    once, meaning that body.  Like Dovecot, a non-multipart part of a
    multipart also takes one extra ``.1`` meaning itself (``4.1.1`` is
    ``4.1`` when ``4.1`` is an image).  After a message/rfc822 part,
    numbering continues inside the encapsulated message.
    """
    node: Node = info.tree
    may_be_one = True
    first = True
    for n in part:
        if not first and node.kind == MESSAGE:
            node = node.children[0]
            may_be_one = True
        first = False
        if node.kind == MULTIPART:
            kids = node.children
            if not 1 <= n <= len(kids):
                return None
            node = kids[n - 1]
            may_be_one = True
        elif n == 1 and may_be_one:
            may_be_one = False
        else:
            return None
    return node


def section_range(
    info: MessageInfo, part: tuple[int, ...], text: str | None
) -> tuple[int, int] | None:
    """Byte range ``[start, end)`` of raw for ``BODY[<part>[.<text>]]``.

    ``text`` is None, ``"HEADER"``, ``"TEXT"`` or ``"MIME"`` (for
    ``HEADER.FIELDS[.NOT]`` use :func:`part_header_range` and
    :func:`header_fields`).  None when the part does not exist, when
    ``MIME`` is asked of the whole message, or when ``HEADER``/``TEXT`` is
    asked of a part that is not a message/rfc822.
    """
    if text is not None:
        text = text.upper()
        if text.startswith("HEADER"):
            text = "HEADER"
    if not part:
        if text is None:
            return (0, info.size)  # the whole message: no need of the tree
        root = info.tree
        if text == "HEADER":
            return (root.header_start, root.body_start)
        if text == "TEXT":
            return (root.body_start, info.size)
        return None
    node = find_part(info, part)
    if node is None:
        return None
    if text is None:
        return (node.body_start, node.end)
    if text == "MIME":
        return (node.header_start, node.body_start)
    if node.kind != MESSAGE:
        return None
    inner = node.children[0]
    if text == "HEADER":
        return (inner.header_start, inner.body_start)
    if text == "TEXT":
        return (inner.body_start, inner.end)
    return None


def part_header_range(info: MessageInfo, part: tuple[int, ...]) -> tuple[int, int] | None:
    """The header block that ``BODY[<part>.HEADER.FIELDS (...)]`` filters:
    the top-level header for ``()``, the encapsulated message's header for
    a message/rfc822 part; None otherwise."""
    return section_range(info, part, "HEADER")


_IDENTITY = frozenset({b"", b"7bit", b"8bit", b"binary"})
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
# the lookbehind keeps this linear on long whitespace runs
_QP_TRAILING = re.compile(rb"(?<![ \t])[ \t]+(?=\r?\n|\Z)")


def _b64(body: bytes) -> bytes:
    """Lenient base64 (RFC 2045 §6.8): characters outside the alphabet are
    ignored, decoding stops at the first ``=`` (padding ends the data),
    missing padding is repaired and a lone trailing character dropped."""
    pad = body.find(b"=")
    if pad >= 0:
        body = body[:pad]
    data = _B64_JUNK.sub(b"", body)
    extra = len(data) % 4
    if extra == 1:
        data = data[:-1]
    elif extra:
        data += b"=" * (4 - extra)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # pragma: no cover - data is clean by now
        return b""


def decode_cte(cte: bytes, body: bytes) -> bytes | None:
    """Decode ``body`` by its transfer encoding; None for an unknown one."""
    cte = cte.lower()
    if cte in _IDENTITY:
        return body
    if cte == b"base64":
        return _b64(body)
    if cte == b"quoted-printable":
        # RFC 2045 §6.7 (3): trailing whitespace on a line was added in
        # transport and is deleted when decoding (a2b_qp keeps it)
        if (
            b" \r" in body
            or b" \n" in body
            or b"\t\r" in body
            or b"\t\n" in body
            or body[-1:] in (b" ", b"\t")
        ):
            body = _QP_TRAILING.sub(b"", body)
        return binascii.a2b_qp(body)
    return None


def _unknown(cte: bytes) -> UnknownCTE:
    return UnknownCTE(f"Unknown Content-Transfer-Encoding {cte.decode('latin-1')!r}")


def _encoded_leaves(node: Node, out: list[Node]) -> None:
    """Leaves below ``node`` (itself included) whose body is encoded."""
    kind = node.kind
    if kind == MULTIPART:
        for kid in node.children:
            _encoded_leaves(kid, out)
    elif kind == MESSAGE:
        _encoded_leaves(node.children[0], out)
    elif node.cte not in _IDENTITY:
        out.append(node)


_BINARY_CTE = b"Content-Transfer-Encoding: binary"


def _rewrite_cte(header: bytes) -> bytes:
    """A MIME header whose Content-Transfer-Encoding now says binary: the
    old field is dropped and the new one goes last, before the blank line
    (where Dovecot puts it)."""
    kept: list[bytes] = []
    blank = len(header)
    for name, s, e in iter_fields(header):
        if name != b"content-transfer-encoding":
            kept.append(header[s:e])
        blank = e
    eol = b"\n" if header.endswith(b"\n\n") or header == b"\n" else b"\r\n"
    return b"".join(kept) + _BINARY_CTE + eol + header[blank:]


def decode_binary(info: MessageInfo, part: tuple[int, ...], body: bytes) -> bytes:
    """``BINARY[<part>]`` (RFC 3516 §4.2) from the bytes of ``BODY[<part>]``
    (the whole message for ``()``).

    A leaf's base64 or quoted-printable body is decoded; 7bit, 8bit and
    binary are returned as is; any other encoding raises
    :class:`mailframe.errors.UnknownCTE` (answered ``NO [UNKNOWN-CTE]``).
    For the whole message, a multipart or a message/rfc822 part, every
    encoded leaf inside is decoded in place and its header says
    ``Content-Transfer-Encoding: binary`` -- what Dovecot answers.
    """
    if part:
        node = find_part(info, part)
        if node is None:
            return body
        if node.kind == LEAF:
            out = decode_cte(node.cte, body)
            if out is None:
                raise _unknown(node.cte)
            return out
        base = node.body_start
    else:
        node, base = info.tree, 0
    leaves: list[Node] = []
    _encoded_leaves(node, leaves)
    if not leaves:
        return body
    pieces: list[bytes] = []
    pos = 0
    for leaf in leaves:
        hs, bs, be = leaf[1] - base, leaf[2] - base, leaf[3] - base
        if hs < pos or be > len(body):
            return body  # not the bytes of this section: leave them alone
        decoded = decode_cte(leaf[6], body[bs:be])
        if decoded is None:
            raise _unknown(leaf[6])
        pieces += (body[pos:hs], _rewrite_cte(body[hs:bs]), decoded)
        pos = be
    pieces.append(body[pos:])
    return b"".join(pieces)


_TEXTUAL = frozenset({b"", b"7bit", b"8bit"})


def _decoded_leaf(node: Node) -> bool:
    kind = node.kind
    if kind == MULTIPART:
        return any(_decoded_leaf(kid) for kid in node.children)
    if kind == MESSAGE:
        return _decoded_leaf(node.children[0])
    return node.cte not in _TEXTUAL


def binary_decodes(info: MessageInfo, part: tuple[int, ...]) -> bool:
    """Whether ``BINARY[<part>]`` undoes a transfer encoding (base64,
    quoted-printable, or says ``binary``) somewhere inside the section:
    then its answer goes as a ``literal8`` (RFC 3516 §4.2), which is when
    Dovecot uses one; 7bit and 8bit text goes as a plain literal."""
    node = find_part(info, part) if part else info.tree
    return node is not None and _decoded_leaf(node)


def binary_size(info: MessageInfo, part: tuple[int, ...], body: bytes) -> int:
    """``BINARY.SIZE[<part>]`` (RFC 3516 §4.2): the size
    :func:`decode_binary` returns; raises :class:`UnknownCTE` like it."""
    if part:
        node = find_part(info, part)
        if node is None or (node.kind == LEAF and node.cte in _IDENTITY):
            return len(body)
    return len(decode_binary(info, part, body))
