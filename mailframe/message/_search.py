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
from ._decode import decode_words, fold_case, html_to_text, text_charset, to_text
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
    """Validate ``SEARCH CHARSET x``: US-ASCII, UTF-8 or another charset
    Python decodes (:func:`text_charset`); raise :class:`BadCharset`
    (``NO [BADCHARSET (US-ASCII UTF-8)]``, naming the two every client
    may rely on) for an unknown one."""
    if charset is not None and charset.upper() not in SEARCH_CHARSETS and not text_charset(charset):
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
    cache = info._cache
    key = "h:" + lname
    if cache is not None:
        got: list[str] | None = cache.get(key)
        if got is not None:
            return got
    if _plain(info):
        got = _plain_values(info, lname, info.header.lower())
    else:
        _, fields = _fields(info)
        got = [fold_case(decode_words(unfold(v))) for n, v in fields if n == lname]
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    cache[key] = got
    return got


def _plain_values(info: HeaderSource, lname: str, lowered: bytes) -> list[str]:
    """:func:`_decoded` of a plain header (:func:`_plain`), given it
    lower-cased: nothing to decode, and folding ASCII is lower-casing, so
    the values are those of the lower-cased header, found without
    splitting it; kept in the cache."""
    got = [unfold(v).decode("ascii") for v in _named_field(lname).findall(b"\n" + lowered)]
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    cache["h:" + lname] = got
    return got


def _plain(info: HeaderSource) -> bool:
    """Whether the header holds no encoded word, no 8-bit octet, no NUL
    and no CR outside CRLF: then decoding a field is unfolding it, and
    folding its case lower-casing it."""
    cache = info._cache
    if cache is not None:
        known: bool | None = cache.get("plain")
        if known is not None:
            return known
    header = info.header
    plain = (
        b"=?" not in header
        and b"\x00" not in header
        and header.isascii()
        and header.count(b"\r") == header.count(b"\r\n")
    )
    if cache is None:
        cache = info._cache = {}
    cache["plain"] = plain
    return plain


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
        return _address_matches(info, lname, folded, _address_pieces(folded))
    return any(folded in value for value in _decoded(info, lname))


def header_matcher(name: str, needle: str) -> Callable[[HeaderSource], bool]:
    """:func:`header_matches` for one key over many messages: the needle is
    folded once."""
    folded = fold_case(needle)
    lname = name.lower()
    if lname in ADDRESS_FIELDS:
        return _address_matcher(lname, folded)
    key = "h:" + lname
    # A needle with no white space (which unfolding may make) that is
    # not in the lower-cased raw header of a plain one is in no value:
    # a cheap "no" before anything is decoded or kept.
    quick = folded.encode("ascii") if folded.isascii() and not any(c in folded for c in " \t") else None

    def test(info: HeaderSource) -> bool:
        cache = info._cache
        values = cache.get(key) if cache is not None else None
        if values is None:
            if quick is not None and _plain(info):
                lowered = info.header.lower()
                if quick not in lowered:
                    return False
                values = _plain_values(info, lname, lowered)
            else:
                values = _decoded(info, lname)
        for value in values:  # (a loop: no generator per message)
            if folded in value:
                return True
        return False

    return test


_ABSENT = object()


def _address_matcher(lname: str, folded: str) -> Callable[[HeaderSource], bool]:
    """:func:`_address_matches` for one needle over many messages: the
    cache keys and the needle's pieces made once, loops instead of
    generators (the same answers: the steps of :func:`_address_matches`
    and :func:`_address_surely_absent`)."""
    pieces = _address_pieces(folded)
    akey, skey = "a:" + lname, "s:" + lname

    def test(info: HeaderSource) -> bool:
        cache = info._cache
        values = cache.get(akey) if cache is not None else None
        if values is None:
            if folded and pieces:
                if cache is None:
                    cache = info._cache = {}
                squeezed = cache.get(skey, _ABSENT)
                if squeezed is _ABSENT:
                    squeezed = cache[skey] = _squeezed(info.header, lname)
                if squeezed is not None:
                    for value in squeezed:
                        for p in pieces:
                            if p not in value:
                                break
                        else:
                            break  # every piece in this value: maybe there
                    else:
                        return False  # cheap "no"
            values = _address_values(info, lname)
        for value in values:
            if folded in value:
                return True
        return False

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


def _address_matches(info: HeaderSource, lname: str, folded: str, pieces: list[bytes] | None) -> bool:
    cache = info._cache
    if folded and (cache is None or "a:" + lname not in cache):
        # (not the raw-header check of other fields: the parser joins the
        # words of an addr-spec across white space and comments)
        if pieces and _address_surely_absent(info, lname, pieces):
            return False  # cheap "no": some atom of the needle is in no such field
    return any(folded in value for value in _address_values(info, lname))


