"""ACL commands (RFC 4314 §3): SETACL, DELETEACL, GETACL, LISTRIGHTS,
MYRIGHTS, answered through the account's
:class:`mailframe.interfaces.IACLAccount` (the account enforces who may
do what; these only speak IMAP).  Where the account cannot hold ACLs the
commands are refused with BAD as unknown extensions are (ACL is then not
advertised either)."""

from __future__ import annotations

from typing import Any

from mailframe.acl.rights import RightsError, format_rights
from mailframe.errors import ProtocolError
from mailframe.imap.command_acl import DeleteAcl, GetAcl, ListRights, MyRights, SetAcl
from mailframe.imap.commands.mailbox import mailbox_value
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.registry import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Raw, Value, astring
from mailframe.interfaces import IACLAccount

__all__ = ["rights_value"]


def _acl_account(session: AuthenticatedContext) -> Any:
    account = session.account
    if not IACLAccount.providedBy(account):
        raise ProtocolError("ACL is not available here")
    return account


def rights_value(text: str) -> Value:
    """Rights or an identifier for a response: an atom when it can be
    one, else a quoted string (``""`` for no rights)."""
    return Raw(astring(text.encode("utf-8")))


async def _modify(session: AuthenticatedContext, mailbox: str, identifier: str, mode: str, rights: frozenset[str]) -> None:
    account = _acl_account(session)
    try:
        await account.set_rights(mailbox, identifier, mode, rights)
    except RightsError as e:
        raise ProtocolError(str(e)) from None


@command(SetAcl, AUTHENTICATED)
async def setacl(session: AuthenticatedContext, cmd: SetAcl) -> Reply:
    """SETACL (§3.1): needs "a"."""
    await _modify(session, cmd.mailbox, cmd.identifier, cmd.mode, cmd.rights)
    return Reply("Setacl complete")


@command(DeleteAcl, AUTHENTICATED)
async def deleteacl(session: AuthenticatedContext, cmd: DeleteAcl) -> Reply:
    """DELETEACL (§3.2): needs "a"."""
    await _modify(session, cmd.mailbox, cmd.identifier, "delete", frozenset())
    return Reply("Deleteacl complete")


@command(GetAcl, AUTHENTICATED)
async def getacl(session: AuthenticatedContext, cmd: GetAcl) -> Reply:
    """GETACL (§3.3, §3.6): ``* ACL mailbox (identifier rights)*``."""
    acl = await _acl_account(session).get_acl(cmd.mailbox)
    values: list[Value] = [Atom("ACL"), mailbox_value(cmd.mailbox)]
    for identifier, rights in acl.items():
        values += [rights_value(identifier), rights_value(format_rights(rights))]
    session.untagged(*values)
    return Reply("Getacl completed")


@command(ListRights, AUTHENTICATED)
async def listrights(session: AuthenticatedContext, cmd: ListRights) -> Reply:
    """LISTRIGHTS (§3.4, §3.7): the identifier as the client spelt it."""
    account = _acl_account(session)
    try:
        required, groups = await account.listrights(cmd.mailbox, cmd.identifier)
    except RightsError as e:
        raise ProtocolError(str(e)) from None
    session.untagged(
        Atom("LISTRIGHTS"),
        mailbox_value(cmd.mailbox),
        rights_value(cmd.identifier),
        rights_value(required),
        *(rights_value(g) for g in groups),
    )
    return Reply("Listrights completed")


@command(MyRights, AUTHENTICATED)
async def myrights(session: AuthenticatedContext, cmd: MyRights) -> Reply:
    """MYRIGHTS (§3.5, §3.8): needs any of "l r i k x a"."""
    rights = await _acl_account(session).myrights(cmd.mailbox)
    session.untagged(Atom("MYRIGHTS"), mailbox_value(cmd.mailbox), rights_value(format_rights(rights)))
    return Reply("Myrights completed")
