"""Typed commands back to client wire bytes — the grammar's inverse.

For tests, benchmarks and any client-side use:
``parse_command(frame_of(unparse(cmd))) == cmd`` for every command the
grammar can produce.  Strings are written as an atom when the grammar
allows one, quoted when they are short printable ASCII, and as literals
otherwise (``{n}``, or ``{n+}`` with ``literal_plus``, RFC 7888); APPEND
content always as a literal (``~{n}`` for ``binary``, RFC 3516 §4.4).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from mailframe.imap import command as c
from mailframe.imap import mutf7
from mailframe.imap._chars import ASTRING_CHARS, LIST_CHARS
from mailframe.imap.framing import ContinuationRequest, Frame, Framer
from mailframe.imap.limits import DEFAULT_LIMITS, Limits
from mailframe.imap.types import (
    STAR,
    AppendMessage,
    FetchAtt,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchWithin,
    SequenceSet,
)
from mailframe.wire import MONTHS, date_time

__all__ = ["unparse", "frame_of", "sequence_set", "search_key", "fetch_att", "date_time"]

_MONTHS = MONTHS
_PRINTABLE = frozenset(range(0x20, 0x7F))
_FLAG_KEY = {
    "\\Answered": "ANSWERED", "\\Deleted": "DELETED", "\\Draft": "DRAFT",
    "\\Flagged": "FLAGGED", "\\Seen": "SEEN", "\\Recent": "RECENT",
}
_HEADER_KEYS = frozenset({"FROM", "TO", "CC", "BCC", "SUBJECT"})


class _Writer:
    """Accumulates one command's bytes."""

    def __init__(self, literal_plus: bool, utf8: bool = False) -> None:
        self.marker = b"+}" if literal_plus else b"}"
        self.utf8 = utf8

    def name(self, name: str) -> bytes:
        """A mailbox name's octets: modified UTF-7, or UTF-8 when enabled."""
        return name.encode("utf-8") if self.utf8 else mutf7.encode(name)

    def literal(self, data: bytes, binary: bool = False) -> bytes:
        return (b"~{" if binary else b"{") + str(len(data)).encode() + self.marker + b"\r\n" + data

    def string(self, data: bytes) -> bytes:
        """``quoted`` when possible, else ``literal`` (RFC 3501 §4.3)."""
        if len(data) <= 1024 and _PRINTABLE.issuperset(data):
            return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        return self.literal(data)

    def astring(self, data: bytes) -> bytes:
        if data and ASTRING_CHARS.issuperset(data):
            return data
        return self.string(data)

    def mailbox(self, name: str) -> bytes:
        return self.astring(self.name(name))

    def pattern(self, name: str) -> bytes:
        raw = self.name(name)
        return raw if raw and LIST_CHARS.issuperset(raw) else self.string(raw)


def _join(items: Iterable[bytes]) -> bytes:
    return b" ".join(items)


def _paren(items: Iterable[bytes]) -> bytes:
    return b"(" + _join(items) + b")"


def sequence_set(numbers: SequenceSet) -> bytes:
    """``sequence-set``; ``$`` when ``saved`` (RFC 5182)."""
    if numbers.saved:
        return b"$"

    def num(n: int) -> bytes:
        return b"*" if n == STAR else str(n).encode()

    return b",".join(num(lo) if lo == hi else num(lo) + b":" + num(hi) for lo, hi in numbers.ranges)


def _date(when: date) -> bytes:
    return f"{when.day}-{_MONTHS[when.month - 1]}-{when.year:04d}".encode()


def _flags(flags: Iterable[str]) -> bytes:
    return _paren(f.encode("ascii") for f in sorted(flags))


def _notify_group(group: c.NotifyGroup, w: _Writer) -> bytes:
    """``event-group`` (RFC 5465 §8)."""
    out = group.filter.encode()
    if group.filter in ("SUBTREE", "MAILBOXES"):
        out += b" " + _paren(w.mailbox(m) for m in group.mailboxes)
    if not group.events:
        return b"(" + out + b" NONE)"
    events = []
    for event in group.events:
        item = event.encode()
        if event == "MessageNew" and group.fetch:
            item += b" " + _paren(fetch_att(a) for a in group.fetch)
        events.append(item)
    return b"(" + out + b" " + _paren(events) + b")"