#: atext (RFC 5322 §3.2.3), folded
_NEEDLE_PIECE = re.compile(r"[a-z0-9!#$%&'*+\-/=?^_`{|}~]+")
#: In a raw address field, what the parser may turn into other atom text
#: (quoted-strings and quoted pairs, comments, stray brackets) or decodes
#: (encoded words, 8-bit octets): no cheap "no" for such a field.
_ADDRESS_UNSAFE = re.compile(rb'[^\x00-\x7f]|["()\\\]]|=\?')


@functools.lru_cache(maxsize=64)
def _named_field(lname: str) -> re.Pattern[bytes]:
    """The values of the top-level fields called ``lname`` in a
    lower-cased header with a line break in front, as :func:`_fields`
    finds them (white space before the colon allowed), without splitting
    the whole header."""
    # a literal start ("\nfrom"), which the regex engine finds fast: the
    # header is searched with a line break put in front
    return re.compile(rb"\n" + re.escape(lname.encode("latin-1")) + rb"[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")


def _address_pieces(folded: str) -> list[bytes] | None:
    """The atom-character runs of a folded needle, when a cheap "no" may
    use them: none may be part of a placeholder the parser writes in
    (``MISSING_MAILBOX`` ...)."""
    pieces = _NEEDLE_PIECE.findall(folded)
    if not pieces or any(p in _PLACEHOLDERS for p in pieces):
        return None
    return [p.encode("ascii") for p in pieces]


def _address_surely_absent(info: HeaderSource, lname: str, pieces: list[bytes]) -> bool:
    """A cheap "no" for FROM / TO / CC / BCC before any parsing.

    In a field with no quote, comment, backslash, ``]``, encoded word or
    8-bit octet, every run of atom characters that :func:`address_text`
    writes is raw text of the field with only white space (and NUL) left
    out: the parser joins the words of a local part or domain without the
    white space between them, and a display name keeps its words.  So a
    needle one of whose atom runs is not in the field with its white
    space squeezed out is not in the written text either.  The squeezed
    values are kept in the cache beside the decoded ones."""
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    key = "s:" + lname
    if key in cache:
        squeezed: list[bytes] | None = cache[key]
    else:
        squeezed = cache[key] = _squeezed(info.header, lname)
    if squeezed is None:
        return False
    return not any(all(p in value for p in pieces) for value in squeezed)


def _squeezed(header: bytes, lname: str) -> list[bytes] | None:
    """The lower-cased values of the fields called ``lname`` without white
    space or NUL; None when one of them holds what the parser rewrites."""
    out: list[bytes] = []
    for value in _named_field(lname).findall(b"\n" + header.lower()):
        if _ADDRESS_UNSAFE.search(value) is not None:
            return None
        out.append(value.translate(None, b" \t\r\n\x00"))
    return out


def _address_values(info: HeaderSource, lname: str) -> list[str]:
    cache = info._cache
    if cache is None:
        cache = info._cache = {}
    key = "a:" + lname
    got: list[str] | None = cache.get(key)
    if got is None:
        got = cache[key] = [fold_case(decode_words(address_text(unfold(v)))) for v in _raw_values(info, lname)]
    return got


def _raw_values(info: HeaderSource, lname: str) -> list[bytes]:
    """The raw values of the top-level fields called ``lname``, as
    :func:`_fields` splits them, without splitting the whole header: the
    fields are found in the lower-cased header (:func:`_named_field`) and
    their values taken from the header as it is (lower-casing keeps every
    offset)."""
    cache = info._cache
    fields = cache.get("fields") if cache is not None else None
    if fields is not None:
        return [v for n, v in fields if n == lname]
    header = info.header
    return [header[m.start(1) - 1 : m.end(1) - 1] for m in _named_field(lname).finditer(b"\n" + header.lower())]


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


_PLACEHOLDERS = "missing_mailbox missing_domain syntax_error"


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
        return False  # an unknown transfer encoding is not text (Dovecot skips it too)
    html_part = node.subtype in _HTML
    if (
        ascii_needle is not None
        and decoded.isascii()
        and not node.charset.startswith(_NOT_ASCII_COMPATIBLE)
    ):
        lowered = decoded.lower()
        if ascii_needle in lowered:
            return True  # exact for ASCII text, and for HTML as source
        if not html_part or _rendering_adds_nothing(lowered, ascii_needle):
            return False
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


#: An inline tag html_to_text removes (joining the text on both sides).
_INLINE_OPEN = re.compile(
    rb"</?(?:a|b|i|u|s|em|strong|span|font|small|big|sub|sup|code|tt|strike|mark|abbr|wbr)\b"
)


def _rendering_adds_nothing(lowered: bytes, needle: bytes) -> bool:
    """Whether HTML rendered as text (:func:`html_to_text`) can hold the
    needle only where the lower-cased source does: with no entity and no
    inline tag in the source, rendering only puts spaces where tags and
    dropped blocks were, so a needle without white space, ``<``, ``>`` or
    ``&`` found in the rendering lies in one stretch of source text."""
    return (
        not any(c in needle for c in b" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f<>&")
        and needle.isascii()
        and b"&" not in lowered
        and _INLINE_OPEN.search(lowered) is None
    )


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
