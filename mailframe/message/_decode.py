"""Text decoding for search: RFC 2047 encoded words, charsets, HTML.

Nothing here raises: unknown charsets, and octets invalid in the declared
one, are read as UTF-8 with each invalid sequence replaced (U+FFFD).
"""

from __future__ import annotations

import binascii
import codecs
import html
import re

__all__ = ["decode_words", "to_text", "html_to_text", "fold_case", "text_charset"]

# RFC 2047 §2: =?charset[*lang]?B|Q?text?=  (kept lenient: no length cap)
_WORD = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"\?=[ \t\r\n]+=\?")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _charset(name: bytes) -> str:
    name_s = name.decode("ascii", "replace").split("*", 1)[0].strip().lower()
    try:
        return codecs.lookup(name_s).name
    except LookupError:
        return "utf-8"


# Python codecs that are not MIME charsets, though they decode bytes to text.
_NOT_CHARSETS = frozenset({
    "undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "mbcs", "oem",
})


def text_charset(name: str) -> bool:
    """True when ``name`` is a charset Python can decode: what ``SEARCH
    CHARSET`` accepts (RFC 3501 §6.4.4 lets the server choose; Dovecot
    takes any charset iconv knows)."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return False
    return bool(getattr(info, "_is_text_encoding", True)) and info.name.replace("-", "_") not in _NOT_CHARSETS


def to_text(data: bytes, charset: bytes | str = b"") -> str:
    """Bytes in a declared charset as text (UTF-8 with replacement as the
    fallback)."""
    cs = charset if isinstance(charset, str) else (_charset(charset) if charset else "")
    if cs and cs not in ("utf-8", "ascii"):
        try:
            return data.decode(cs)
        except Exception:
            pass
    # US-ASCII, UTF-8, unknown charsets and failed decodings: UTF-8 with
    # each invalid sequence replaced, so valid text around stray octets
    # still matches (Dovecot treats them the same way)
    return data.decode("utf-8", "replace")


def _decode_word(m: re.Match[bytes]) -> str:
    charset, enc, text = m.group(1), m.group(2), m.group(3)
    if enc in (b"B", b"b"):
        text = re.sub(rb"[^A-Za-z0-9+/]", b"", text)
        text += b"=" * (-len(text) % 4)
        try:
            data = binascii.a2b_base64(text)
        except binascii.Error:
            data = b""
    else:
        data = _Q_HEX.sub(lambda h: bytes([int(h.group(1), 16)]), text.replace(b"_", b" "))
    return to_text(data, _charset(charset))


def decode_words(value: bytes) -> str:
    """An unfolded header value with RFC 2047 encoded words decoded.

    Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2);
    the rest is taken as UTF-8 (RFC 6532) or Latin-1.
    """
    if b"=?" not in value:
        return to_text(value)
    value = _BETWEEN_WORDS.sub(b"?==?", value)
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(value):
        if m.start() > pos:
            out.append(to_text(value[pos : m.start()]))
        out.append(_decode_word(m))
        pos = m.end()
    out.append(to_text(value[pos:]))
    return "".join(out)


# Every pattern stays linear on hostile input: an unclosed script/comment
# runs to the end (one match), and tags cannot span another "<".
_DROP = re.compile(r"<(script|style|head)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.S | re.I)
_INLINE = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|span|font|small|big|sub|sup|code|tt|strike|mark|abbr|wbr)\b[^<>]*>",
    re.I,
)
_TAG = re.compile(r"<[^<>]*>")


def html_to_text(text: str) -> str:
    """HTML as searchable text: scripts, styles, the head and comments
    dropped; inline tags removed (``<b>x</b>y`` reads ``xy``), other tags
    read as a space; entities unescaped.  Whitespace runs are left alone
    (collapsing them costs more than all the rest): matching treats any
    whitespace run in the needle as any whitespace run in the text."""
    if "<" in text:
        lowered = text.lower()
        if "<script" in lowered or "<style" in lowered or "<head" in lowered or "<!--" in text:
            text = _DROP.sub(" ", text)
        text = _TAG.sub(" ", _INLINE.sub("", text))
    if "&" in text:
        text = html.unescape(text)
    return text


def fold_case(text: str) -> str:
    """Case folding for substring search (RFC 9051 §6.4.4 leaves the
    comparator to the server; full Unicode case folding, as Dovecot's
    i;unicode-casemap)."""
    return text.casefold()
