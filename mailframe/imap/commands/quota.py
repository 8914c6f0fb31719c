"""QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA.

One quota root per account (:data:`mailframe.quota.QUOTA_ROOT`, every
mailbox is under it) with the ``STORAGE`` (§5.1, in units of 1024 octets,
rounded up as Dovecot does) and ``MESSAGE`` (§5.2) resources.  Only
resources with a limit are listed (§4.1.1 leaves it open; Dovecot lists
only limited ones, so an unlimited account's root reads ``()``).  The
answers follow Dovecot 2.3's word for word.  The checks before a write
(``NO [OVERQUOTA]``, §4.3) live in :func:`mailframe.quota.ensure_room`.
"""

from __future__ import annotations

from typing import Any

from mailframe.errors import CommandFailed, ProtocolError
from mailframe.imap.commands.mailbox import mailbox_value
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.grammar_quota import GetQuota, GetQuotaRoot, SetQuota
from mailframe.imap.registry import AUTHENTICATED, Reply, command
from mailframe.imap.serialize import Atom, Value
from mailframe.interfaces import IQuotaAccount
from mailframe.quota import QUOTA_ROOT, QuotaLimits, QuotaUsage

__all__ = ["quota_list"]


def quota_list(usage: QuotaUsage, limits: QuotaLimits) -> list[Value]:
    """``quota-list`` (RFC 9208 §9): ``(STORAGE used limit MESSAGE used
    limit)``, limited resources only; storage in KiB, rounded up."""
    out: list[Value] = []
    if limits.storage is not None:
        out += [Atom("STORAGE"), (usage.storage + 1023) // 1024, limits.storage // 1024]
    if limits.messages is not None:
        out += [Atom("MESSAGE"), usage.messages, limits.messages]
    return out


def _quota_account(session: AuthenticatedContext) -> Any:
    account = session.account
    if not IQuotaAccount.providedBy(account):
        raise ProtocolError("Unknown command (no quota on this server)")
    return account


async def _send_quota(session: AuthenticatedContext, account: Any, root: str = QUOTA_ROOT) -> None:
    """``QUOTA root (...)``; an account spanning other users' mailboxes
    (``quota_of``, :mod:`mailframe.acl`) knows their owners' roots too."""
    quota_of = getattr(account, "quota_of", None)
    if quota_of is not None:
        usage, limits = await quota_of(root)
    elif root != QUOTA_ROOT:
        raise CommandFailed("Quota root doesn't exist")  # Dovecot's words
    else:
        usage, limits = await account.quota()
    session.untagged(Atom("QUOTA"), root, quota_list(usage, limits))


@command(GetQuota, AUTHENTICATED)
async def getquota(session: AuthenticatedContext, cmd: GetQuota) -> Reply:
    """RFC 9208 §4.1.1: the root's usage and limits."""
    account = _quota_account(session)
    await _send_quota(session, account, cmd.root)
    return Reply("Getquota completed")


@command(GetQuotaRoot, AUTHENTICATED)
async def getquotaroot(session: AuthenticatedContext, cmd: GetQuotaRoot) -> Reply:
    """RFC 9208 §4.1.2: the mailbox's roots, then each root's QUOTA.
    Like Dovecot, a name that does not exist (yet) is answered too: it
    would be under the same root once created.  A mailbox another user
    shares is under that owner's root (RFC 9208 §3.2), as in Dovecot."""
    account = _quota_account(session)
    root = QUOTA_ROOT
    quota_for = getattr(account, "quota_for", None)
    if quota_for is not None:  # another user's mailbox: its owner's root
        root, _ = await quota_for(cmd.mailbox)
    session.untagged(Atom("QUOTAROOT"), mailbox_value(cmd.mailbox), root)
    await _send_quota(session, account, root)
    return Reply("Getquotaroot completed")


@command(SetQuota, AUTHENTICATED)
async def setquota(session: AuthenticatedContext, cmd: SetQuota) -> Reply:
    """RFC 9208 §4.1.3: limits come from the users file or the server's
    options, never from a client (QUOTASET is not advertised); refused as
    Dovecot refuses a user who is not an admin."""
    _quota_account(session)
    raise CommandFailed("Quota can be changed only by admin")
