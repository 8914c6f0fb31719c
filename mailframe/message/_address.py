"""Address lists for ENVELOPE (RFC 5322 §3.4, RFC 3501 §7.4.2).

An address becomes ``(name, adl, mailbox, host)``; a group becomes a start
marker ``(NIL, NIL, group-name, NIL)``, its members and an end marker
``(NIL, NIL, NIL, NIL)``.  Display names are kept as sent (quoted-strings
unquoted, encoded words left encoded); a comment stands in for a missing
display name.  Broken addresses follow Dovecot: a missing local part is
``MISSING_MAILBOX`` and a missing domain ``MISSING_DOMAIN``.  Never raises.
"""

from __future__ import annotations

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


def _tokenize(value: bytes) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(value)
    ws = False
    while i < n:
        c = value[i]
        if c in _WS:
            ws = True
            i += 1
            continue
        if c == 0x22:  # quoted-string
            buf = bytearray()
            i += 1
            while i < n and value[i] != 0x22:
                if value[i] == 0x5C and i + 1 < n:
                    i += 1
                buf.append(value[i])
                i += 1
            out.append((_QUOTED if i < n else _BROKEN, bytes(buf), ws))
            i += 1
        elif c == 0x28:  # comment, nested
            depth, j = 0, i
            while j < n:
                d = value[j]
                if d == 0x5C:
                    j += 2
                    continue
                if d == 0x28:
                    depth += 1
                elif d == 0x29:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append((_COMMENT, value[i + 1 : j].strip(), ws))
            i = j + 1
        elif c == 0x5B:  # domain-literal
            j = value.find(b"]", i)
            j = n - 1 if j < 0 else j
            out.append((_LITERAL, value[i : j + 1], ws))
            i = j + 1
        elif c in _SPECIALS:
            out.append((_SPECIAL, value[i : i + 1], ws))
            i += 1
        elif c == 0x29 or c == 0x5D or c == 0x5C:  # stray closers: skip
            i += 1
        else:
            j = i
            while j < n:
                d = value[j]
                if d in _WS or d in _SPECIALS or d in b'"()[]\\':
                    break
                j += 1
            out.append((_ATOM, value[i:j], ws))
            i = j
        ws = False
    return out


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
    return bytes(out)


def _comment(tokens: list[Token]) -> bytes | None:
    for kind, text, _ in tokens:
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


def _local_text(tok: Token) -> bytes:
    """Local-part text: quoted-strings unquoted (as Dovecot sends them)."""
    return tok[1]


def _mailbox(tokens: list[Token]) -> Address | None:
    """One mailbox: ``[phrase] <[route:]addr-spec>`` or ``addr-spec``."""
    if not tokens:
        return None
    if any(t[0] == _BROKEN for t in tokens):
        return (None, None, MISSING_MAILBOX, MISSING_DOMAIN)
    lt = next((k for k, t in enumerate(tokens) if t[0] == _SPECIAL and t[1] == b"<"), None)
    if lt is None:
        if all(t[0] == _COMMENT for t in tokens):
            return None
        local, domain = _addr_spec(tokens)
        return (_comment(tokens), None, local, domain)
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
    if gt == len(tokens) and domain == MISSING_DOMAIN:
        domain = SYNTAX_ERROR  # "<local@" never closed
    return (name, adl, local, domain)


def parse_addresses(value: bytes) -> list[Address]:
    """An address-list (RFC 5322 §3.4) as ENVELOPE address structures."""
    try:
        return _parse(value)
    except Exception:  # pragma: no cover - defensive: never raise
        return []


def _parse(value: bytes) -> list[Address]:
    tokens = _tokenize(value)
    out: list[Address] = []
    chunk: list[Token] = []
    in_group = False
    angle = 0
    for tok in tokens:
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