def _append_message(msg: AppendMessage, w: _Writer) -> bytes:
    """``SP append-message``: flags, date, then a literal, ``UTF8
    (literal8)`` (RFC 6855 §4) or ``CATENATE (...)`` (RFC 4469 §5)."""
    out = b""
    if msg.flags:
        out += b" " + _flags(msg.flags)
    if msg.internaldate is not None:
        out += b" " + date_time(msg.internaldate)
    if msg.catenate is not None:
        parts = []
        for kind, data in msg.catenate:
            if kind == "URL":
                parts.append(b"URL " + w.astring(data))
            elif kind == "UTF8":
                parts.append(b"UTF8 (" + w.literal(data, True) + b")")
            else:
                parts.append(b"TEXT " + w.literal(data))
        return out + b" CATENATE " + _paren(parts)
    if msg.utf8:
        return out + b" UTF8 (" + w.literal(msg.content, True) + b")"
    return out + b" " + w.literal(msg.content, msg.binary)


def search_key(key: SearchKey, w: _Writer | None = None, codec: str = "utf-8") -> bytes:
    """One ``search-key``; string values encoded with ``codec``."""
    w = w or _Writer(False)

    def val(text: str) -> bytes:
        return w.astring(text.encode(codec))

    if isinstance(key, SearchAll):
        return b"ALL"
    if isinstance(key, SearchFlag):
        name = _FLAG_KEY.get(key.flag)
        if name is None:
            if key.flag.startswith("\\"):
                raise ValueError(f"no search key for flag {key.flag}")
            return (b"KEYWORD " if key.present else b"UNKEYWORD ") + key.flag.encode("ascii")
        if key.present:
            return name.encode()
        return b"NOT RECENT" if name == "RECENT" else b"UN" + name.encode()
    if isinstance(key, SearchDate):
        prefix = b"SAVED" if key.saved else b"SENT" if key.sent else b""
        return prefix + key.op.upper().encode() + b" " + _date(key.when)
    if isinstance(key, SearchSize):
        return key.op.upper().encode() + b" " + str(key.size).encode()
    if isinstance(key, SearchHeader):
        if key.name in _HEADER_KEYS:
            return key.name.encode() + b" " + val(key.value)
        return b"HEADER " + w.astring(key.name.encode("ascii")) + b" " + val(key.value)
    if isinstance(key, SearchBody):
        return (b"TEXT " if key.text else b"BODY ") + val(key.value)
    if isinstance(key, SearchSet):
        return (b"UID " if key.uid else b"") + sequence_set(key.numbers)
    if isinstance(key, SearchModSeq):
        return b"MODSEQ " + str(key.modseq).encode()
    if isinstance(key, SearchWithin):
        return key.op.upper().encode() + b" " + str(key.seconds).encode()
    if isinstance(key, SearchNot):
        return b"NOT " + search_key(key.key, w, codec)
    if isinstance(key, SearchOr):
        return b"OR " + search_key(key.left, w, codec) + b" " + search_key(key.right, w, codec)
    if isinstance(key, SearchAnd):
        return _paren(search_key(k, w, codec) for k in key.keys)
    raise TypeError(f"not a search key: {key!r}")


def fetch_att(att: FetchAtt) -> bytes:
    """One ``fetch-att`` (RFC 3501 §9, RFC 3516 §4.2)."""
    sec = att.section
    part = b".".join(str(p).encode() for p in sec.part) if sec else b""
    partial = b"<%d.%d>" % att.partial if att.partial else b""
    if att.name == "BODY[]":
        assert sec is not None
        spec = part
        if sec.text:
            spec += (b"." if part else b"") + sec.text.encode()
            if sec.text.startswith("HEADER.FIELDS"):
                spec += b" " + _paren(f.encode("ascii") for f in sec.fields)
        return (b"BODY.PEEK[" if att.peek else b"BODY[") + spec + b"]" + partial
    if att.name == "BINARY[]":
        return (b"BINARY.PEEK[" if att.peek else b"BINARY[") + part + b"]" + partial
    if att.name == "BINARY.SIZE":
        return b"BINARY.SIZE[" + part + b"]"
    return att.name.encode("ascii")


def unparse(cmd: c.Command, literal_plus: bool = False, utf8: bool = False) -> bytes:
    """``cmd`` as a client would send it, CRLF included; ``utf8`` writes
    mailbox names in UTF-8 (after ENABLE UTF8=ACCEPT, RFC 6855 §3)."""
    w = _Writer(literal_plus, utf8)
    return cmd.tag.encode("ascii") + b" " + _body(cmd, w) + b"\r\n"


