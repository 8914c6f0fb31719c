"""One pass over raw bytes: the MIME tree with byte offsets, and the
BODYSTRUCTURE / BODY values built along the way.

RFC 2045/2046 define the structure, RFC 3501 §7.4.2 (RFC 9051 §7.5.2) the
BODYSTRUCTURE form.  Each part is recorded as a ``Node`` tuple (cheap to
marshal, see :mod:`._info`)::

    (kind, hstart, bstart, bend, mtype, msub, cte, charset, children)

``raw[hstart:bstart]`` is the part's header (its MIME header, or the
header of a whole message) including the blank line; ``raw[bstart:bend]``
is its body.  Bodies of multipart children exclude the line break before
the next delimiter: it belongs to the delimiter (RFC 2046 §5.1.1).
``kind`` is LEAF, MULTIPART (children are the body parts) or MESSAGE
(``message/rfc822`` or ``message/global``: one child, the encapsulated
message, whose ``hstart`` equals this part's ``bstart``).  ``mtype``,
``msub``, ``cte`` and ``charset`` are lower-case bytes for matching; the
wire values keep the case as sent.
"""

from __future__ import annotations

import re
from typing import Any

from mailframe.imap.serialize import Raw, Value, encode

from ._envelope import ENVELOPE_FIELDS, envelope_wire
from ._headers import all_values, first_token, header_end, parse_mime_value

__all__ = ["Node", "LEAF", "MULTIPART", "MESSAGE", "build", "MAX_DEPTH", "MAX_PARTS"]

LEAF, MULTIPART, MESSAGE = 0, 1, 2

Node = tuple[int, int, int, int, bytes, bytes, bytes, bytes, tuple[Any, ...]]

#: Nesting deeper than this (multipart or message/rfc822 levels) is not
#: descended into: the part is reported as application/octet-stream.
MAX_DEPTH = 64
#: At most this many parts per message; the rest stay inside their parent.
MAX_PARTS = 5000

_MIME_FIELDS = frozenset(
    {
        b"content-type",
        b"content-transfer-encoding",
        b"content-id",
        b"content-description",
        b"content-disposition",
        b"content-language",
        b"content-location",
        b"content-md5",
    }
)
_ALL_FIELDS = _MIME_FIELDS | ENVELOPE_FIELDS

_DEFAULT_PARAMS: list[Value] = [b"charset", b"us-ascii"]

_boundary_cache: dict[bytes, re.Pattern[bytes]] = {}


def _delimiter(boundary: bytes) -> re.Pattern[bytes]:
    """The delimiter / close-delimiter line of RFC 2046 §5.1.1 (bare LF ok,
    trailing transport padding allowed)."""
    pat = _boundary_cache.get(boundary)
    if pat is None:
        if len(_boundary_cache) > 512:
            _boundary_cache.clear()
        pat = re.compile(rb"^--" + re.escape(boundary) + rb"(--)?[ \t]*\r?$", re.MULTILINE)
        _boundary_cache[boundary] = pat
    return pat


