"""The IMAP command grammar: a framed command → a typed command.

RFC 3501 §9 (``command``), with the extensions mailframe offers: UIDPLUS
(RFC 4315), MOVE (RFC 6851), UNSELECT (RFC 3691), NAMESPACE (RFC 2342),
ID (RFC 2971), ENABLE (RFC 5161), IDLE (RFC 2177), SASL-IR (RFC 4959),
MULTIAPPEND (RFC 3502), BINARY (RFC 3516), LIST-EXTENDED (RFC 5258),
LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154), CONDSTORE/QRESYNC
(RFC 7162), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), WITHIN (RFC 5032).

Command names and keywords are case-insensitive; flags keep their case
except system flags, spelled as in RFC 3501 §2.3.2.  Every failure is a
:class:`ParseError` carrying the tag when one could be read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from mailframe import vocabulary
from mailframe.imap import command as c
from mailframe.imap.framing import Frame
from mailframe.imap.grammar_acl import ACL_COMMANDS
from mailframe.imap.grammar_append import parse_append, parse_replace
from mailframe.imap.grammar_fetch import fetch_atts
from mailframe.imap.grammar_metadata import parse_getmetadata, parse_setmetadata
from mailframe.imap.grammar_notify import parse_notify
from mailframe.imap.grammar_quota import parse_getquota, parse_getquotaroot, parse_setquota
from mailframe.imap.grammar_reader import MAX_MODSEQ, ParseError, Reader
from mailframe.imap.grammar_search import parse_search
from mailframe.imap.grammar_sort import parse_cancelupdate, parse_sort, parse_thread
from mailframe.imap.limits import DEFAULT_LIMITS, Limits
from mailframe.imap.types import ListOptions, SequenceSet

__all__ = ["ParseError", "parse_command", "STATUS_ITEMS"]

#: ``status-att`` (RFC 3501 §9; HIGHESTMODSEQ RFC 7162; SIZE, DELETED
#: RFC 9051; APPENDLIMIT RFC 7889; MAILBOXID RFC 8474, answered BAD by the
#: handler where the account does not offer OBJECTID, as Dovecot does).
STATUS_ITEMS = frozenset({
    "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ",
    "SIZE", "DELETED", "APPENDLIMIT",
    "MAILBOXID",  # RFC 8474 §4.3, answered where OBJECTID is offered (else BAD)
})

#: LIST selection options (RFC 5258 §3.1, SPECIAL-USE RFC 6154 §3).
LIST_SELECT = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
#: LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154), STATUS aside.
LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "MYRIGHTS"})  # MYRIGHTS: RFC 8440

#: use-attr (RFC 6154 §2; \Important RFC 8457), canonical spelling.
SPECIAL_USE = {a.upper(): a for a in sorted(vocabulary.SPECIAL_USE)}

_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")

Parser = Callable[[Reader, str, bool], c.Command]


def parse_command(frame: Frame, limits: Limits = DEFAULT_LIMITS, *, utf8: bool = False,
                  rev2: bool = False) -> c.Command:
    """The command ``frame`` holds (RFC 3501 §9 ``command``).

    ``tag SP command-name [SP arguments]``; raises :class:`ParseError`.
    ``utf8``: the client has enabled UTF8=ACCEPT or IMAP4rev2, so mailbox
    names are UTF-8 rather than modified UTF-7 (RFC 6855 §3, RFC 9051 §5.1).
    ``rev2``: the client enabled IMAP4rev2, whose grammar has no \\Recent
    (RFC 9051 Appendix E): SEARCH RECENT/NEW/OLD and STATUS (RECENT) are BAD.
    """
    r = Reader(frame.parts, limits, utf8, rev2)
    tag = r.tag_token()
    r.sp()
    name = r.keyword("command name")
    parser = _COMMANDS.get(name)
    if parser is None:
        r.fail(f"Unknown command {name}")
    try:
        cmd = parser(r, tag, False)
        r.end()
    except RecursionError:  # only if max_depth is set beyond Python's stack
        r.fail("Too deeply nested")
    except ParseError as e:
        e.command = name
        raise
    return cmd


def _bare(cls: type[c.Command]) -> Parser:
    """A command without arguments."""

    def parse(r: Reader, tag: str, uid: bool) -> c.Command:
        return cls(tag)

    return parse


def _authenticate(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"AUTHENTICATE" SP auth-type [SP (base64 / "=")]`` (RFC 4959 §7)."""
    r.sp()
    mech = r.keyword("SASL mechanism")
    initial = None
    if r.skip(0x20):
        m = _BASE64.match(r.text, r.pos)
        raw = m.group() if m else b""
        if raw != b"=" and (not raw or len(raw) % 4):
            r.fail("Invalid base64 initial response")
        r.pos += len(raw)
        initial = raw
    return c.Authenticate(tag, mech, initial)