_BARE = {
    c.Capability: b"CAPABILITY", c.Noop: b"NOOP", c.Logout: b"LOGOUT", c.StartTLS: b"STARTTLS",
    c.Check: b"CHECK", c.Close: b"CLOSE", c.Unselect: b"UNSELECT", c.Namespace: b"NAMESPACE",
    c.Idle: b"IDLE", c.Unauthenticate: b"UNAUTHENTICATE",
}


def _body(cmd: c.Command, w: _Writer) -> bytes:  # noqa: C901 - one branch per command
    bare = _BARE.get(type(cmd))
    if bare is not None:
        return bare
    uid = b"UID " if getattr(cmd, "uid", False) is True else b""
    if isinstance(cmd, c.Login):
        return b"LOGIN " + w.astring(cmd.username.encode("utf-8", "surrogateescape")) + b" " + w.astring(
            cmd.password.encode("utf-8", "surrogateescape"))
    if isinstance(cmd, c.Compress):
        return b"COMPRESS " + cmd.algorithm.encode("ascii")
    if isinstance(cmd, c.Authenticate):
        out = b"AUTHENTICATE " + cmd.mechanism.encode("ascii")
        return out + (b" " + cmd.initial if cmd.initial is not None else b"")
    if isinstance(cmd, c.Id):
        if cmd.params is None:
            return b"ID NIL"
        return b"ID " + _paren(
            w.string(k.encode()) + b" " + (b"NIL" if v is None else w.string(v.encode()))
            for k, v in cmd.params)
    if isinstance(cmd, c.Enable):
        return b"ENABLE " + _join(cap.encode("ascii") for cap in cmd.capabilities)
    if isinstance(cmd, c.Select):
        out = (b"EXAMINE " if cmd.readonly else b"SELECT ") + w.mailbox(cmd.mailbox)
        params = [b"CONDSTORE"] if cmd.condstore else []
        if cmd.qresync is not None:
            uv, ms, known = cmd.qresync
            q = [str(uv).encode(), str(ms).encode()] + ([sequence_set(known)] if known else [])
            if cmd.seq_match is not None:
                q.append(_paren(sequence_set(s) for s in cmd.seq_match))
            params.append(b"QRESYNC " + _paren(q))
        return out + (b" " + _paren(params) if params else b"")
    if isinstance(cmd, c.Create):
        out = b"CREATE " + w.mailbox(cmd.mailbox)
        if cmd.special_use:
            out += b" (USE " + _flags(cmd.special_use) + b")"
        return out
    if isinstance(cmd, (c.Delete, c.Subscribe, c.Unsubscribe)):
        return type(cmd).__name__.upper().encode() + b" " + w.mailbox(cmd.mailbox)
    if isinstance(cmd, c.Rename):
        return b"RENAME " + w.mailbox(cmd.old) + b" " + w.mailbox(cmd.new)
    if isinstance(cmd, c.List):
        return _list(cmd, w)
    if isinstance(cmd, c.Status):
        return b"STATUS " + w.mailbox(cmd.mailbox) + b" " + _paren(i.encode() for i in cmd.items)
    if isinstance(cmd, c.Append):
        if not cmd.messages:
            raise ValueError("APPEND needs a message")
        out = b"APPEND " + w.mailbox(cmd.mailbox)
        for msg in cmd.messages:
            out += _append_message(msg, w)
        return out
    if isinstance(cmd, c.Notify):
        if cmd.groups is None:
            return b"NOTIFY NONE"
        return b"NOTIFY SET" + (b" STATUS" if cmd.status else b"") + b"".join(
            b" " + _notify_group(g, w) for g in cmd.groups
        )
    if isinstance(cmd, c.Replace):
        out = b"REPLACE " + sequence_set(cmd.numbers) + b" " + w.mailbox(cmd.mailbox)
        return uid + out + _append_message(cmd.message, w)
    if isinstance(cmd, c.Expunge):
        return b"EXPUNGE" if cmd.uids is None else b"UID EXPUNGE " + sequence_set(cmd.uids)
    if isinstance(cmd, c.Search):
        return uid + _search(cmd, w)
    if isinstance(cmd, c.Sort):
        crit = _paren((b"REVERSE " if rev else b"") + k.encode() for k, rev in cmd.criteria)
        out = b"SORT " + _returns(cmd.returns, cmd.partial) + crit + b" " + cmd.charset.encode()
        return uid + out + b" " + _keys(cmd.key, w, "utf-8")
    if isinstance(cmd, c.CancelUpdate):
        return b"CANCELUPDATE " + b" ".join(w.string(t.encode()) for t in cmd.tags)
    if isinstance(cmd, c.Thread):
        out = b"THREAD " + cmd.algorithm.encode() + b" " + cmd.charset.encode()
        return uid + out + b" " + _keys(cmd.key, w, "utf-8")
    if isinstance(cmd, c.Fetch):
        out = b"FETCH " + sequence_set(cmd.numbers) + b" " + _paren(fetch_att(a) for a in cmd.items)
        mods = [b"CHANGEDSINCE %d" % cmd.changedsince] if cmd.changedsince is not None else []
        if cmd.vanished:
            mods.append(b"VANISHED")
        return uid + out + (b" " + _paren(mods) if mods else b"")
    if isinstance(cmd, c.Store):
        out = b"STORE " + sequence_set(cmd.numbers) + b" "
        if cmd.unchangedsince is not None:
            out += b"(UNCHANGEDSINCE %d) " % cmd.unchangedsince
        out += {"set": b"", "add": b"+", "remove": b"-"}[cmd.mode] + b"FLAGS"
        out += b".SILENT" if cmd.silent else b""
        return uid + out + b" " + _flags(cmd.flags)
    if isinstance(cmd, (c.Copy, c.Move)):
        name = b"COPY " if isinstance(cmd, c.Copy) else b"MOVE "
        return uid + name + sequence_set(cmd.numbers) + b" " + w.mailbox(cmd.mailbox)
    raise TypeError(f"cannot unparse {cmd!r}")