def split_multipart(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Regions ``[s, e)`` of the body parts of a multipart body.

    An unterminated multipart's last part runs to ``end``; text before the
    first delimiter (preamble) and after the close delimiter (epilogue) is
    not a part.
    """
    pat = _delimiter(boundary)
    regions: list[tuple[int, int]] = []
    cur: int | None = None
    pos = start
    closed = False
    while True:
        m = pat.search(raw, pos, end)
        if m is None:
            break
        ds = m.start()
        lower = start if cur is None else cur
        pe = ds
        if pe > lower and raw[pe - 1] == 0x0A:
            pe -= 1
            if pe > lower and raw[pe - 1] == 0x0D:
                pe -= 1
        if cur is not None:
            regions.append((cur, max(cur, pe)))
        nxt = m.end()
        if nxt < end and raw[nxt] == 0x0A:
            nxt += 1
        if m.group(1):
            closed = True
            break
        cur = pos = nxt
        if len(regions) >= MAX_PARTS:
            break
    if not closed and cur is not None:
        regions.append((cur, end))
    return regions


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def _nstr(v: bytes | None) -> Value:
    return v


def _params(params: list[tuple[bytes, bytes]]) -> Value:
    if not params:
        return None
    out: list[Value] = []
    for name, val in params:
        out.append(name)
        out.append(val)
    return out


def _disposition(value: bytes | None) -> Value:
    if not value:
        return None
    dtype, _, params = parse_mime_value(value, slash=False)
    if not dtype:
        return None
    return [dtype, _params(params)]


def _language(value: bytes | None) -> Value:
    if not value:
        return None
    tags = [t.strip(b" \t") for t in value.split(b",")]
    tags = [t for t in tags if t]
    if not tags:
        return None
    return list(tags)


def _lines(raw: bytes, s: int, e: int) -> int:
    """Line count of a body (RFC 3501 §7.4.2 body-fld-lines): the number
    of line breaks, so a last line without one (as in every multipart
    child, whose final CRLF belongs to the delimiter) is not counted --
    Dovecot counts the same way."""
    return raw.count(b"\n", s, e)


BsPair = tuple[Value, Value]  # (BODYSTRUCTURE value, BODY value)


def build(
    raw: bytes,
    hstart: int,
    end: int,
    depth: int,
    budget: _Budget | None = None,
    default_type: tuple[bytes, bytes] = (b"text", b"plain"),
    has_header: bool = True,
    want_env: bool = False,
) -> tuple[Node, BsPair, bytes]:
    """Parse the part occupying ``raw[hstart:end]``.

    Returns the node, its (BODYSTRUCTURE, BODY) values and its ENVELOPE
    value (meaningful when the part is a whole message).
    """
    if budget is None:
        budget = _Budget()
    budget.parts += 1
    bstart = header_end(raw, hstart, end) if has_header else hstart
    values = all_values(raw[hstart:bstart], _ALL_FIELDS) if bstart > hstart else {}
    fields = {k: v[0] for k, v in values.items()}
    ctype = fields.get(b"content-type")
    mtype_s, msub_s = default_type
    params: list[tuple[bytes, bytes]] = []
    if ctype:
        t, s, p = parse_mime_value(ctype, slash=True)
        if t and s:
            mtype_s, msub_s, params = t, s, p
    mtype, msub = mtype_s.lower(), msub_s.lower()
    cte_s = first_token(fields.get(b"content-transfer-encoding", b""))
    cte = cte_s.lower()
    charset = b""
    for name, val in params:
        if name.lower() == b"charset":
            charset = val.lower()
            break
    env = envelope_wire(values) if want_env else b""
    deep = depth >= MAX_DEPTH or budget.parts >= MAX_PARTS

    disposition = _disposition(fields.get(b"content-disposition"))
    language = _language(fields.get(b"content-language"))
    location = _nstr(fields.get(b"content-location"))

    if mtype == b"multipart" and not deep:
        boundary = b""
        for name, val in params:
            if name.lower() == b"boundary":
                boundary = val
                break
        child_default = (b"message", b"rfc822") if msub == b"digest" else (b"text", b"plain")
        children: list[Node] = []
        bs_kids: list[Value] = []
        body_kids: list[Value] = []
        regions = split_multipart(raw, bstart, end, boundary) if boundary else []
        if regions:
            for s, e in regions:
                node, (bs, bd), _ = build(raw, s, e, depth + 1, budget, child_default)
                children.append(node)
                bs_kids.append(Raw(encode(bs)))
                body_kids.append(Raw(encode(bd)))
        else:
            # No usable boundary (RFC 2046 requires one) or no delimiter
            # line: the body is all preamble and the multipart gets one
            # empty text/plain part at its end, as Dovecot reports it.
            node, (bs, bd), _ = build(raw, end, end, depth + 1, budget, (b"text", b"plain"), False)
            children.append(node)
            bs_kids.append(Raw(encode(bs)))
            body_kids.append(Raw(encode(bd)))
        sub: Value = msub_s
        bs_val = Raw(
            b"".join(encode(k) for k in bs_kids)
            + b" "
            + encode([sub, _params(params), disposition, language, location])[1:-1]
        )
        body_val = Raw(b"".join(encode(k) for k in body_kids) + b" " + encode(sub))
        node_t: Node = (MULTIPART, hstart, bstart, end, mtype, msub, cte, charset, tuple(children))
        return node_t, ([bs_val], [body_val]), env

    if deep and mtype in (b"multipart", b"message"):
        mtype_s, msub_s, mtype, msub, params = (
            b"application",
            b"octet-stream",
            b"application",
            b"octet-stream",
            [],
        )

    size = end - bstart
    pvals = _params(params)
    if pvals is None and mtype == b"text":
        pvals = list(_DEFAULT_PARAMS)
    basic: list[Value] = [
        mtype_s,
        msub_s,
        pvals,
        _nstr(fields.get(b"content-id")),
        _nstr(fields.get(b"content-description")),
        cte_s or b"7bit",
        size,
    ]
    kids: tuple[Any, ...] = ()
    kind = LEAF
    extra_bs: list[Value] = []
    extra_body: list[Value] = []
    if mtype == b"message" and msub in (b"rfc822", b"global"):
        # body-type-msg (RFC 3501 §9) spells the type; Dovecot sends it
        # in lower case whatever the header said, and so do we.
        basic[0], basic[1] = mtype, msub
        inner, (ibs, ibody), ienv = build(raw, bstart, end, depth + 1, budget, want_env=True)
        kids = (inner,)
        kind = MESSAGE
        env_raw = Raw(ienv)
        lines = _lines(raw, bstart, end)
        extra_bs = [env_raw, Raw(encode(ibs)), lines]
        extra_body = [env_raw, Raw(encode(ibody)), lines]
    elif mtype == b"text":
        lines = _lines(raw, bstart, end)
        extra_bs = [lines]
        extra_body = [lines]
    ext: list[Value] = [_nstr(fields.get(b"content-md5")), disposition, language, location]
    bs_list: list[Value] = basic + extra_bs + ext
    body_list: list[Value] = basic + extra_body
    node_t = (kind, hstart, bstart, end, mtype, msub, cte, charset, kids)
    return node_t, (bs_list, body_list), env
