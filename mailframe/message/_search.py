"""SEARCH matching primitives (RFC 3501 §6.4.4, RFC 9051 §6.4.4).

Matching is a case-insensitive substring test on decoded text: header
values with RFC 2047 encoded words decoded, and bodies with base64 /
quoted-printable removed, converted from their charset, HTML reduced to
text.  Decoded headers are cached on the :class:`MessageInfo` so repeated
searches over cached messages cost no re-parsing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._decode import decode_words, fold_case, html_to_text, to_text
from ._headers import field_value, iter_fields, unfold
from ._sections import decode_cte
from ._structure import MESSAGE, MULTIPART, Node

if TYPE_CHECKING:
    from ._info import MessageInfo

__all__ = ["header_matches", "body_matches", "text_matches", "decoded_headers"]


def decoded_headers(info: MessageInfo) -> list[tuple[str, str]]:
    """``(lower-case name, folded decoded value)`` for every top-level field."""
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    got = cache.get("headers")
    if got is None:
        block = info.header
        got = [
            (name.decode("latin-1"), fold_case(decode_words(unfold(field_value(block, s, e)))))
            for name, s, e in iter_fields(block)
        ]
        cache["headers"] = got
    return got


def header_matches(info: MessageInfo, name: str, needle: str) -> bool:
    """``HEADER name needle`` (also FROM, TO, CC, BCC, SUBJECT).

    True when some field called ``name`` (case-insensitive) contains
    ``needle`` after RFC 2047 decoding, case-insensitively; an empty needle
    matches any message that has the field (RFC 3501 §6.4.4).
    """
    lname = name.lower()
    folded = fold_case(needle)
    for fname, value in decoded_headers(info):
        if fname == lname and folded in value:
            return True
    return False


def _text_leaves(node: Node, out: list[Node]) -> None:
    """The text/* leaves of a tree, encapsulated messages included."""
    kind = node[0]
    if kind == MULTIPART:
        for kid in node[8]:
            _text_leaves(kid, out)
    elif kind == MESSAGE:
        _text_leaves(node[8][0], out)
    elif node[4] == b"text":
        out.append(node)


def _part_text(raw: bytes, node: Node) -> str:
    body = raw[node[2] : node[3]]
    decoded = decode_cte(node[6], body)
    if decoded is None:
        decoded = body
    text = to_text(decoded, node[7])
    if node[5] in (b"html", b"xhtml+xml"):
        text = html_to_text(text)
    return text


def body_matches(info: MessageInfo, raw: bytes, needle: str) -> bool:
    """``BODY needle``: some decoded text part contains ``needle``."""
    folded = fold_case(needle)
    if not folded:
        return True
    leaves: list[Node] = []
    _text_leaves(info.tree, leaves)
    return any(folded in fold_case(_part_text(raw, n)) for n in leaves)


def text_matches(info: MessageInfo, raw: bytes, needle: str) -> bool:
    """``TEXT needle``: the header or the body (RFC 3501 §6.4.4); headers of
    encapsulated messages count as body text."""
    folded = fold_case(needle)
    if not folded:
        return True
    if any(folded in v or folded in n for n, v in decoded_headers(info)):
        return True
    if body_matches(info, raw, needle):
        return True
    return _nested_headers_match(info.tree, raw, folded)


def _nested_headers_match(node: Node, raw: bytes, folded: str) -> bool:
    kind = node[0]
    if kind == MULTIPART:
        return any(_nested_headers_match(k, raw, folded) for k in node[8])
    if kind == MESSAGE:
        inner = node[8][0]
        if folded in fold_case(decode_words(raw[inner[1] : inner[2]])):
            return True
        return _nested_headers_match(inner, raw, folded)
    return False
