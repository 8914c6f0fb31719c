"""Header blocks: finding them, splitting them into fields, and reading
MIME header values (RFC 5322 §2.2, §3.2.2; RFC 2045 §5.1; RFC 2183).

Everything here works on ``bytes`` as stored: line endings may be CRLF or
bare LF, header octets may be 8-bit, and nothing raises on malformed input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

__all__ = [
    "header_end",
    "iter_fields",
    "all_values",
    "unfold",
    "header_fields",
    "parse_mime_value",
    "first_token",
]

_FIELD_START = re.compile(rb"^[^ \t\r\n]", re.MULTILINE)


def header_end(raw: bytes, start: int, end: int) -> int:
    """Offset just after the blank line that ends the header at ``start``.

    The header block of RFC 5322 §2.1 runs up to and including the first
    empty line; bare LF is accepted as a line ending.  With no empty line
    the whole region is header and the body is empty.
    """
    if raw.startswith(b"\r\n", start, end):
        return start + 2
    if raw.startswith(b"\n", start, end):
        return start + 1
    crlf = raw.find(b"\n\r\n", start, end)
    # only look for a bare-LF blank line before the CRLF one (no full scan)
    lf = raw.find(b"\n\n", start, end if crlf < 0 else crlf + 1)
    if lf >= 0:
        return lf + 2
    if crlf >= 0:
        return crlf + 3
    return end


def _blank_start(block: bytes) -> int:
    """Where the terminating blank line of ``block`` starts (or its end)."""
    if block.endswith(b"\n\r\n"):
        return len(block) - 2
    if block.endswith(b"\n\n"):
        return len(block) - 1
    if block in (b"\r\n", b"\n"):
        return 0
    return len(block)


def iter_fields(block: bytes) -> list[tuple[bytes, int, int]]:
    """The fields of a header block as ``(lower-case name, start, end)``.

    ``block[start:end]`` is the whole field as stored: the name, the colon,
    the value and every folded continuation line with its line break
    (RFC 5322 §2.2.3).  A line without a colon counts as a field whose name
    is the whole line (Dovecot does the same), so broken headers still split.
    """
    stop = _blank_start(block)
    starts = [m.start() for m in _FIELD_START.finditer(block, 0, stop)]
    out: list[tuple[bytes, int, int]] = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else stop
        colon = block.find(b":", s, e)
        if colon < 0:
            nl = block.find(b"\n", s, e)
            name = block[s : (e if nl < 0 else nl)]
        else:
            name = block[s:colon]
        out.append((name.strip().lower(), s, e))
    return out


_FOLD = re.compile(rb"\r?\n[ \t]")


def unfold(value: bytes) -> bytes:
    """Unfold (RFC 5322 §2.2.3) and trim whitespace.

    A line break plus the whitespace that starts a continuation line
    becomes one space (so a TAB-folded value reads with a space, as in
    Dovecot); stray CR / LF and NUL octets (which no IMAP string may
    carry) are dropped.
    """
    if b"\n" in value:
        value = _FOLD.sub(b" ", value).replace(b"\r", b"").replace(b"\n", b"")
    elif b"\r" in value:  # one line (its CR before the LF): nothing to unfold
        value = value.replace(b"\r", b"")
    if b"\x00" in value:
        value = value.replace(b"\x00", b"")  # CHAR8 excludes NUL (RFC 3501 §9)
    return value.strip(b" \t")


_FIELD = re.compile(rb"^([^ \t\r\n:][^:\r\n]*):([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)


def all_values(
    raw: bytes,
    names: frozenset[bytes],
    start: int = 0,
    end: int | None = None,
    unfolded: bool = True,
) -> dict[bytes, list[bytes]]:
    """Unfolded values (raw ones, line breaks and all, when not
    ``unfolded``) of every occurrence of each wanted (lower-case) field
    name in the header block ``raw[start:end]``, which must start at a
    line start.

    One C-level regex pass: a field is ``name:`` at a line start plus its
    continuation lines (RFC 5322 §2.2); lines without a colon are skipped.
    (A regex matching only the wanted names, case-insensitively, measured
    slower.)
    """
    out: dict[bytes, list[bytes]] = {}
    stop = len(raw) if end is None else end
    for name, value in _FIELD.findall(raw, start, stop):
        key = name.rstrip(b" \t").lower()
        if key in names:
            out.setdefault(key, []).append(unfold(value) if unfolded else value)
    return out


@lru_cache(maxsize=256)
def _wanted(fields: tuple[str, ...]) -> frozenset[bytes]:
    return frozenset(f.strip().lower().encode("ascii", "replace") for f in fields)


#: A line that starts a field but holds no colon (the name then runs on
#: into the continuation lines, as :func:`iter_fields` reads it).
#: Searched in the block with a line break put in front (a literal start
#: the regex engine finds fast).
_NO_COLON_LINE = re.compile(rb"\n[^ \t\r\n][^:\n]*\n")


def _simple_block(block: bytes) -> bool:
    """Whether :func:`iter_fields` splits ``block`` exactly where a field
    is ``name[WSP]:`` to the end of the line plus its continuation lines:
    it ends with its blank line and has no other, every line ends in CRLF (no CR or LF
    alone), no name holds the white space ``strip`` would also remove,
    and every line that starts a field has its colon."""
    return (
        block.find(b"\r\n\r\n") == len(block) - 4  # ends with its blank line, the only one
        and block.count(b"\r") == block.count(b"\n") == block.count(b"\r\n")
        and b"\x0b" not in block
        and b"\x0c" not in block
        and _NO_COLON_LINE.search(b"\n" + block) is None
    )


@lru_cache(maxsize=256)
def _wanted_fields(wanted: frozenset[bytes]) -> re.Pattern[bytes]:
    """Whole fields (continuation lines and line ends included) whose name
    is one of ``wanted``, in a block :func:`_simple_block` accepts."""
    names = b"|".join(re.escape(name) for name in sorted(wanted))
    return re.compile(
        rb"^(?:" + names + rb")[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*", re.MULTILINE | re.IGNORECASE
    )


def header_fields(header_block: bytes, fields: tuple[str, ...], exclude: bool) -> bytes:
    """``HEADER.FIELDS`` / ``HEADER.FIELDS.NOT`` of a header block.

    RFC 3501 §6.4.5: the subset holds the named fields (or all others) as
    stored, folded continuation lines included, and ends with the blank
    line that ends a header.  Names match case-insensitively; every
    occurrence of a repeated field is kept, in the original order.

    For a header that has no blank line (header-only mail) we answer what
    Dovecot 2.3.19 answers, byte for byte: ``HEADER.FIELDS.NOT`` gives the
    other fields exactly as stored and no blank line; ``HEADER.FIELDS``
    ends an unterminated last field with CRLF and then adds no blank line
    (any other answer of it ends with the blank line).
    """
    wanted = _wanted(fields)
    if not exclude and _simple_block(header_block) and b"" not in wanted:
        # one C-level pass over a well-formed block, the same bytes
        return b"".join(_wanted_fields(wanted).findall(header_block)) + b"\r\n"
    return _split_fields(header_block, wanted, exclude)


def info_header_fields(info: Any, fields: tuple[str, ...], exclude: bool) -> bytes:
    """:func:`header_fields` of a parsed message's top-level header
    (``info.header``; ``info._cache`` a dict or None, as a
    :class:`mailframe.message.MessageInfo` or a SEARCH row has): the same
    bytes, with the check that the fast path applies made once per
    message and kept in the cache, since a header sync asks every
    message for the same fields again and again (RFC 3501 §6.4.5)."""
    return info_header_fields_of(fields, exclude)(info)


def info_header_fields_of(fields: tuple[str, ...], exclude: bool) -> Callable[[Any], bytes]:
    """:func:`info_header_fields` for one field list over many messages
    (a header sync, RFC 3501 §6.4.5): the wanted names and their pattern
    worked out once, not per message; the same bytes."""
    wanted = _wanted(fields)
    findall = _wanted_fields(wanted).findall if not exclude and b"" not in wanted else None

    def of(info: Any) -> bytes:
        cache = info._cache
        simple: bool | None = cache.get("simple-block") if cache is not None else None
        block = info.header
        if simple is None:
            simple = _simple_block(block)
            if cache is None:
                cache = info._cache = {}
            cache["simple-block"] = simple
        if simple and findall is not None:
            return b"".join(findall(block)) + b"\r\n"
        return _split_fields(block, wanted, exclude)

    return of


def _split_fields(header_block: bytes, wanted: frozenset[bytes], exclude: bool) -> bytes:
    """:func:`header_fields` field by field (:func:`iter_fields`): any block."""
    parts: list[bytes] = []
    unterminated = False
    for name, s, e in iter_fields(header_block):
        if (name in wanted) != exclude:
            chunk = header_block[s:e]
            unterminated = not chunk.endswith(b"\n")
            if unterminated and not exclude:
                chunk += b"\r\n"
            parts.append(chunk)
    if exclude:
        if _blank_start(header_block) < len(header_block):
            parts.append(b"\r\n")
    elif not unterminated:
        parts.append(b"\r\n")
    return b"".join(parts)


# --- structured MIME values (RFC 2045 §5.1, RFC 2183 §2) ---------------------

_TSPECIALS = b'()<>@,;:\\"/[]?= \t\r\n'
_TOKEN = re.compile(rb'[^()<>@,;:\\"/\[\]?= \t\r\n]+')


def _skip_cfws(value: bytes, i: int) -> int:
    """Skip whitespace and (nested) comments from ``i``."""
    n = len(value)
    while i < n:
        c = value[i]
        if c in (0x20, 0x09, 0x0D, 0x0A):
            i += 1
        elif c == 0x28:  # (
            depth = 0
            while i < n:
                c = value[i]
                if c == 0x5C:
                    i += 2
                    continue
                if c == 0x28:
                    depth += 1
                elif c == 0x29:
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            break
    return i


def _quoted(value: bytes, i: int) -> tuple[bytes, int]:
    """Read a quoted-string starting at the opening quote ``value[i]``."""
    out = bytearray()
    i += 1
    n = len(value)
    while i < n:
        c = value[i]
        if c == 0x5C and i + 1 < n:
            out.append(value[i + 1])
            i += 2
        elif c == 0x22:
            return bytes(out), i + 1
        else:
            out.append(c)
            i += 1
    return bytes(out), i


def _word(value: bytes, i: int, stop: bytes) -> tuple[bytes, int]:
    """A token or quoted-string at ``i``; tolerant: reads up to ``stop``."""
    if i < len(value) and value[i] == 0x22:
        return _quoted(value, i)
    m = _TOKEN.match(value, i)
    if m:
        return m.group(), m.end()
    return b"", i


def first_token(value: bytes) -> bytes:
    """The first token of a value (Content-Transfer-Encoding)."""
    i = _skip_cfws(value, 0)
    m = _TOKEN.match(value, i)
    return m.group() if m else b""


def parse_mime_value(value: bytes, slash: bool) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """Parse ``type/subtype; a=b; c="d"`` (or ``disposition; a=b``).

    Returns ``(type, subtype, params)`` with names and values as sent
    (quoted-strings unquoted); RFC 2231 continuations are kept as separate
    parameters, exactly as sent.  ``subtype`` is empty when ``slash`` is
    false or the value has none.  Never raises.
    """
    n = len(value)
    i = _skip_cfws(value, 0)
    mtype, i = _word(value, i, b";")
    subtype = b""
    i = _skip_cfws(value, i)
    if slash and i < n and value[i] == 0x2F:
        i = _skip_cfws(value, i + 1)
        subtype, i = _word(value, i, b";")
    params: list[tuple[bytes, bytes]] = []
    while i < n:
        semi = value.find(b";", i)
        if semi < 0:
            break
        i = _skip_cfws(value, semi + 1)
        m = _TOKEN.match(value, i)
        if not m:
            continue
        name = m.group()
        i = _skip_cfws(value, m.end())
        if i >= n or value[i] != 0x3D:
            continue
        i = _skip_cfws(value, i + 1)
        if i < n and value[i] == 0x22:
            pval, i = _quoted(value, i)
        else:
            j = i
            while j < n and value[j] not in b"; \t\r\n(":
                j += 1
            pval, i = value[i:j], j
        params.append((name, pval))
        if len(params) >= MAX_PARAMS:
            break
    if any(b"*" in name for name, _ in params):
        params = merge_continuations(params)
    return mtype, subtype, params


#: Parameters kept per header value; the rest is ignored (a header with
#: 100 000 parameters must not make a megabyte BODYSTRUCTURE).
MAX_PARAMS = 256

_CONTINUATION = re.compile(rb"^(.+?)\*([0-9]+)(\*?)$")


def merge_continuations(params: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Join RFC 2231 §3 continuations (``name*0*``, ``name*1*``...) into
    one ``name*`` (or ``name`` when no segment is extended) parameter;
    values stay encoded as sent.  As in Dovecot, plain parameters come
    first in their order, then the RFC 2231 ones (``name*`` included)
    sorted by name."""
    segments: dict[bytes, list[tuple[int, bool, bytes]]] = {}
    bases: dict[bytes, bytes] = {}
    plain: list[tuple[bytes, bytes]] = []
    for name, val in params:
        m = _CONTINUATION.match(name)
        if m is not None:
            base, number, extended = m.group(1), int(m.group(2)), bool(m.group(3))
        elif name.endswith(b"*") and len(name) > 1:
            base, number, extended = name[:-1], 0, True
        else:
            plain.append((name, val))
            continue
        key = base.lower()
        bases.setdefault(key, base)
        segments.setdefault(key, []).append((number, extended, val))
    out = plain
    for key in sorted(segments):
        segs = sorted(segments[key], key=lambda t: t[0])
        name = bases[key] + (b"*" if segs[0][1] else b"")
        out.append((name, b"".join(v for _, _, v in segs)))
    return out
