"""The seam where rights are enforced: one account over every namespace.

:class:`SharedAccount` is what a logged-in session holds when sharing is
on: the user's own account for personal names, other users' accounts
(reached through the store) for ``shared/<user>/...``, the public
account for ``Public/...`` (:mod:`mailframe.acl.namespaces`).  Every
method looks up the user's rights on the mailbox it touches (RFC 4314 §4)
and refuses what they do not allow: ``NO [NOPERM]`` with the reason, or
``NO [NONEXISTENT]`` where the user may not even see the mailbox (§6:
"the same error that would be used if the mailbox did not exist").
Mailboxes come back wrapped in :class:`mailframe.acl.mailbox.GuardedMailbox`,
which checks the per-message rights.  Handlers need not know.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet import defer
from zope.interface import alsoProvides, implementer

from mailframe.acl.mailbox import GuardedMailbox, refusal
from mailframe.acl.namespaces import Namespaces, Target, missing
from mailframe.acl.private_seen import PrivateSeen, applies
from mailframe.acl.rights import (
    ACL,
    LISTRIGHTS_GROUPS,
    RightsError,
    apply_modification,
    check_identifier,
    effective_rights,
    with_owner,
)
from mailframe.acl.storage import acl_store_for
from mailframe.errors import CannotDo, CommandFailed, NonexistentMailbox, NoPermission
from mailframe.interfaces import (
    IAccount,
    IACLAccount,
    IACLStore,
    IMailbox,
    IMailStore,
    IMetadataAccount,
    IObjectIdAccount,
    IQuotaAccount,
)
from mailframe.quota import QUOTA_ROOT, QuotaLimits, QuotaUsage
from mailframe.records import MailboxEntry
from mailframe.vocabulary import NOSELECT

__all__ = ["SharedAccount", "share"]

T = TypeVar("T")

#: MYRIGHTS needs one of these (RFC 4314 §4).
_ANY = frozenset("lrikxa")

#: One of these (with "l") lets a user get and set a mailbox's entries
#: (RFC 5464 §3.3).
_METADATA_RIGHTS = frozenset("rswip")

#: The optional interfaces of the user's own account this account serves
#: too, over every namespace (QUOTA, METADATA, OBJECTID).
PASSED_ON = (IQuotaAccount, IMetadataAccount, IObjectIdAccount)


def owner_root(store_user: str) -> str:
    """The name of another user's quota root (RFC 9208 §3.2: a root is
    the user's; the own one is :data:`mailframe.quota.QUOTA_ROOT`)."""
    return f"{QUOTA_ROOT}/{store_user}"


def _run(coro: Coroutine[Any, Any, T]) -> defer.Deferred[T]:
    return defer.Deferred.fromCoroutine(coro)


def _targets(owner: str | None, store_user: str, prefix: str) -> Callable[[str], Target]:
    def target(name: str) -> Target:
        return Target(owner, store_user, name, prefix)

    return target


def _parents(name: str) -> list[str]:
    """``a/b/c`` → ``["a/b", "a"]`` (nearest first)."""
    levels = name.split("/")
    return ["/".join(levels[:i]) for i in range(len(levels) - 1, 0, -1)]


