"""The ACL commands' grammar (RFC 4314 §7)::

    setacl     = "SETACL" SP mailbox SP identifier SP mod-rights
    deleteacl  = "DELETEACL" SP mailbox SP identifier
    getacl     = "GETACL" SP mailbox
    listrights = "LISTRIGHTS" SP mailbox SP identifier
    myrights   = "MYRIGHTS" SP mailbox
    identifier = astring
    mod-rights = astring   ; +rights to add, -rights to remove, rights to replace

An unknown right is BAD (§3.1: "MUST NOT silently ignore unrecognized
rights"); so is an identifier that is empty or not UTF-8 (§3).
"""

from __future__ import annotations

from collections.abc import Callable

from mailframe.acl.rights import RightsError, parse_modification
from mailframe.imap.command import Command
from mailframe.imap.command_acl import DeleteAcl, GetAcl, ListRights, MyRights, SetAcl
from mailframe.imap.grammar_reader import Reader

__all__ = ["ACL_COMMANDS"]


def _identifier(r: Reader) -> str:
    r.sp()
    raw = r.astring("identifier")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        r.fail("Invalid UTF-8 in identifier")
    if not text or text == "-":
        r.fail("Empty identifier")
    return text


def _setacl(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    mailbox = r.mailbox()
    identifier = _identifier(r)
    r.sp()
    text = r.astring("rights").decode("utf-8", "replace")
    try:
        mode, rights = parse_modification(text)
    except RightsError as e:
        r.fail(str(e))
    return SetAcl(tag, mailbox, identifier, mode, rights)


def _deleteacl(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    mailbox = r.mailbox()
    return DeleteAcl(tag, mailbox, _identifier(r))


def _getacl(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    return GetAcl(tag, r.mailbox())


def _listrights(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    mailbox = r.mailbox()
    return ListRights(tag, mailbox, _identifier(r))


def _myrights(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    return MyRights(tag, r.mailbox())


ACL_COMMANDS: dict[str, Callable[[Reader, str, bool], Command]] = {
    "SETACL": _setacl,
    "DELETEACL": _deleteacl,
    "GETACL": _getacl,
    "LISTRIGHTS": _listrights,
    "MYRIGHTS": _myrights,
}
