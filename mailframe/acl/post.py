"""The ``p`` right at delivery time (RFC 4314 §2.1: "post (send mail to
submission address for mailbox, not enforced by IMAP4 itself)").

SMTP and LMTP deliver ``user+folder@domain`` into ``folder``
(:mod:`mailframe.smtp.addressing`).  With sharing on, a folder that has an
ACL takes such mail only where the sender, unauthenticated to the mail
store and so ``anyone``, holds ``p``; otherwise the copy goes to the
user's INBOX (the delivery's usual fallback: mail is never lost).  A
folder with no ACL keeps the plain ``user+folder`` behaviour, the owner's
default, so turning sharing on changes nothing until someone sets an ACL.
A public mailbox is reached the same way through its account
(``public+Team@domain`` for ``Public/Team``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.internet import defer

from mailframe.acl.rights import effective_rights
from mailframe.acl.storage import acl_store_for
from mailframe.errors import MailframeError
from mailframe.smtp.hooks import DeliveryHook, DeliveryRequest

__all__ = ["PostRight"]

INBOX = "INBOX"


class PostRight(DeliveryHook):
    """A delivery hook: ``user+folder`` honours ``p`` on ``folder``."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def before_delivery(self, request: DeliveryRequest) -> defer.Deferred[DeliveryRequest]:
        return defer.Deferred.fromCoroutine(self._check(request))

    async def _check(self, request: DeliveryRequest) -> DeliveryRequest:
        if not request.mailbox or request.mailbox.upper() == INBOX:
            return request
        acls = acl_store_for(self.store)
        if acls is None:
            return request
        try:
            acl = await acls.get_acl(request.username, request.mailbox)
        except MailframeError:  # no such folder: the delivery's own fallback
            return request
        if acl is None or "p" in effective_rights(acl, None, request.username):
            return request
        return replace(request, mailbox=INBOX)
