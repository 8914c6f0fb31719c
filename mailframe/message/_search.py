"""SEARCH matching primitives (RFC 3501 §6.4.4, RFC 9051 §6.4.4).

Matching is a case-insensitive (Unicode case folding) substring test on
decoded text: header values with RFC 2047 encoded words decoded; bodies of
text/* and message/* leaves with base64 / quoted-printable removed and
converted from their charset, HTML matched both as source (as Dovecot
does) and as rendered text.  Checked against Dovecot 2.3's answers
(``tests/data/dovecot-2.3.19-search.json``).  Decoded headers are cached
on the :class:`MessageInfo`, so repeated searches cost no re-parsing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Union

from mailframe import vocabulary
from mailframe.errors import BadCharset

from ._address import parse_addresses
from ._decode import decode_words, fold_case, html_to_text, to_text
from ._headers import _FIELD, _FOLD, unfold
from ._sections import decode_cte
from ._structure import MESSAGE, MULTIPART, Node

if TYPE_CHECKING:
    from ._info import MessageInfo

__all__ = ["HeaderSource", "header_matches", "header_matcher", "header_values", "address_text", "body_matches", "text_matches", "decoded_headers", "check_charset", "Content", "search_ranges"]

#: What BODY / TEXT matching reads of a message: its whole bytes, or only
#: the byte ranges :func:`search_ranges` names, keyed by ``(start, end)``
#: (so a big message with a small text part and a large attachment is
#: never read whole).
Content = Union[bytes, Mapping[tuple[int, int], bytes]]  # noqa: UP007


def _slice(raw: Content, start: int, end: int) -> bytes:
    if isinstance(raw, bytes):
        return raw[start:end]
    return raw[(start, end)]


def search_ranges(info: MessageInfo, text: bool) -> list[tuple[int, int]]:
    """The byte ranges of the message ``BODY`` (``text`` False) or ``TEXT``
    (``text`` True) reads beside ``info`` (RFC 3501 §6.4.4): the bodies of
    the text/* and message/* leaves, and for TEXT the headers below the
    top level too.  ``body_matches`` / ``text_matches`` given a mapping of
    exactly these ranges answer as given the whole message."""
    leaves: list[Node] = []
    _text_leaves(info.tree, leaves)
    out = {(n.body_start, n.end) for n in leaves}
    if text:
        _nested_header_ranges(info.tree, out)
    return sorted(out)


def _nested_header_ranges(node: Node, out: set[tuple[int, int]]) -> None:
    for kid in node.children:
        if kid.body_start > kid.header_start:
            out.add((kid.header_start, kid.body_start))
        _nested_header_ranges(kid, out)

#: SEARCH CHARSET values we accept (RFC 3501 §6.4.4 requires US-ASCII and
#: UTF-8; RFC 9051 §6.4.4 only UTF-8).
SEARCH_CHARSETS = vocabulary.SEARCH_CHARSETS


def check_charset(charset: str | None) -> None:
    """Validate ``SEARCH CHARSET x``; raise :class:`BadCharset`
    (``NO [BADCHARSET (US-ASCII UTF-8)]``) for any other charset."""
    if charset is not None and charset.upper() not in SEARCH_CHARSETS:
        raise BadCharset(f"Unsupported charset {charset}")


class HeaderSource(Protocol):
    """What header searching reads: the top-level header block and a
    cache for what was decoded from it (a :class:`MessageInfo`, or a
    search cache's row that outlives the info)."""

    header: bytes
    _cache: dict[str, Any] | None


def _fields(info: HeaderSource) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The per-info search cache and the top-level fields as
    ``(lower-case name, raw value)`` (one regex pass, done once)."""
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    fields = cache.get("fields")
    if fields is None:
        fields = cache["fields"] = [
            (name.rstrip(b" \t").lower().decode("latin-1"), value)
            for name, value in _FIELD.findall(info.header)
        ]
    return cache, fields


def _decoded(info: HeaderSource, lname: str) -> list[str]:
    """Case-folded, RFC 2047-decoded values of the fields called ``lname``."""
    cache, fields = _fields(info)
    key = "h:" + lname
    got: list[str] | None = cache.get(key)
    if got is None:
        got = cache[key] = [fold_case(decode_words(unfold(v))) for n, v in fields if n == lname]
    return got


def decoded_headers(info: MessageInfo) -> list[tuple[str, str]]:
    """``(lower-case name, folded decoded value)`` for every top-level field."""
    _, fields = _fields(info)
    return [(n, fold_case(decode_words(unfold(v)))) for n, v in fields]


def _header_text(info: MessageInfo) -> str:
    """The whole top-level header as one case-folded text, unfolded and
    RFC 2047-decoded, field names included, one field per line."""
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    got: str | None = cache.get("text")
    if got is None:
        unfolded = _FOLD.sub(b" ", info.header).replace(b"\r", b"")
        got = cache["text"] = fold_case(decode_words(unfolded))
    return got


def header_matches(info: HeaderSource, name: str, needle: str) -> bool:
    """``HEADER name needle`` (also FROM, TO, CC, BCC, SUBJECT).

    True when some field called ``name`` (case-insensitive) contains
    ``needle`` after RFC 2047 decoding, case-insensitively; an empty needle
    matches any message that has the field (RFC 3501 §6.4.4).  Only the
    fields asked for are decoded, and the result is cached on ``info``.
    The address fields match their parsed addresses (see
    :func:`address_text`), as Dovecot does.
    """
    folded = fold_case(needle)
    lname = name.lower()
    if lname in ADDRESS_FIELDS:
        return _address_matches(info, lname, folded)
    decoded = info._cache is not None and "h:" + lname in info._cache
    if folded and not decoded and _surely_absent(info, folded):
        return False
    return any(folded in value for value in _decoded(info, lname))


def header_matcher(name: str, needle: str) -> Callable[[HeaderSource], bool]:
    """:func:`header_matches` for one key over many messages: the needle is
    folded once, and decoded values already in a message's cache are
    used without the raw-header check."""
    folded = fold_case(needle)
    lname = name.lower()
    if lname in ADDRESS_FIELDS:
        return lambda info: _address_matches(info, lname, folded)
    key = "h:" + lname

    def test(info: HeaderSource) -> bool:
        cache = info._cache
        if folded and (cache is None or key not in cache) and _surely_absent(info, folded):
            return False
        return any(folded in value for value in _decoded(info, lname))

    return test


#: Fields searched as address lists (RFC 3501 §6.4.4 FROM, TO, CC, BCC).
ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc"})


def _quote_name(name: bytes) -> bytes:
    """A display name as it is written in an address: as is when every
    octet is atext (RFC 5322 §3.2.3, 8-bit allowed), else quoted."""
    if _ATEXT.fullmatch(name):
        return name
    return b'"' + name.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


_ATEXT = re.compile(rb"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\xff]+")


def address_text(value: bytes) -> bytes:
    """An address-list field value written out in one normal form, the
    text that FROM / TO / CC / BCC search (RFC 3501 §6.4.4), as Dovecot
    2.3 writes it for its search: every address parsed as ENVELOPE shows
    it (comments and folding inside an address removed, RFC 5322
    §3.4.1; broken parts as ``MISSING_MAILBOX`` / ``MISSING_DOMAIN`` /
    ``SYNTAX_ERROR``), written ``name <@route:local@domain>`` (the name
    quoted where needed), groups as ``group: <a@b>, <c@d>;``, all
    joined by ``", "``."""
    items: list[bytes] = []
    group: list[bytes] | None = None
    group_name = b""
    for name, adl, local, domain in parse_addresses(value):
        if domain is None:
            if group is None:  # group start: the name stands in the mailbox slot
                group, group_name = [], local or b'""'
            else:
                items.append(
                    group_name + b":" + (b" " + b", ".join(group) if group else b"") + b";"
                )
                group = None
            continue
        text = b"<" + (adl + b":" if adl else b"") + (local or b"") + b"@" + domain + b">"
        if name:
            text = _quote_name(name) + b" " + text
        (items if group is None else group).append(text)
    return b", ".join(items)


def _address_matches(info: HeaderSource, lname: str, folded: str) -> bool:
    cache, _ = _fields(info)
    if "a:" + lname not in cache and folded and _atom_needle(folded) and _surely_absent(info, folded):
        return False  # cheap "no": the needle lies inside one atom
    return any(folded in value for value in _address_values(info, lname))


def _address_values(info: HeaderSource, lname: str) -> list[str]:
    cache, fields = _fields(info)
    key = "a:" + lname
    got: list[str] | None = cache.get(key)
    if got is None:
        got = cache[key] = [
            fold_case(decode_words(address_text(unfold(v)))) for n, v in fields if n == lname
        ]
    return got


def header_values(info: HeaderSource, name: str) -> list[str]:
    """The texts ``HEADER name needle`` looks for the case-folded needle in
    (RFC 3501 §6.4.4): the RFC 2047-decoded, case-folded values of the
    fields called ``name``, address fields written as :func:`address_text`.
    ``header_matches(info, name, needle)`` is ``any(fold_case(needle) in v
    for v in header_values(info, name))``; a search cache keeps these."""
    lname = name.lower()
    if lname in ADDRESS_FIELDS:
        return _address_values(info, lname)
    return _decoded(info, lname)


_ATOM_NEEDLE = re.compile(r"[a-z0-9!#$%&'*+\-/=?^_`{|}~]+")
_PLACEHOLDERS = "missing_mailbox missing_domain syntax_error"


def _atom_needle(folded: str) -> bool:
    """Whether a needle can only match inside one atom of the written
    address text (no dot, ``@``, space or bracket to span two tokens that
    comments or folding separate in the header) and is no part of a
    placeholder the parser writes in: then it matches only where the raw
    header holds it too."""
    return _ATOM_NEEDLE.fullmatch(folded) is not None and folded not in _PLACEHOLDERS


def _surely_absent(info: HeaderSource, folded: str) -> bool:
    """A cheap "no" for the common case, before any decoding: when the
    header holds no encoded word, no 8-bit octet, no NUL and no CR outside
    CRLF, decoding and unfolding can only turn a folded line break into a
    space -- so a needle without white space that is not in the lower-cased
    raw header is in no decoded field either."""
    if not folded.isascii() or " " in folded or "\t" in folded:
        return False
    header = info.header
    if b"=?" in header or b"\x00" in header or not header.isascii():
        return False
    if header.count(b"\r") != header.count(b"\r\n"):
        return False
    return folded.encode("ascii") not in header.lower()


_SEARCHED_TYPES = (b"text", b"message")


def _text_leaves(node: Node, out: list[Node]) -> None:
    """The leaves BODY searches: text/* and message/* leaves (such as
    message/delivery-status), encapsulated messages included -- the parts
    Dovecot searches too; application/*, image/* ... are not text."""
    kind = node.kind
    if kind == MULTIPART:
        for kid in node.children:
            _text_leaves(kid, out)
    elif kind == MESSAGE:
        _text_leaves(node.children[0], out)
    elif node.type in _SEARCHED_TYPES:
        out.append(node)


_HTML = (b"html", b"xhtml+xml")
# charsets whose ASCII bytes do not mean ASCII text (stateful or wide)
_NOT_ASCII_COMPATIBLE = (b"iso-2022", b"utf-16", b"utf-32", b"utf-7", b"hz", b"ucs")


def _part_matches(raw: Content, node: Node, folded: str, ascii_needle: bytes | None) -> bool:
    """Whether the decoded text of a text/* leaf contains ``folded``."""
    body = _slice(raw, node.body_start, node.end)
    decoded = decode_cte(node.cte, body)
    if decoded is None:
        decoded = body
    html_part = node.subtype in _HTML
    if (
        ascii_needle is not None
        and not html_part
        and decoded.isascii()
        and not node.charset.startswith(_NOT_ASCII_COMPATIBLE)
    ):
        return ascii_needle in decoded.lower()  # exact for ASCII text
    text = to_text(decoded, node.charset)
    if html_part:
        # HTML matches as source (what Dovecot searches) or as rendered
        # text, where any whitespace run in the needle matches any run
        if folded in fold_case(text):
            return True
        rendered = fold_case(html_to_text(text))
        if any(c.isspace() for c in folded):
            return _spaced(folded).search(rendered) is not None
        return folded in rendered
    return folded in fold_case(text)


@functools.lru_cache(maxsize=64)
def _spaced(folded: str) -> re.Pattern[str]:
    """``folded`` as a regex where each whitespace run matches any run."""
    return re.compile(r"\s+".join(re.escape(w) for w in folded.split()))


def body_matches(info: MessageInfo, raw: Content, needle: str) -> bool:
    """``BODY needle``: some decoded text part contains ``needle``
    (``raw``: the message, or the ranges of :func:`search_ranges`)."""
    folded = fold_case(needle)
    if not folded:
        return True
    leaves: list[Node] = []
    _text_leaves(info.tree, leaves)
    ascii_needle = folded.encode("ascii") if folded.isascii() else None
    return any(_part_matches(raw, n, folded, ascii_needle) for n in leaves)


def text_matches(info: MessageInfo, raw: Content, needle: str) -> bool:
    """``TEXT needle``: the header or the body (RFC 3501 §6.4.4).

    The header is searched as text, field names included (``TEXT
    "subject:"`` matches, as in Dovecot), values RFC 2047-decoded; MIME
    headers of parts and headers of encapsulated messages count as body
    text."""
    folded = fold_case(needle)
    if not folded:
        return True
    if folded in _header_text(info):
        return True
    if body_matches(info, raw, needle):
        return True
    return _nested_headers_match(info.tree, raw, folded)


def _nested_headers_match(node: Node, raw: Content, folded: str) -> bool:
    """Whether some header below the top level -- a part's MIME header or
    an encapsulated message's header -- contains ``folded``: TEXT searches
    the whole body as written, and Dovecot finds those too."""
    kids: tuple[Node, ...] = node.children
    for kid in kids:
        if kid.body_start > kid.header_start and folded in fold_case(
            decode_words(_slice(raw, kid.header_start, kid.body_start))
        ):
            return True
        if _nested_headers_match(kid, raw, folded):
            return True
    return False
