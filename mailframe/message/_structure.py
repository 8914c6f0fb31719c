"""One pass over raw bytes: the MIME tree with byte offsets, and the
BODYSTRUCTURE / BODY values built along the way.

RFC 2045/2046 define the structure, RFC 3501 §7.4.2 (RFC 9051 §7.5.2) the
BODYSTRUCTURE form.  Each part is recorded as a ``Node`` tuple (cheap to
marshal, see :mod:`mailframe.message._info`)::

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
from typing import Any, NamedTuple

from mailframe.wire import NIL, nstring, string

from ._envelope import ENVELOPE_FIELDS, envelope_wire
from ._headers import all_values, first_token, header_end, parse_mime_value, unfold

__all__ = ["Node", "node_to_plain", "node_from_plain", "LEAF", "MULTIPART", "MESSAGE", "build", "Budget", "MAX_DEPTH", "MAX_PARTS"]

LEAF, MULTIPART, MESSAGE = 0, 1, 2

class Node(NamedTuple):
    """One MIME part: where its header and body lie in the message and
    what BODYSTRUCTURE says of it (RFC 3501 §7.4.2, RFC 2045).

    ``children`` holds the body parts of a multipart, the one encapsulated
    message of a ``message/rfc822`` part, and nothing for a leaf.
    """

    kind: int  #: LEAF, MULTIPART or MESSAGE
    header_start: int
    body_start: int
    end: int
    type: bytes  #: lower-case media type
    subtype: bytes  #: lower-case subtype
    cte: bytes  #: lower-case Content-Transfer-Encoding
    charset: bytes  #: lower-case charset parameter
    children: tuple[Node, ...]


def node_to_plain(node: Node) -> tuple[Any, ...]:
    """Plain nested tuples, for ``marshal`` (which refuses NamedTuples)."""
    return (*node[:8], tuple(node_to_plain(c) for c in node.children))


def node_from_plain(t: Any) -> Node:
    """The inverse of :func:`node_to_plain`."""
    return Node(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], tuple(node_from_plain(c) for c in t[8]))

#: Nesting deeper than this (multipart or message/rfc822 levels) is not
#: descended into: the part is reported as application/octet-stream.
MAX_DEPTH = 64
#: At most this many parts per message; the rest stay inside their parent.
MAX_PARTS = 5000
#: Delimiter lines examined per message while resolving nested multiparts
#: that reuse their parent's boundary (hostile input stays linear).
MAX_SCANS = 4096

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
_ALL_FIELDS = _MIME_FIELDS | ENVELOPE_FIELDS | {b"mime-version"}


_PADDING = frozenset(b" \t\r")


def _delimiter_at(raw: bytes, i: int, end: int, dash: bytes) -> tuple[int, bool] | None:
    """If a delimiter line (RFC 2046 §5.1.1) starts at ``i`` (a line
    start), return (offset after its line, is-close-delimiter)."""
    j = i + len(dash)
    close = raw.startswith(b"--", j, end)
    if close:
        j += 2
    nl = raw.find(b"\n", j, end)
    stop = end if nl < 0 else nl
    if stop > j and not _PADDING.issuperset(raw[j:stop]):
        return None  # something else on the line: not a delimiter
    return (end if nl < 0 else nl + 1), close


def _next_delimiter(
    raw: bytes, pos: int, start: int, end: int, dash: bytes
) -> tuple[int, int, bool] | None:
    """The first delimiter line at or after ``pos`` inside ``[start, end)``:
    ``(line start, offset after the line, is-close)``, or None."""
    if pos == start and raw.startswith(dash, start, end):
        hit = start  # a delimiter may open the body with no line break
    else:
        found = raw.find(b"\n" + dash, pos - 1 if pos > start else start, end)
        if found < 0:
            return None
        hit = found + 1
    while True:
        got = _delimiter_at(raw, hit, end, dash)
        if got is not None:
            return hit, got[0], got[1]
        found = raw.find(b"\n" + dash, hit, end)
        if found < 0:
            return None
        hit = found + 1


_CTYPE = frozenset({b"content-type"})


def _reuses_boundary(raw: bytes, part: int, end: int, boundary: bytes) -> bool:
    """Whether the part starting at ``part`` is a multipart declaring the
    same boundary as its parent (Outlook Express for Mac did this)."""
    hend = header_end(raw, part, end)
    if raw.find(boundary, part, hend) < 0:
        return False  # cheap test first: the header does not even mention it
    ctype = all_values(raw, _CTYPE, part, hend).get(b"content-type")
    if not ctype:
        return False
    mtype, _, params = parse_mime_value(ctype[0], slash=True)
    return mtype.lower() == b"multipart" and any(
        n.lower() == b"boundary" and v == boundary for n, v in params
    )


def _skip_same_boundary(
    raw: bytes, part: int, end: int, boundary: bytes, depth: int, budget: Budget
) -> int:
    """Offset after the close delimiter of the same-boundary multipart at
    ``part`` (nested ones included), or ``end``: the delimiter lines it
    claims are not its parent's.  Each delimiter visited costs one unit of
    ``budget.scans``; when that runs out the part takes the rest (bounded
    work for hostile nesting)."""
    dash = b"--" + boundary
    body = header_end(raw, part, end)
    pos = body
    while True:
        budget.scans += 1
        if budget.scans > MAX_SCANS:
            return end
        found = _next_delimiter(raw, pos, body, end, dash)
        if found is None:
            return end
        _, after, close = found
        if close:
            return after
        pos = after
        if depth < MAX_DEPTH and _reuses_boundary(raw, after, end, boundary):
            pos = _skip_same_boundary(raw, after, end, boundary, depth + 1, budget)


def split_multipart(
    raw: bytes, start: int, end: int, boundary: bytes, budget: Budget | None = None
) -> tuple[list[tuple[int, int, int]], int]:
    """Regions ``[s, e)`` of the body parts of a multipart body, each with
    the offset of the delimiter line that follows it (``raw[e:that]`` is
    the line break the delimiter owns, RFC 2046 §5.1.1), and the offset
    just after the close delimiter line (-1 when there is none).

    The delimiter is ``--boundary`` at the start of a line, optionally
    ``--`` (close), then only transport padding (RFC 2046 §5.1.1; bare LF
    accepted).  An unterminated multipart's last part runs to ``end``;
    preamble and epilogue are not parts.  A part that is itself a
    multipart with the *same* boundary (broken, but real: Outlook Express
    for Mac) keeps the delimiter lines up to its own close delimiter, as
    Dovecot and the stdlib ``email`` package read it.  Uses ``bytes.find``
    so a 5 MB body is scanned at memchr speed.
    """
    if budget is None:
        budget = Budget()
    dash = b"--" + boundary
    regions: list[tuple[int, int, int]] = []
    cur: int | None = None
    closed = False
    close_after = -1
    pos = start
    while True:
        found = _next_delimiter(raw, pos, start, end, dash)
        if found is None:
            break
        hit, nxt, closed = found
        lower = start if cur is None else cur
        pe = hit
        if pe > lower and raw[pe - 1] == 0x0A:
            pe -= 1
            if pe > lower and raw[pe - 1] == 0x0D:
                pe -= 1
        if cur is not None:
            regions.append((cur, max(cur, pe), hit))
        if closed:
            close_after = nxt
            break
        cur = pos = nxt
        if len(regions) >= MAX_PARTS:
            break  # the rest is one last part
        if budget.scans <= MAX_SCANS and _reuses_boundary(raw, nxt, end, boundary):
            pos = _skip_same_boundary(raw, nxt, end, boundary, 0, budget)
    if not closed and cur is not None:
        regions.append((cur, end, end))
    return regions, close_after


def _header_closed(raw: bytes, hstart: int, bstart: int) -> bool:
    """Whether the header ``raw[hstart:bstart]`` ends with its blank line."""
    return raw.endswith((b"\n\r\n", b"\n\n"), hstart, bstart) or raw[hstart:bstart] in (b"\r\n", b"\n")


class Budget:
    """Per-parse state: the part count (for :data:`MAX_PARTS`) and the
    top-level header values, raw (so the sent date needs no second pass)."""

    __slots__ = ("parts", "scans", "top")

    def __init__(self) -> None:
        self.parts = 0
        self.scans = 0
        self.top: dict[bytes, list[bytes]] = {}


def _params(params: list[tuple[bytes, bytes]]) -> bytes:
    """body-fld-param: ``("name" "value" ...)`` or NIL."""
    if not params:
        return NIL
    return b"(%s)" % b" ".join(string(n) + b" " + string(v) for n, v in params)


def _disposition(value: bytes | None) -> bytes:
    """body-fld-dsp (RFC 2183): ``("type" params)`` or NIL."""
    if not value:
        return NIL
    dtype, _, params = parse_mime_value(value, slash=False)
    if not dtype and not params:
        return NIL  # a type-less disposition keeps its parameters (Dovecot)
    return b"(%s %s)" % (string(dtype), _params(params))


_COMMENT_RE = re.compile(rb"\((?:[^()\\]|\\.)*\)")


def _language(value: bytes | None) -> bytes:
    """body-fld-lang (RFC 3282 tags): always a list, as Dovecot sends it."""
    if not value:
        return NIL
    while b"(" in value:  # comments (CFWS, RFC 3282 §2) are not tags: Dovecot drops them
        stripped = _COMMENT_RE.sub(b"", value)
        if stripped == value:
            break
        value = stripped
    tags = [t.strip(b" \t") for t in value.split(b",")]
    tags = [t for t in tags if t]
    if not tags:
        return NIL
    return b"(%s)" % b" ".join(string(t) for t in tags)


def _lines(raw: bytes, s: int, e: int) -> int:
    """Line count of a body (RFC 3501 §7.4.2 body-fld-lines): the number
    of line breaks, so a last line without one (as in every multipart
    child, whose final CRLF belongs to the delimiter) is not counted --
    Dovecot counts the same way."""
    return raw.count(b"\n", s, e)


def build(
    raw: bytes,
    hstart: int,
    end: int,
    depth: int,
    budget: Budget | None = None,
    default_type: tuple[bytes, bytes] = (b"text", b"plain"),
    has_header: bool = True,
    want_env: bool = False,
    delim: int | None = None,
) -> tuple[Node, bytes, bytes, bytes]:
    """Parse the part occupying ``raw[hstart:end]``.

    Returns the node and its BODYSTRUCTURE, BODY and (for a whole message,
    when ``want_env``) ENVELOPE in wire form.

    ``delim`` is where the enclosing multipart's next delimiter line starts
    (``raw[end:delim]`` is the line break before it).  A multipart whose
    close delimiter is the part's last line, and a message/rfc822 whose
    encapsulated message ends with such a close delimiter or with an
    unterminated header, keep that line break: it ends their own last
    line.  Dovecot counts it so in every size and section, and so do we.
    """
    if budget is None:
        budget = Budget()
    budget.parts += 1
    bstart = header_end(raw, hstart, end) if has_header else hstart
    # raw values: ENVELOPE unfolds them its own way (Dovecot's)
    values = all_values(raw, _ALL_FIELDS, hstart, bstart, unfolded=False) if bstart > hstart else {}
    if depth == 0:
        budget.top = values
    fields = {k: unfold(v[0]) for k, v in values.items()}
    ctype = fields.get(b"content-type")
    mtype_s, msub_s = default_type
    params: list[tuple[bytes, bytes]] = []
    if ctype:
        t, st, p = parse_mime_value(ctype, slash=True)
        if t and st:
            mtype_s, msub_s, params = t, st, p
    mtype, msub = mtype_s.lower(), msub_s.lower()
    cte_s = first_token(fields.get(b"content-transfer-encoding", b""))
    cte = cte_s.lower()  # decoding (BINARY, SEARCH) honours it even when not MIME
    if want_env and ctype is None and b"mime-version" not in fields:
        # A message with neither MIME-Version nor Content-Type is not MIME
        # (RFC 2045 §4): BODYSTRUCTURE ignores its other Content-* fields
        # and reports text/plain, us-ascii, 7bit.  Dovecot does the same;
        # a Content-Type alone (common in broken mail) still makes it MIME.
        fields = {k: v for k, v in fields.items() if k not in _MIME_FIELDS}
        cte_s = b""
    charset = b""
    for name, val in params:
        if name.lower() == b"charset":
            charset = val.lower()
            break
    env = envelope_wire(values) if want_env else b""
    deep = depth >= MAX_DEPTH or budget.parts >= MAX_PARTS

    get = fields.get
    # extension data shared by both forms (RFC 3501 §7.4.2)
    tail = b"%s %s %s" % (
        _disposition(get(b"content-disposition")),
        _language(get(b"content-language")),
        nstring(get(b"content-location")),
    )

    if mtype == b"multipart" and not deep:
        boundary: bytes | None = None
        for name, val in params:
            if name.lower() == b"boundary":
                boundary = val  # may be empty: then "--" lines delimit (Dovecot)
                break
        child_default = (b"message", b"rfc822") if msub == b"digest" else (b"text", b"plain")
        children: list[Node] = []
        bs_kids: list[bytes] = []
        body_kids: list[bytes] = []
        regions: list[tuple[int, int, int]] = []
        close_after = -1
        if boundary is not None:
            regions, close_after = split_multipart(raw, bstart, end, boundary, budget)
        if not regions:
            # No usable boundary (RFC 2046 requires one) or no delimiter
            # line: the body is all preamble and the multipart gets one
            # empty text/plain part at its end, as Dovecot reports it.
            node, bs, bd, _ = build(raw, end, end, depth + 1, budget, (b"text", b"plain"), False)
            children.append(node)
            bs_kids.append(bs)
            body_kids.append(bd)
        for rstart, rend, rtail in regions:
            node, bs, bd, _ = build(raw, rstart, rend, depth + 1, budget, child_default, delim=rtail)
            children.append(node)
            bs_kids.append(bs)
            body_kids.append(bd)
        sub = string(msub_s)
        bs_wire = b"(%s %s %s %s)" % (b"".join(bs_kids), sub, _params(params), tail)
        body_wire = b"(%s %s)" % (b"".join(body_kids), sub)
        if delim is not None and close_after == end and end > bstart and raw[end - 1] != 0x0A:
            end = delim  # the close delimiter line keeps its line break
        node_t = Node(MULTIPART, hstart, bstart, end, mtype, msub, cte, charset, tuple(children))
        return node_t, bs_wire, body_wire, env

    if deep and mtype in (b"multipart", b"message"):
        mtype_s = msub_s = b""
        mtype, msub, params = b"application", b"octet-stream", []

    if mtype == b"text" and not any(n.lower() == b"charset" for n, _ in params):
        # RFC 2045 §5.2 default, spelled out the way Dovecot does
        params = params + [(b"charset", b"us-ascii")]
    pvals = _params(params)
    kids: tuple[Any, ...] = ()
    kind = LEAF
    if mtype == b"message" and msub in (b"rfc822", b"global"):
        # body-type-msg (RFC 3501 §9) spells the type; Dovecot sends it
        # in lower case whatever the header said, and so do we.
        mtype_s, msub_s = mtype, msub
        inner, ibs, ibody, ienv = build(
            raw, bstart, end, depth + 1, budget, want_env=True, delim=delim
        )
        if (
            delim is not None
            and delim > end
            and (end > bstart or _header_closed(raw, hstart, bstart))
            and inner.kind == LEAF
            and inner.body_start == end
            and not _header_closed(raw, bstart, end)
        ):
            # the encapsulated header runs to the delimiter: the part keeps
            # the line break (its HEADER and TEXT stay as they are: Dovecot)
            # -- unless the part is empty and its own MIME header ends in
            # that line break (Dovecot: size 0)
            end = delim
        end = max(end, inner.end)
        kids = (inner,)
        kind = MESSAGE
        lines = _lines(raw, bstart, end)
        extra_bs = b" %s %s %d" % (ienv, ibs, lines)
        extra_body = b" %s %s %d" % (ienv, ibody, lines)
    elif mtype == b"text":
        extra_bs = extra_body = b" %d" % _lines(raw, bstart, end)
    else:
        extra_bs = extra_body = b""
    basic = b"%s %s %s %s %s %s %d" % (
        string(mtype_s or mtype),
        string(msub_s or msub),
        pvals,
        nstring(get(b"content-id")),
        nstring(get(b"content-description")),
        string(cte_s or b"7bit"),
        end - bstart,
    )
    bs_wire = b"(%s%s %s %s)" % (basic, extra_bs, nstring(get(b"content-md5")), tail)
    body_wire = b"(%s%s)" % (basic, extra_body)
    node_t = Node(kind, hstart, bstart, end, mtype, msub, cte, charset, kids)
    return node_t, bs_wire, body_wire, env