def _list(cmd: c.List, w: _Writer) -> bytes:
    """LIST / LSUB, with LIST-EXTENDED options (RFC 5258 §6)."""
    if cmd.lsub:
        return b"LSUB " + w.astring(w.name(cmd.reference)) + b" " + w.pattern(cmd.patterns[0])
    opts = cmd.options
    out = b"LIST "
    if opts.select:
        out += _paren(o.encode() for o in sorted(opts.select)) + b" "
    out += w.astring(w.name(cmd.reference))
    if len(cmd.patterns) == 1:
        out += b" " + w.pattern(cmd.patterns[0])
    else:
        out += b" " + _paren(w.pattern(p) for p in cmd.patterns)
    returns = set(opts.return_)
    if opts.status_items:
        returns.add("STATUS")
    if returns:
        items = [
            b"STATUS " + _paren(i.encode() for i in opts.status_items) if r == "STATUS" else r.encode()
            for r in sorted(returns)
        ]
        out += b" RETURN " + _paren(items)
    return out


def _returns(returns: tuple[str, ...] | None, partial: tuple[int, int] | None) -> bytes:
    """The ``RETURN (...)`` clause and its trailing space, with a PARTIAL range (RFC 9394), or nothing."""
    if returns is None:
        return b""
    opts = [
        r.encode() if r != "PARTIAL" or partial is None else b"PARTIAL %d:%d" % partial
        for r in returns
    ]
    return b"RETURN " + _paren(opts) + b" "


def _keys(key: SearchKey, w: _Writer, codec: str) -> bytes:
    if isinstance(key, SearchAnd) and len(key.keys) > 1:
        return _join(search_key(k, w, codec) for k in key.keys)
    return search_key(key, w, codec)


def _search(cmd: c.Search, w: _Writer) -> bytes:
    out = b"SEARCH"
    if cmd.returns is not None:
        out += b" " + _returns(cmd.returns, cmd.partial)[:-1]
    codec = "utf-8"
    if cmd.charset is not None:
        out += b" CHARSET " + w.astring(cmd.charset.encode("ascii"))
        if cmd.charset not in ("US-ASCII", "UTF-8"):
            codec = cmd.charset
    key = cmd.key
    if isinstance(key, SearchAnd) and len(key.keys) > 1:
        return out + b" " + _join(search_key(k, w, codec) for k in key.keys)
    return out + b" " + search_key(key, w, codec)


def frame_of(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """The single :class:`Frame` that ``data`` (one whole command) makes,
    continuation requests aside.  Raises ValueError otherwise."""
    events = Framer(limits).feed(data)
    frames = [e for e in events if isinstance(e, Frame)]
    others = [e for e in events if not isinstance(e, (Frame, ContinuationRequest))]
    if len(frames) != 1 or others:
        raise ValueError(f"not exactly one command: {events!r}")
    return frames[0]
