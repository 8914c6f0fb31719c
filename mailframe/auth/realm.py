"""The twisted.cred realm: an authenticated user id becomes their IAccount.

The avatar id a checker returns is the authentication identity; the
:class:`mailframe.auth.credentials.LoginMind` may carry a different
authorization identity (SASL authzid, RFC 4616 §2).  Acting as someone else
is allowed only for the realm's administrators (or whatever
:meth:`MailRealm.may_act_as` says in a subclass); otherwise the login fails
with :class:`AuthorizationRefused` (``NO [AUTHORIZATIONFAILED]``, RFC 5530
§3: the credentials were right, the authorization identity is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from zope.interface import implementer

from mailframe.acl.account import share
from mailframe.acl.namespaces import Namespaces
from mailframe.auth.credentials import AuthorizationRefused, LoginMind, normalize_username
from mailframe.interfaces import IAccount, IMailStore

__all__ = ["MailRealm"]

_log = Logger()


@implementer(IRealm)
class MailRealm:
    """Gives ``IAccount`` avatars from ``store.account(username)``."""

    def __init__(self, store: IMailStore, admins: Iterable[str] = (),
                 normalize: Callable[[str], str] = normalize_username,
                 sharing: Namespaces | None = None) -> None:
        self.store = store
        self.normalize = normalize
        self.admins = frozenset(normalize(a) for a in admins)
        #: Shared mailboxes under ACLs (RFC 4314) in these namespaces;
        #: None: every account is the user's own alone.
        self.sharing = sharing

    def may_act_as(self, authcid: str, authzid: str) -> bool:
        """Whether ``authcid`` may log in as ``authzid`` (both normalised)."""
        return authcid == authzid or authcid in self.admins

    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Deferred[Any]:
        if IAccount not in interfaces:
            raise NotImplementedError("MailRealm only gives IAccount avatars")
        return ensureDeferred(self._avatar(avatarId, mind))

    async def _avatar(self, avatar_id: Any, mind: Any) -> tuple[Any, Any, Callable[[], None]]:
        authcid = self.normalize(avatar_id.decode("utf-8") if isinstance(avatar_id, bytes)
                                 else str(avatar_id))
        target = authcid
        if isinstance(mind, LoginMind) and mind.authzid:
            try:
                target = self.normalize(mind.authzid)
            except ValueError:
                raise AuthorizationRefused("invalid authorization identity") from None
            if not self.may_act_as(authcid, target):
                _log.warn("refused: {authcid} may not act as {authzid} (peer {peer})",
                          authcid=authcid, authzid=target, peer=mind.peer)
                raise AuthorizationRefused("not authorized to act as that user")
        account = await self.store.account(target)
        if self.sharing is not None:
            account = share(self.store, account, admin=target in self.admins,
                            namespaces=self.sharing, normalize=self.normalize)
        return IAccount, account, lambda: None