def _login(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"LOGIN" SP userid SP password``; 8-bit octets that are not UTF-8
    survive as surrogate escapes."""
    r.sp()
    user = r.astring("user name")
    r.sp()
    password = r.astring("password")
    return c.Login(
        tag, user.decode("utf-8", "surrogateescape"), password.decode("utf-8", "surrogateescape")
    )


def _id(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"ID" SP ("(" #(string SP nstring) ")" / nil)`` (RFC 2971 §4)."""
    r.sp()
    if r.nil():
        return c.Id(tag, None)
    r.open()
    params: list[tuple[str, str | None]] = []
    while r.peek() != 0x29:
        if params:
            r.sp()
        key = r.text_of(r.string(), "ID field")
        r.sp()
        value = r.nstring()
        params.append((key, None if value is None else r.text_of(value, "ID value")))
    r.close()
    return c.Id(tag, tuple(params))


def _compress(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"COMPRESS" SP algorithm`` (RFC 4978 §5); only DEFLATE is defined,
    any other algorithm is BAD (§3)."""
    r.sp()
    algorithm = r.keyword("compression algorithm")
    if algorithm != "DEFLATE":
        r.fail(f"Unknown compression algorithm {algorithm}")
    return c.Compress(tag, algorithm)


def _enable(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"ENABLE" 1*(SP capability)`` (RFC 5161 §4)."""
    caps = []
    while r.skip(0x20):
        caps.append(r.keyword("capability"))
    if not caps:
        r.fail("ENABLE needs a capability")
    return c.Enable(tag, tuple(caps))


def _select(readonly: bool) -> Parser:
    """``("SELECT" / "EXAMINE") SP mailbox [select-params]`` (RFC 4466 §2.1,
    CONDSTORE / QRESYNC RFC 7162 §3.1.8, §3.2.5)."""

    def parse(r: Reader, tag: str, uid: bool) -> c.Command:
        r.sp()
        mailbox = r.mailbox()
        condstore = False
        qresync = None
        seq_match = None
        if r.skip(0x20):
            r.open()
            first = True
            while r.peek() != 0x29:
                if not first:
                    r.sp()
                first = False
                param = r.keyword("select parameter")
                if param == "CONDSTORE":
                    condstore = True
                elif param == "QRESYNC":
                    r.sp()
                    qresync, seq_match = _qresync(r)
                else:
                    r.fail(f"Unknown select parameter {param}")
            r.close()
        return c.Select(tag, mailbox, readonly, condstore, qresync, seq_match)

    return parse


def _qresync(
    r: Reader,
) -> tuple[tuple[int, int, SequenceSet | None], tuple[SequenceSet, SequenceSet] | None]:
    """``"(" uidvalidity SP mod-sequence-value [SP known-uids]
    [SP seq-match-data] ")"`` (RFC 7162 §3.2.5); seq-match-data is
    ``"(" known-sequence-set SP known-uid-set ")"``, two sets of the same
    length (§3.2.5.2)."""
    r.open()
    uidvalidity = r.nz_number(what="uidvalidity")
    r.sp()
    modseq = r.number(MAX_MODSEQ, "mod-sequence")
    known = None
    seq_match = None
    if r.skip(0x20):
        if r.peek() != 0x28:
            known = r.sequence_set()
            if known.saved:
                r.fail("Invalid known-uids")
            if not r.skip(0x20):
                r.close()
                return (uidvalidity, modseq, known), None
        r.open()
        seqs = r.sequence_set()
        r.sp()
        uids = r.sequence_set()
        r.close()
        if seqs.saved or uids.saved:
            r.fail("Invalid seq-match-data")
        seq_match = (seqs, uids)
    r.close()
    return (uidvalidity, modseq, known), seq_match


def _create(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"CREATE" SP mailbox [SP "(" "USE" SP "(" use-attr... ")" ")"]``
    (RFC 4466 §2.2, RFC 6154 §3)."""
    r.sp()
    mailbox = r.mailbox()
    uses: set[str] = set()
    if r.skip(0x20):
        r.open()
        while True:
            r.word("USE")
            r.sp()
            r.open()
            if r.peek() != 0x29:
                uses.add(_use_attr(r))
                while r.skip(0x20):
                    uses.add(_use_attr(r))
            r.close()
            if not r.skip(0x20):
                break
        r.close()
    return c.Create(tag, mailbox, frozenset(uses))


def _use_attr(r: Reader) -> str:
    """``use-attr = "\\All" / ... / use-attr-ext`` (RFC 6154 §6)."""
    r.expect(0x5C, "special-use attribute")
    attr = "\\" + r.atom("special-use attribute")
    return SPECIAL_USE.get(attr.upper(), attr)


def _one_mailbox(cls: Callable[[str, str], c.Command]) -> Parser:
    def parse(r: Reader, tag: str, uid: bool) -> c.Command:
        r.sp()
        return cls(tag, r.mailbox())

    return parse


def _rename(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    old = r.mailbox()
    r.sp()
    return c.Rename(tag, old, r.mailbox())


def _status_items(r: Reader) -> tuple[str, ...]:
    """``"(" status-att *(SP status-att) ")"``"""
    r.open()
    items = [r.keyword("status item")]
    while r.skip(0x20):
        items.append(r.keyword("status item"))
    r.close()
    for item in items:
        if item not in STATUS_ITEMS:
            r.fail(f"Unknown status item {item}")
        if item == "RECENT" and r.rev2:  # RFC 9051 §9 status-att, Appendix E
            r.fail("Status item RECENT is not in IMAP4rev2 (RFC 9051 removed \\Recent)")
    return tuple(items)


def _status(r: Reader, tag: str, uid: bool) -> c.Command:
    r.sp()
    mailbox = r.mailbox()
    r.sp()
    return c.Status(tag, mailbox, _status_items(r))


def _atom_list(r: Reader, what: str) -> list[str]:
    """``"(" [atom *(SP atom)] ")"``, upper-cased."""
    r.open()
    out = []
    if r.peek() != 0x29:
        out.append(r.keyword(what))
        while r.skip(0x20):
            out.append(r.keyword(what))
    r.close()
    return out


def _list(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    [SP list-return-opts]`` (RFC 5258 §6, RFC 5819 §4)."""
    r.sp()
    select: list[str] = []
    if r.peek() == 0x28:
        select = _atom_list(r, "selection option")
        for opt in select:
            if opt not in LIST_SELECT:
                r.fail(f"Unknown LIST selection option {opt}")
        if "RECURSIVEMATCH" in select and not set(select) - {"RECURSIVEMATCH", "REMOTE"}:
            # RFC 5258 §3.1: it "MUST NOT occur as the only selection
            # option (or only with REMOTE)".
            r.fail("RECURSIVEMATCH must not be the only selection")
        r.sp()
    reference = r.list_mailbox_astring()
    r.sp()
    if r.peek() == 0x28:
        r.open()
        found = [r.list_mailbox()]
        while r.skip(0x20):
            found.append(r.list_mailbox())
        r.close()
    else:
        found = [r.list_mailbox()]
    # A pattern that is not valid modified UTF-7 matches nothing.
    patterns = [p for p in found if p is not None]
    returns: list[str] = []
    status: tuple[str, ...] = ()
    if r.skip(0x20):
        r.word("RETURN")
        r.sp()
        r.open()
        while r.peek() != 0x29:
            if returns:
                r.sp()
            opt = r.keyword("return option")
            if opt == "STATUS":
                r.sp()
                status = _status_items(r)
            elif opt not in LIST_RETURN:
                r.fail(f"Unknown LIST return option {opt}")
            returns.append(opt)
        r.close()
    options = ListOptions(frozenset(select), frozenset(returns), status)
    return c.List(tag, reference, tuple(patterns), options=options)


def _lsub(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"LSUB" SP mailbox SP list-mailbox``"""
    r.sp()
    reference = r.list_mailbox_astring()
    r.sp()
    pattern = r.list_mailbox()
    return c.List(tag, reference, () if pattern is None else (pattern,), lsub=True)


def _fetch(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"FETCH" SP sequence-set SP fetch-atts [SP fetch-modifiers]``
    (RFC 4466 §2.4; CHANGEDSINCE and VANISHED RFC 7162 §3.1.4.1, §3.2.6)."""
    r.sp()
    numbers = r.sequence_set()
    r.sp()
    atts = fetch_atts(r)
    changedsince = None
    vanished = False
    if r.skip(0x20):
        for mod in _modifiers(r):
            if mod == "CHANGEDSINCE":
                r.sp()
                changedsince = r.number(MAX_MODSEQ, "mod-sequence")
            elif mod == "VANISHED":
                vanished = True
            else:
                r.fail(f"Unknown FETCH modifier {mod}")
        r.close()
        if vanished and (not uid or changedsince is None):
            r.fail("VANISHED needs UID FETCH with CHANGEDSINCE")  # RFC 7162 §3.2.6
    return c.Fetch(tag, numbers, atts, uid, changedsince, vanished)


def _modifiers(r: Reader) -> Iterator[str]:
    """Yield each modifier name of ``"(" mod *(SP mod) ")"`` (the caller
    reads each modifier's value and the closing parenthesis)."""
    r.open()
    yield r.keyword("modifier")
    while r.skip(0x20):
        yield r.keyword("modifier")


def _store(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"STORE" SP sequence-set [SP store-modifiers] SP store-att-flags``
    (RFC 3501 §9, UNCHANGEDSINCE RFC 7162 §3.1.3)."""
    r.sp()
    numbers = r.sequence_set()
    r.sp()
    unchangedsince = None
    if r.peek() == 0x28:
        for mod in _modifiers(r):
            if mod != "UNCHANGEDSINCE":
                r.fail(f"Unknown STORE modifier {mod}")
            r.sp()
            unchangedsince = r.number(MAX_MODSEQ, "mod-sequence")
        r.close()
        r.sp()
    item = r.keyword("store item")
    silent = item.endswith(".SILENT")
    base = item[: -len(".SILENT")] if silent else item
    mode = {"FLAGS": "set", "+FLAGS": "add", "-FLAGS": "remove"}.get(base)
    if mode is None:
        r.fail(f"Invalid store item {item}")
    r.sp()
    if r.peek() == 0x28:
        flags = r.flag_list()
    else:
        found = [r.store_flag()]
        while r.skip(0x20):
            found.append(r.store_flag())
        flags = frozenset(found)
    return c.Store(tag, numbers, mode, flags, silent, uid, unchangedsince)


def _copy_move(cls: type[c.Copy] | type[c.Move]) -> Parser:
    def parse(r: Reader, tag: str, uid: bool) -> c.Command:
        r.sp()
        numbers = r.sequence_set()
        r.sp()
        return cls(tag, numbers, r.mailbox(), uid)

    return parse


def _expunge(r: Reader, tag: str, uid: bool) -> c.Command:
    """EXPUNGE, or ``"UID" SP "EXPUNGE" SP sequence-set`` (RFC 4315 §4)."""
    if not uid:
        return c.Expunge(tag)
    r.sp()
    return c.Expunge(tag, r.sequence_set())


def _search(r: Reader, tag: str, uid: bool) -> c.Command:
    return parse_search(r, tag, uid)


_UID_COMMANDS: dict[str, Parser] = {
    "COPY": _copy_move(c.Copy),
    "MOVE": _copy_move(c.Move),
    "FETCH": _fetch,
    "SEARCH": _search,
    "SORT": parse_sort,
    "THREAD": parse_thread,
    "STORE": _store,
    "EXPUNGE": _expunge,
    "REPLACE": parse_replace,
}


def _uid(r: Reader, tag: str, uid: bool) -> c.Command:
    """``"UID" SP (copy / move / fetch / search / store / uid-expunge)``"""
    r.sp()
    name = r.keyword("UID command")
    parser = _UID_COMMANDS.get(name)
    if parser is None:
        r.fail(f"Unknown UID command {name}")
    return parser(r, tag, True)


_COMMANDS: dict[str, Parser] = {
    "CAPABILITY": _bare(c.Capability),
    "NOOP": _bare(c.Noop),
    "LOGOUT": _bare(c.Logout),
    "STARTTLS": _bare(c.StartTLS),
    "CHECK": _bare(c.Check),
    "CLOSE": _bare(c.Close),
    "UNSELECT": _bare(c.Unselect),
    "NAMESPACE": _bare(c.Namespace),
    "IDLE": _bare(c.Idle),
    "UNAUTHENTICATE": _bare(c.Unauthenticate),
    "COMPRESS": _compress,
    "AUTHENTICATE": _authenticate,
    "LOGIN": _login,
    "ID": _id,
    "ENABLE": _enable,
    "SELECT": _select(False),
    "EXAMINE": _select(True),
    "CREATE": _create,
    "DELETE": _one_mailbox(c.Delete),
    "SUBSCRIBE": _one_mailbox(c.Subscribe),
    "UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    "RENAME": _rename,
    "LIST": _list,
    "LSUB": _lsub,
    "STATUS": _status,
    "APPEND": parse_append,
    "REPLACE": parse_replace,
    "NOTIFY": parse_notify,
    "EXPUNGE": _expunge,
    "SEARCH": _search,
    "SORT": parse_sort,
    "THREAD": parse_thread,
    "CANCELUPDATE": parse_cancelupdate,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy_move(c.Copy),
    "MOVE": _copy_move(c.Move),
    "UID": _uid,
}
# QUOTA (RFC 9208 §4.1)
_COMMANDS["GETQUOTA"] = parse_getquota
_COMMANDS["GETQUOTAROOT"] = parse_getquotaroot
_COMMANDS["SETQUOTA"] = parse_setquota
# METADATA, METADATA-SERVER (RFC 5464 §4.2, §4.3)
_COMMANDS["GETMETADATA"] = parse_getmetadata
_COMMANDS["SETMETADATA"] = parse_setmetadata

# ACL (RFC 4314): mailframe/imap/grammar_acl.py
_COMMANDS.update(ACL_COMMANDS)
