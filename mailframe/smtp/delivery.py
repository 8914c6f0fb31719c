"""The delivery API: one path into the store for SMTP, LMTP, the
``mailframe deliver`` MDA and user code.

Folder rule (documented once, applied everywhere): a copy goes to the
mailbox asked for (``INBOX`` by default; a ``+detail`` address asks for
``detail``, see :mod:`mailframe.smtp.addressing`).  When that mailbox does
not exist — or cannot take messages (``\\Noselect``), or its name is not
valid (see :func:`mailframe.smtp.addressing.valid_folder`) — the copy
goes to INBOX instead, the Dovecot
``lmtp_save_to_detail_mailbox`` behaviour, so an address typo never bounces
or loses mail.  With ``create_folders=True`` a missing folder is created
first (Dovecot's ``lda_mailbox_autocreate``).

The Deferred from :meth:`Delivery.deliver` fires only after the store's
``append`` Deferred fired, i.e. once the copy is durable (interfaces.py):
SMTP and LMTP answer 250 only then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from mailframe.errors import (
    CannotDo,
    InvalidMailboxName,
    MailboxExists,
    NonexistentMailbox,
    TryCreate,
)
from mailframe.quota import crlf_size, ensure_room
from mailframe.smtp.addressing import valid_folder
from mailframe.smtp.hooks import DeliveredMessage, DeliveryRequest, IDeliveryHook

__all__ = ["Delivery"]

INBOX = "INBOX"
_log = Logger()
_FALLBACK_ERRORS = (NonexistentMailbox, TryCreate, CannotDo, InvalidMailboxName)


class Delivery:
    """Deliver messages into ``store`` for the users ``directory`` knows.

    ``store`` provides IMailStore, ``directory`` IUserDirectory, ``hooks``
    IDeliveryHook (see :mod:`mailframe.smtp.hooks`).  ``aliases`` maps
    local parts (case-insensitive) to usernames, e.g. ``{"postmaster":
    "admin"}`` (RFC 5321 §4.5.1 wants postmaster to reach someone).
    """

    def __init__(
        self,
        store: Any,
        directory: Any,
        hooks: Sequence[Any] = (),
        *,
        create_folders: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.hooks: list[Any] = [IDeliveryHook(h) for h in hooks]
        self.create_folders = create_folders
        self.aliases = {k.lower(): v for k, v in (aliases or {}).items()}

    def add_hook(self, hook: Any) -> None:
        """Append a hook (called after the ones given at construction)."""
        self.hooks.append(IDeliveryHook(hook))

    # -- who -------------------------------------------------------------

    def lookup(self, local: str, domain: str = "") -> Deferred[str | None]:
        """Deferred[str | None]: the user a local part names, or None.

        Tries an alias first, then ``local`` as written, then lower-cased (RFC 5321 §2.4 lets the
        receiving host fold case), then ``local@domain`` for directories
        keyed by full address.
        """
        alias = self.aliases.get(local.lower())
        candidates = _unique(
            ([alias] if alias else [])
            + [local, local.lower()]
            + ([f"{local}@{domain}".lower()] if domain else [])
        )
        return Deferred.fromCoroutine(self._lookup(candidates))

    async def _lookup(self, candidates: Iterable[str]) -> str | None:
        for name in candidates:
            if name and await maybeDeferred(self.directory.exists, name):
                return name
        return None

    # -- where -----------------------------------------------------------

    def deliver(
        self,
        username: str,
        content: bytes,
        mailbox: str = INBOX,
        flags: frozenset[str] = frozenset(),
        internaldate: datetime | None = None,
    ) -> Deferred[int]:
        """Deferred[int]: the new UID, fired once the copy is durable.

        See the module docstring for the folder fallback rule.  Fails with
        :class:`mailframe.smtp.hooks.DeliveryRefused` or a
        :mod:`mailframe.errors` error (e.g. ``OverQuota``) when a hook or the
        store refuses.
        """
        request = DeliveryRequest(username, mailbox, content, frozenset(flags), internaldate)
        d = self.deliver_request(request)
        return d.addCallback(lambda delivered: delivered.uid)

    def deliver_request(self, request: DeliveryRequest) -> Deferred[DeliveredMessage]:
        """Like :meth:`deliver`, with envelope details for the hooks; fires
        with the :class:`DeliveredMessage` (its ``mailbox`` is where the copy
        really went)."""
        return Deferred.fromCoroutine(self._deliver(request))

    async def _deliver(self, request: DeliveryRequest) -> DeliveredMessage:
        for hook in self.hooks:
            request = await maybeDeferred(hook.before_delivery, request)
        if request.internaldate is None:
            request = replace(request, internaldate=datetime.now(UTC))
        flags = frozenset(f for f in request.flags if f.lower() != "\\recent")
        account = await self.store.account(request.username)
        name = await self._target(account, request.mailbox)
        box = await account.mailbox(name)
        # QUOTA (RFC 9208): refused (552 5.2.2) before anything is stored.
        await ensure_room(account, crlf_size(request.content), 1)
        try:
            uid = await box.append(request.content, flags, request.internaldate)
        except _FALLBACK_ERRORS:
            if name == INBOX:
                raise
            name = INBOX
            box = await account.mailbox(INBOX)
            uid = await box.append(request.content, flags, request.internaldate)
        delivered = DeliveredMessage(
            username=request.username,
            mailbox=name,
            uid=uid,
            content=request.content,
            sender=request.sender,
            recipient=request.recipient,
        )
        self._notify(delivered)
        return delivered

    async def _target(self, account: Any, name: str) -> str:
        """The mailbox to append to, applying the fallback rule."""
        if not name or name.upper() == INBOX:
            return INBOX
        try:
            await account.mailbox(name)
            return name
        except _FALLBACK_ERRORS:
            if not self.create_folders or not valid_folder(name):
                return INBOX
        try:
            await account.create_mailbox(name)
        except MailboxExists:
            pass  # created meanwhile by someone else
        except _FALLBACK_ERRORS:
            return INBOX
        return name

    def _notify(self, delivered: DeliveredMessage) -> None:
        for hook in self.hooks:
            try:
                result = hook.delivered(delivered)
                if isinstance(result, Deferred):
                    result.addErrback(lambda f: _log.failure("delivery hook failed", f))
            except Exception:
                _log.failure("delivery hook {hook!r} failed", hook=hook)


def _unique(names: list[str]) -> list[str]:
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen
