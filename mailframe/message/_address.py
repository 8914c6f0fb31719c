"""Address lists for ENVELOPE (RFC 5322 §3.4, RFC 3501 §7.4.2).

An address becomes ``(name, adl, mailbox, host)``; a group becomes a start
marker ``(NIL, NIL, group-name, NIL)``, its members and an end marker
``(NIL, NIL, NIL, NIL)``.  Display names are kept as sent (quoted-strings
unquoted, encoded words left encoded); a comment stands in for a missing
display name.  Broken addresses follow Dovecot: a missing local part is
``MISSING_MAILBOX`` and a missing domain ``MISSING_DOMAIN``.  Never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["parse_addresses", "Address"]

Address = tuple[bytes | None, bytes | None, bytes | None, bytes | None]

MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"
SYNTAX_ERROR = b"SYNTAX_ERROR"

# token kinds (_BROKEN: a quoted-string that never ends)
_ATOM, _QUOTED, _COMMENT, _SPECIAL, _LITERAL, _BROKEN = range(6)
_SPECIALS = frozenset(b"<>@,;:.")
_WS = frozenset(b" \t\r\n")

Token = tuple[int, bytes, bool]  # kind, text, preceded by whitespace


_TOKEN_RE = re.compile(
    rb"""
     (?P<ws>[ \t\r\n]+)
    |(?P<q>"(?:[^"\\]|\\.)*)(?P<qend>"?)
    |(?P<c>\()
    |(?P<lit>\[[^\]]*(?:\]|\Z))
    |(?P<sp>[<>@,;:.])
    |(?P<atom>[^ \t\r\n"()\[\]\\<>@,;:.]+)
    |(?P<junk>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_UNESCAPE = re.compile(rb"\\(.)", re.DOTALL)


def _comment_end(value: bytes, i: int) -> int:
    """Index just past the (possibly nested) comment opening at ``i``."""
    depth, n = 0, len(value)
    while i < n:
        d = value[i]
        if d == 0x5C:
            i += 2
            continue
        if d == 0x28:
            depth += 1
        elif d == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _tokenize(value: bytes) -> Iterator[Token]:
    """RFC 5322 §3.2 lexical tokens: atoms, quoted-strings (unquoted),
    comments (text only), domain literals and specials; stray ``)`` ``]``
    and ``\\`` are dropped."""
    pos, n = 0, len(value)
    ws = False
    match = _TOKEN_RE.match
    while pos < n:
        m = match(value, pos)
        assert m is not None  # the junk alternative matches any octet
        kind = m.lastgroup
        end = m.end()
        if kind == "ws":
            ws = True
            pos = end
            continue
        if kind == "atom":
            yield (_ATOM, m.group(), ws)
        elif kind == "sp":
            yield (_SPECIAL, m.group(), ws)
        elif kind == "q" or kind == "qend":
            inner = m.group("q")[1:]
            if b"\\" in inner:
                inner = _UNESCAPE.sub(rb"\1", inner)
            yield (_QUOTED if m.group("qend") else _BROKEN, inner, ws)
        elif kind == "c":
            end = _comment_end(value, pos)
            stop = end - 1 if value[end - 1] == 0x29 else end
            yield (_COMMENT, value[pos + 1 : stop], ws)
        elif kind == "lit":
            yield (_LITERAL, m.group(), ws)
        # junk: skipped
        pos = end
        ws = False


def _phrase(tokens: list[Token]) -> bytes | None:
    """Join phrase words: one space where the source had whitespace."""
    words = [t for t in tokens if t[0] != _COMMENT]
    if not words:
        return None
    out = bytearray()
    for k, (_, text, ws) in enumerate(words):
        if k and ws:
            out += b" "
        out += text
    return bytes(out) or None  # '"" <a@b>' has no name (Dovecot)


def _comment(tokens: list[Token]) -> bytes | None:
    """The first comment with some text in it (as written)."""
    for kind, text, _ in tokens:
        if kind == _COMMENT and text.strip(b" \t\r\n"):
            return text
    return None


def _last_comment(tokens: list[Token]) -> bytes | None:
    """The display name of a bare addr-spec: the last non-empty comment
    from the addr-spec on (``a@b (Name)``); a comment before it is not a
    name -- Dovecot's rule."""
    start = next((k for k, t in enumerate(tokens) if t[0] != _COMMENT), len(tokens))
    for kind, text, _ in reversed(tokens[start:]):
        if kind == _COMMENT and text:
            return text
    return None


def _addr_spec(tokens: list[Token]) -> tuple[bytes, bytes]:
    """``local@domain`` from tokens (comments ignored)."""
    words = [t for t in tokens if t[0] != _COMMENT]
    at = None
    for k in range(len(words) - 1, -1, -1):
        if words[k][0] == _SPECIAL and words[k][1] == b"@":
            at = k
            break
    local_t = words if at is None else words[:at]
    dom_t = [] if at is None else words[at + 1 :]
    local = b"".join(_local_text(t) for t in local_t)
    domain = b"".join(t[1] for t in dom_t)
    return (local or MISSING_MAILBOX), (domain or MISSING_DOMAIN)


def _is_phrase(tokens: list[Token]) -> bool:
    """Whether tokens read as a phrase with no address (RFC 5322 §3.2.5: a
    quoted-string, or words separated by whitespace) rather than as one
    dot-atom local-part such as ``john`` or ``a.b``."""
    words = [t for t in tokens if t[0] != _COMMENT]
    if any(t[0] == _SPECIAL and t[1] == b"@" for t in words):
        return False
    if any(t[0] == _QUOTED for t in words):
        return True
    return any(t[2] and t[0] == _ATOM and p[0] == _ATOM for p, t in zip(words, words[1:], strict=False))


def _local_text(tok: Token) -> bytes:
    """Local-part text: quoted-strings unquoted (as Dovecot sends them)."""
    return tok[1]


def _mailbox(tokens: list[Token]) -> Address | None:
    """One mailbox: ``[phrase] <[route:]addr-spec>`` or ``addr-spec``."""
    if not tokens:
        return None
    if (
        len(tokens) == 3
        and tokens[1][1] == b"@"
        and tokens[0][0] == _ATOM
        and tokens[2][0] == _ATOM
    ):
        return (None, None, tokens[0][1], tokens[2][1])  # plain local@domain
    if any(t[0] == _BROKEN for t in tokens):
        return (None, None, MISSING_MAILBOX, MISSING_DOMAIN)
    lt = next((k for k, t in enumerate(tokens) if t[0] == _SPECIAL and t[1] == b"<"), None)
    if lt is None:
        if all(t[0] == _COMMENT for t in tokens):
            return None
        local, domain = _addr_spec(tokens)
        name = _last_comment(tokens)
        if name is None and domain == MISSING_DOMAIN and _is_phrase(tokens):
            # a display name with no address at all ('"John Smith"',
            # 'John Smith'): Dovecot reports the words as the name
            return (_phrase(tokens) or b"", None, MISSING_MAILBOX, MISSING_DOMAIN)
        return (name, None, local, domain)
    gt = next(
        (
            k
            for k in range(lt + 1, len(tokens))
            if tokens[k][0] == _SPECIAL and tokens[k][1] == b">"
        ),
        len(tokens),
    )
    name = _phrase(tokens[:lt])
    inner = tokens[lt + 1 : gt]
    adl: bytes | None = None
    colon = next((k for k, t in enumerate(inner) if t[0] == _SPECIAL and t[1] == b":"), None)
    if colon is not None and inner and inner[0][1] == b"@":
        adl = b"".join(t[1] for t in inner[:colon] if t[0] != _COMMENT) or None
        inner = inner[colon + 1 :]
    if name is None:
        name = _comment(tokens[gt + 1 :]) or _comment(tokens[:lt])
    if not [t for t in inner if t[0] != _COMMENT]:
        return (name, adl, MISSING_MAILBOX, MISSING_DOMAIN)
    local, domain = _addr_spec(inner)
    if gt == len(tokens):
        domain = SYNTAX_ERROR  # "<local@domain" never closed (Dovecot)
    return (name, adl, local, domain)


#: At most this many addresses per header field are reported; a million
#: recipients in a spam header must not cost seconds at delivery.
MAX_ADDRESSES = 5000

_LOCAL = rb"[^\s\"(),.:;<>@\[\]\\]+(?:\.[^\s\"(),.:;<>@\[\]\\]+)*"
_DOMAIN = rb"[^\s\"(),:;<>@\[\]\\]+"
_WORD = rb"[^\s\"(),:;<>@\[\]\\]+"
_SIMPLE = re.compile(
    rb"[ \t\r\n]*(?:(?P<l1>" + _LOCAL + rb")@(?P<d1>" + _DOMAIN + rb")"
    rb"|(?:\"(?P<q>[^\"\\\r\n]*)\"|(?P<p>" + _WORD + rb"(?:[ \t\r\n]+" + _WORD + rb")*))?"
    rb"[ \t\r\n]*<(?P<l2>" + _LOCAL + rb")@(?P<d2>" + _DOMAIN + rb")>)"
    rb"[ \t\r\n]*(?:,|\Z)"
)
_WS_RUN = re.compile(rb"[ \t\r\n]+")


def _simple_list(value: bytes) -> list[Address] | None:
    """Fast path for the common shapes: ``local@domain``, ``Name
    <local@domain>`` and ``"Quoted Name" <local@domain>``, comma-separated,
    without comments, routes or groups.  None when anything else appears;
    the full parser then gives the same answer for these shapes."""
    out: list[Address] = []
    pos, n = 0, len(value)
    match = _SIMPLE.match
    while pos < n:
        m = match(value, pos)
        if m is None:
            if value[pos:].strip(b" \t\r\n,"):
                return None
            break
        local = m.group("l1")
        if local is not None:
            out.append((None, None, local, m.group("d1")))
        else:
            name = m.group("q") or None
            if m.group("q") is None:
                name = m.group("p")
                if name is not None:
                    name = _WS_RUN.sub(b" ", name)
            out.append((name, None, m.group("l2"), m.group("d2")))
        if len(out) >= MAX_ADDRESSES:
            break
        pos = m.end()
    return out


def parse_addresses(value: bytes) -> list[Address]:
    """An address-list (RFC 5322 §3.4) as ENVELOPE address structures
    (at most :data:`MAX_ADDRESSES`)."""
    try:
        simple = _simple_list(value)
        if simple is not None:
            return simple
        return _parse(value)[:MAX_ADDRESSES]
    except Exception:  # pragma: no cover - defensive: never raise
        return []


def _parse(value: bytes) -> list[Address]:
    tokens = _tokenize(value)
    out: list[Address] = []
    chunk: list[Token] = []
    in_group = False
    angle = 0
    for tok in tokens:
        if len(out) >= MAX_ADDRESSES:
            break
        kind, text, _ = tok
        if kind == _SPECIAL:
            if text == b"<":
                angle += 1
            elif text == b">":
                angle = max(0, angle - 1)
            elif angle == 0 and text == b",":
                mb = _mailbox(chunk)
                if mb:
                    out.append(mb)
                chunk = []
                continue
            elif angle == 0 and text == b":" and not in_group:
                name = _phrase(chunk) or b""
                out.append((None, None, name, None))
                in_group = True
                chunk = []
                continue
            elif angle == 0 and text == b";":
                mb = _mailbox(chunk)
                if mb:
                    out.append(mb)
                chunk = []
                if in_group:
                    out.append((None, None, None, None))
                    in_group = False
                continue
        chunk.append(tok)
    mb = _mailbox(chunk)
    if mb:
        out.append(mb)
    if in_group:
        out.append((None, None, None, None))
    return out