@implementer(IACLAccount)
class SharedAccount:
    """``own`` (the user's account) plus what others share, under rights."""

    def __init__(
        self,
        own: IAccount,
        store: IMailStore,
        acls: IACLStore,
        *,
        admin: bool = False,
        namespaces: Namespaces | None = None,
        normalize: Callable[[str], str] = lambda name: name,
    ) -> None:
        self.own = own
        self.store = store
        self.acls = acls
        self.admin = admin
        self.layout = namespaces or Namespaces()
        self.normalize = normalize
        self.username: str = str(own.username)
        served = [iface for iface in PASSED_ON if iface.providedBy(own)]
        if served:
            alsoProvides(self, *served)

    def __repr__(self) -> str:
        return f"<SharedAccount {self.username}{' (admin)' if self.admin else ''}>"

    def watch_mailboxes(self, callback: Callable[[], object]) -> Callable[[], None] | None:
        """The user's own account's mailbox-list hint (NOTIFY across
        processes); another user's mailboxes shared with them are not
        watched this way (their events reach this process's sessions)."""
        watch = getattr(self.own, "watch_mailboxes", None)
        return None if watch is None else watch(callback)

    def metadata_snapshot(self) -> defer.Deferred[Any]:
        """The user's own METADATA in one read (NOTIFY across processes)."""
        snapshot = getattr(self.own, "metadata_snapshot", None)
        return defer.succeed(None) if snapshot is None else snapshot()

    # -- resolving --------------------------------------------------------

    def _target(self, name: str) -> Target:
        return self.layout.resolve(self.username, name, self.normalize)

    async def _account(self, target: Target, create: bool = False) -> IAccount:
        if target.store_user == self.username:
            return self.own
        if not await self.acls.has_account(target.store_user):
            if not (create and self.admin):
                raise missing(target.prefix + target.inner)
        account: IAccount = await self.store.account(target.store_user)
        return account

    async def _stored_acl(self, target: Target, name: str | None = None) -> ACL | None:
        acl: ACL | None = await self.acls.get_acl(target.store_user, name or target.inner)
        return acl

    async def _rights(self, target: Target, name: str | None = None) -> frozenset[str]:
        """The user's rights on the target's mailbox (or on ``name`` in the
        same account); NonexistentMailbox when it does not exist."""
        if target.store_user != self.username and not await self.acls.has_account(target.store_user):
            raise missing(target.prefix + (name or target.inner))
        try:
            acl = await self._stored_acl(target, name)
        except NonexistentMailbox:
            raise missing(target.prefix + (name or target.inner)) from None
        return effective_rights(acl, self.username, target.owner, self.admin)

    async def _need(self, target: Target, right: str, what: str, name: str | None = None) -> frozenset[str]:
        rights = await self._rights(target, name)
        if right not in rights:
            if "l" not in rights and target.owner != self.username:
                raise missing(target.prefix + (name or target.inner))
            raise refusal(right, what)
        return rights

    async def _may_create_under(self, target: Target, account: IAccount, what: str) -> None:
        """"k" on the nearest existing parent (RFC 4314 §4, CREATE and
        RENAME); a top-level name needs ownership (or admin)."""
        existing = {e.name: e for e in await account.list_mailboxes()}
        for parent in _parents(target.inner):
            entry = existing.get(parent)
            if entry is None or NOSELECT in entry.attributes:
                continue
            await self._need(target, "k", what, parent)
            return
        if target.owner != self.username and not self.admin:
            raise refusal("k", what)

    # -- IAccount ---------------------------------------------------------

    def list_mailboxes(self) -> defer.Deferred[list[MailboxEntry]]:
        """The user's own mailboxes and every other one they hold "l" on
        (RFC 4314 §4: LIST shows only those; a parent without "l" is left
        to the listing, which shows it ``\\Noselect``)."""
        return _run(self._list())

    async def _visible(self, account: IAccount, target_of: Callable[[str], Target]) -> list[MailboxEntry]:
        out = []
        for entry in await account.list_mailboxes():
            if NOSELECT in entry.attributes:
                if target_of(entry.name).owner == self.username:
                    out.append(entry)
                continue
            target = target_of(entry.name)
            try:
                rights = await self._rights(target)
            except NonexistentMailbox:
                continue
            if "l" in rights:
                out.append(MailboxEntry(target.prefix + entry.name, entry.attributes))
        return out

    async def _list(self) -> list[MailboxEntry]:
        layout = self.layout
        roots = layout.roots()
        mine = [e for e in await self._visible(self.own, lambda n: Target(self.username, self.username, n, ""))
                if e.name.split("/")[0] not in roots]
        others: list[MailboxEntry] = []
        for owner in sorted(await self.acls.sharers(self.username)):
            if owner == layout.public_owner and layout.public_prefix:
                continue
            try:
                owner = self.normalize(owner)
            except ValueError:
                continue
            if not await self.acls.has_account(owner):  # never create one by listing
                continue
            prefix = layout.other_prefix + owner + layout.separator
            account = await self.store.account(owner)
            others += await self._visible(account, _targets(owner, owner, prefix))
        if layout.public_prefix and await self.acls.has_account(layout.public_owner):
            account = await self.store.account(layout.public_owner)
            prefix = layout.public_prefix
            others += await self._visible(account, _targets(None, layout.public_owner, prefix))
        return mine + others

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        """The mailbox under the user's rights; it needs at least one of
        the rights that let one see it, else NONEXISTENT (§6)."""

        async def run() -> IMailbox:
            target = self._target(name)
            rights = await self._rights(target)
            if not rights & _ANY:
                raise missing(name)
            account = await self._account(target)
            inner = await account.mailbox(target.inner)
            private = None
            if applies(self.layout.private_seen, target.owner, self.username) and hasattr(self.acls, "get_seen"):
                private = PrivateSeen(self.acls, target.store_user, inner, self.username)
            return GuardedMailbox(inner, target.prefix, rights, lambda: self._rights(target), private,
                                  store_user=target.store_user)

        return _run(run())

    def create_mailbox(self, name: str, special_use: frozenset[str] = frozenset()) -> defer.Deferred[None]:
        """CREATE: "k" on the nearest parent; the new mailbox, and any
        missing parent CREATE made with it, inherits the ACL of that
        parent (RFC 4314 §4: "SHOULD inherit")."""

        async def run() -> None:
            try:
                target = self._target(name)
            except NonexistentMailbox:  # a namespace root: Dovecot's words
                raise CannotDo("Mailbox can't be created") from None
            account = await self._account(target, create=True)
            before = {e.name for e in await account.list_mailboxes() if NOSELECT not in e.attributes}
            await self._may_create_under(target, account, "CREATE")
            inherited: ACL | None = None
            for parent in _parents(target.inner):
                if parent in before:
                    inherited = await self._stored_acl(target, parent)
                    break
            await account.create_mailbox(target.inner, special_use)
            if inherited is None:
                return
            created = [target.inner, *(p for p in _parents(target.inner) if p not in before)]
            for new in created:
                try:
                    await self.acls.set_acl(target.store_user, new, inherited)
                except NonexistentMailbox:  # a \Noselect parent holds no ACL
                    continue

        return _run(run())

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        """DELETE: "x" on the mailbox (RFC 4314 §4); its ACL goes with it."""

        async def run() -> None:
            target = self._target(name)
            account = await self._account(target)
            try:
                await self._need(target, "x", "DELETE")
            except NonexistentMailbox:
                if target.owner != self.username and not self.admin:
                    raise
            await account.delete_mailbox(target.inner)

        return _run(run())

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        """RENAME: "x" on the mailbox, "k" on the new parent (RFC 4314
        §4), within one owner's tree; the ACL stays with the mailbox."""

        async def run() -> None:
            src, dst = self._target(old), self._target(new)
            if src.store_user != dst.store_user or src.prefix != dst.prefix:
                raise CannotDo("Can't rename mailboxes across namespaces")
            account = await self._account(src)
            await self._need(src, "x", "RENAME")
            await self._may_create_under(dst, account, "RENAME")
            await account.rename_mailbox(src.inner, dst.inner)

        return _run(run())

    def subscriptions(self) -> defer.Deferred[set[str]]:
        """LSUB's names, as subscribed.  One the user may no longer see
        (no "l") is not in :meth:`list_mailboxes`, so LSUB and LIST
        (SUBSCRIBED) show it ``\\Noselect``/``\\NonExistent``, exactly as a
        deleted one: nothing tells the two apart (RFC 4314 §6), and LSUB
        never fails for it (§4)."""
        return self.own.subscriptions()

    def subscribe(self, name: str) -> defer.Deferred[None]:
        """SUBSCRIBE: another user's mailbox needs "l" (RFC 4314 §4)."""

        async def run() -> None:
            target = self._target(name)
            if target.owner != self.username:
                await self._need(target, "l", "SUBSCRIBE")
            await self.own.subscribe(name)

        return _run(run())

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        return self.own.unsubscribe(name)

    # -- IACLAccount ------------------------------------------------------

    def namespaces(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        return self.layout.response()

    def myrights(self, name: str) -> defer.Deferred[frozenset[str]]:
        async def run() -> frozenset[str]:
            rights = await self._rights(self._target(name))
            if not rights & _ANY:
                raise missing(name)
            return rights

        return _run(run())

    def _identifier(self, identifier: str) -> str:
        prepared = check_identifier(identifier)
        negative = prepared.startswith("-")
        body = prepared[1:] if negative else prepared
        if body not in ("anyone", "authenticated"):
            try:
                body = self.normalize(body)
            except ValueError:
                raise RightsError(f"Invalid identifier {identifier!r}") from None
        return ("-" if negative else "") + body

    def get_acl(self, name: str) -> defer.Deferred[ACL]:
        async def run() -> ACL:
            target = self._target(name)
            await self._need(target, "a", "GETACL")
            return with_owner(await self._stored_acl(target), target.owner)

        return _run(run())

    def set_rights(self, name: str, identifier: str, mode: str, rights: frozenset[str]) -> defer.Deferred[None]:
        """SETACL and DELETEACL (RFC 4314 §3.1, §3.2)."""

        async def run() -> None:
            ident = self._identifier(identifier)
            target = self._target(name)
            await self._need(target, "a", "SETACL" if mode != "delete" else "DELETEACL")
            acl = with_owner(await self._stored_acl(target), target.owner)
            if mode == "delete":
                acl.pop(ident, None)
            else:
                new = apply_modification(acl.get(ident, frozenset()), mode, rights)
                if ident == target.owner:
                    new |= {"a"}  # the owner always administers (as Dovecot)
                if new:
                    acl[ident] = new
                else:
                    acl.pop(ident, None)
            await self.acls.set_acl(target.store_user, target.inner, acl)

        return _run(run())

    def listrights(self, name: str, identifier: str) -> defer.Deferred[tuple[str, list[str]]]:
        """LISTRIGHTS (§3.4): nothing tied, every right grantable alone;
        the owner always holds "a"."""

        async def run() -> tuple[str, list[str]]:
            ident = self._identifier(identifier)
            target = self._target(name)
            await self._need(target, "a", "LISTRIGHTS")
            if ident == target.owner:
                return "a", [g for g in LISTRIGHTS_GROUPS if g != "a"]
            return "", list(LISTRIGHTS_GROUPS)

        return _run(run())

    # -- QUOTA (RFC 9208) ---------------------------------------------------

    def quota(self) -> defer.Deferred[tuple[QuotaUsage, QuotaLimits]]:
        """IQuotaAccount: the user's own root."""
        d: defer.Deferred[tuple[QuotaUsage, QuotaLimits]] = self.own.quota()  # type: ignore[attr-defined]
        return d

    def quota_for(self, name: str) -> defer.Deferred[tuple[str, Any]]:
        """The quota root a write into mailbox ``name`` is charged to and
        the account holding it: the mailbox owner's, as Dovecot charges
        the owner of a shared mailbox.  NONEXISTENT where the user may
        not see the mailbox (RFC 4314 §6)."""

        async def run() -> tuple[str, Any]:
            target = self._target(name)
            if target.store_user == self.username:
                return QUOTA_ROOT, self.own
            rights = await self._rights(target)
            if not rights & _ANY:
                raise missing(name)
            account = await self._account(target)
            return owner_root(target.store_user), account

        return _run(run())

    def quota_of(self, root: str) -> defer.Deferred[tuple[QuotaUsage, QuotaLimits]]:
        """GETQUOTA: the own root, or the root of a user who shares a
        mailbox with this one (RFC 9208 §4.1.1); any other is unknown."""

        async def run() -> tuple[QuotaUsage, QuotaLimits]:
            if root == QUOTA_ROOT:
                found: tuple[QuotaUsage, QuotaLimits] = await self.own.quota()  # type: ignore[attr-defined]
                return found
            owner = root[len(QUOTA_ROOT) + 1:] if root.startswith(QUOTA_ROOT + "/") else ""
            if not owner or owner == self.username or not (
                self.admin or owner in await self.acls.sharers(self.username)
            ) or not await self.acls.has_account(owner):
                raise CommandFailed("Quota root doesn't exist")  # Dovecot's words
            account = await self.store.account(owner)
            if not IQuotaAccount.providedBy(account):
                raise CommandFailed("Quota root doesn't exist")
            found = await account.quota()
            return found

        return _run(run())

    # -- METADATA (RFC 5464) ------------------------------------------------

    async def _metadata_target(self, mailbox: str, what: str) -> tuple[Any, str, bool]:
        """The account keeping ``mailbox``'s entries, its name there, and
        whether it is another user's.  Getting or setting needs "l" and
        any one of "r", "s", "w", "i", "p" (RFC 5464 §3.3)."""
        if mailbox == "":
            return self.own, "", False
        target = self._target(mailbox)
        if target.store_user == self.username:
            return self.own, target.inner, False
        rights = await self._rights(target)
        if "l" not in rights:
            raise missing(mailbox)
        if not rights & _METADATA_RIGHTS:
            raise NoPermission(f"Permission denied: {what} needs 'l' and one of 'r', 's', 'w', 'i', 'p'")
        account = await self._account(target)
        if not IMetadataAccount.providedBy(account):
            raise CannotDo("No METADATA on this mailbox")
        return account, target.inner, True

    def owner_of(self, name: str) -> tuple[str, str]:
        """Whose account holds mailbox ``name`` and its name there (for
        telling the owner's NOTIFY sessions of a change, RFC 5465 §5.6)."""
        target = self._target(name)
        return target.store_user, target.inner

    def get_metadata(self, mailbox: str) -> defer.Deferred[dict[str, bytes]]:
        """IMetadataAccount.  On another user's mailbox only its /shared
        entries: the owner's /private ones are the owner's (RFC 5464
        §3.2: private entries are per user)."""

        async def run() -> dict[str, bytes]:
            account, inner, other = await self._metadata_target(mailbox, "GETMETADATA")
            entries: dict[str, bytes] = await account.get_metadata(inner)
            if other:
                entries = {k: v for k, v in entries.items() if k.startswith("/shared/")}
            return entries

        return _run(run())

    def set_metadata(self, mailbox: str, changes: Any) -> defer.Deferred[None]:
        """IMetadataAccount.  /shared entries of another user's mailbox
        are set in the owner's store (visible to all its readers); /private
        ones there are refused: they are not kept per reader."""

        async def run() -> None:
            wanted = dict(changes)
            account, inner, other = await self._metadata_target(mailbox, "SETMETADATA")
            if other and any(not k.startswith("/shared/") for k in wanted):
                raise CannotDo("Private metadata entries can't be set on other users' mailboxes")
            await account.set_metadata(inner, wanted)

        return _run(run())


def share(
    store: IMailStore,
    account: IAccount,
    admin: bool = False,
    namespaces: Namespaces | None = None,
    normalize: Callable[[str], str] = lambda name: name,
) -> IAccount:
    """``account`` under access control with every namespace, or
    ``account`` itself when ``store`` cannot hold ACLs (then ACL is not
    advertised)."""
    acls = acl_store_for(store)
    if acls is None:
        return account
    return SharedAccount(account, store, acls, admin=admin, namespaces=namespaces, normalize=normalize)
