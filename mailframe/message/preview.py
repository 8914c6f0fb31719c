"""PREVIEW text (RFC 8970 §3): a short plain-text abstract of a message.

Taken from the first ``text/plain`` part of the message body (else the
first ``text/html`` part, its markup dropped), outside attached messages;
transfer-decoded and charset-decoded, whitespace runs collapsed to one
space, cut to :data:`PREVIEW_MAX` characters (and never more than
:data:`PREVIEW_MAX_OCTETS` octets of UTF-8).  Only the first
:data:`READ_MAX` octets of the part are read, so a large body costs no
more than a small one.  Sans-IO: the caller reads the range
:func:`preview_range` names and hands the bytes to :func:`make_preview`.
"""

from __future__ import annotations

import binascii
import codecs
import re

from ._decode import html_to_text
from ._info import MessageInfo
from ._sections import decode_cte
from ._structure import LEAF, MULTIPART, Node

__all__ = ["PREVIEW_MAX", "PREVIEW_MAX_OCTETS", "READ_MAX", "preview_part", "preview_range",
           "make_preview"]

#: RFC 8970 §3: "no more than 200 characters".
PREVIEW_MAX = 200
#: RFC 8970 §3 bounds the octets too (256); UTF-8 may take four per character.
PREVIEW_MAX_OCTETS = 256
#: Octets of the part's (encoded) body read to make the preview.
READ_MAX = 16 * 1024

_SPACE = re.compile(r"\s+")


def _leaves(node: Node) -> list[Node]:
    """Body leaves in order, not descending into attached messages."""
    if node.kind == LEAF:
        return [node]
    if node.kind == MULTIPART:
        out: list[Node] = []
        for child in node.children:
            out += _leaves(child)
        return out
    return []  # message/rfc822: another message's text, not this one's


def preview_part(info: MessageInfo) -> Node | None:
    """The part the preview comes from: the first ``text/plain`` leaf,
    else the first ``text/html`` one; None when there is neither."""
    leaves = _leaves(info.tree)
    for subtype in (b"plain", b"html"):
        for leaf in leaves:
            if leaf.type == b"text" and leaf.subtype == subtype:
                return leaf
    return None


def preview_range(info: MessageInfo) -> tuple[int, int] | None:
    """The byte range of the message to read for the preview."""
    part = preview_part(info)
    if part is None:
        return None
    return part.body_start, min(part.end, part.body_start + READ_MAX)


def _decode_text(data: bytes, charset: bytes) -> str:
    name = charset.decode("ascii", "replace").strip() or "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        codec = "utf-8"
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        # a multi-octet character cut by READ_MAX, or a wrong label
        return data.decode(codec, "ignore")
    except Exception:
        return data.decode("latin-1")


def make_preview(info: MessageInfo, body: bytes) -> str:
    """The preview text from ``body``, the bytes :func:`preview_range`
    named ("" when the message has no text part: RFC 8970 §3 answers an
    empty string, not NIL, when there is nothing to show)."""
    part = preview_part(info)
    if part is None:
        return ""
    truncated = part.end > part.body_start + len(body)
    if part.cte == b"base64" and truncated:
        packed = re.sub(rb"[^A-Za-z0-9+/=]", b"", body)
        body = packed[: len(packed) - len(packed) % 4]
    try:
        decoded = decode_cte(part.cte, body)
    except (binascii.Error, ValueError):
        decoded = None
    if decoded is None:
        return ""
    text = _decode_text(decoded, part.charset)
    if part.subtype == b"html":
        text = html_to_text(text)
    text = _SPACE.sub(" ", text).strip()[:PREVIEW_MAX].rstrip()
    while len(text.encode("utf-8")) > PREVIEW_MAX_OCTETS:
        text = text[:-1]
    return text
