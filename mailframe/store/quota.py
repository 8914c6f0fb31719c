"""QUOTA (RFC 9208) for any store: :class:`QuotaStore` wraps an
:class:`mailframe.interfaces.IMailStore` so that its accounts provide
:class:`mailframe.interfaces.IQuotaAccount`.

The limits come from a policy (a user's ``quota_rule`` in the users file,
else the server's ``--quota-storage`` / ``--quota-messages``); the usage
from the store:

- an account that keeps its own running total provides
  :class:`IQuotaUsage` (the Maildir store's ``maildirsize``, Dovecot's
  format, so both servers agree; a database's ``SUM``), and that is asked;
- otherwise the usage is the sum of each mailbox's ``STATUS`` counters
  (``MESSAGES`` and ``SIZE``), which every store keeps current as it
  writes (the log-backed stores in memory): no message is read or parsed.

Wrapped accounts keep every interface the store's own account provides,
so other optional capabilities (ACL, METADATA ...) are still found with
``providedBy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from zope.interface import Interface

from mailframe.interfaces import IAccount, IQuotaAccount
from mailframe.quota import UNLIMITED, QuotaLimits, QuotaUsage, limits_from_fields
from mailframe.store import _maildir_quota as maildirsize
from mailframe.store.layer import AccountLayer, StoreLayer
from mailframe.vocabulary import NOSELECT

__all__ = ["IQuotaUsage", "QuotaAccount", "QuotaStore", "QuotaPolicy", "mailbox_usage", "with_quota"]

#: username → that user's limits.
QuotaPolicy = Callable[[str], QuotaLimits]


class IQuotaUsage(Interface):
    """An account that keeps a running total of what it holds."""

    def quota_usage() -> defer.Deferred[QuotaUsage]:
        """Octets (as stored) and messages in every mailbox of the
        account, without reading any message."""


async def mailbox_usage(account: IAccount) -> QuotaUsage:
    """The generic usage: every selectable mailbox's STATUS counters
    (RFC 3501 §6.3.10 MESSAGES, RFC 8438 SIZE), summed."""
    storage = messages = 0
    for entry in await account.list_mailboxes():
        if NOSELECT in entry.attributes:
            continue
        try:
            box = await account.mailbox(entry.name)
            status = await box.status()
        except Exception:  # deleted meanwhile by another session
            continue
        storage += status.size
        messages += status.messages
    return QuotaUsage(storage, messages)


class QuotaAccount(AccountLayer):
    """An account of the wrapped store, with :meth:`quota` added; every
    other attribute is the wrapped account's."""

    def __init__(self, inner: Any, limits: Callable[[], QuotaLimits]) -> None:
        super().__init__(inner, IQuotaAccount)
        self._limits = limits

    def quota_limits(self) -> QuotaLimits:
        """The limits alone, without working out the usage: a write under
        no limit skips the sum over every mailbox (two jobs per APPEND)."""
        return self._limits()

    def quota(self) -> defer.Deferred[tuple[QuotaUsage, QuotaLimits]]:
        """IQuotaAccount: usage and limits (RFC 9208 §4.1.1)."""

        async def run() -> tuple[QuotaUsage, QuotaLimits]:
            if IQuotaUsage.providedBy(self._inner):
                usage: QuotaUsage = await self._inner.quota_usage()
            else:
                usage = await mailbox_usage(self._inner)
            limits = self._limits()
            await maildirsize.record(self._inner, limits, usage)
            return usage, limits

        return defer.Deferred.fromCoroutine(run())


class QuotaStore(StoreLayer):
    """``store`` with quota: its accounts provide IQuotaAccount, with the
    limits ``policy`` gives for each user (asked at each check, so a
    re-read users file applies at once)."""

    def __init__(self, store: Any, policy: QuotaPolicy | None = None) -> None:
        super().__init__(store)
        self.policy: QuotaPolicy = policy or (lambda username: UNLIMITED)

    def layer_account(self, username: str, inner: Any) -> QuotaAccount:
        return QuotaAccount(inner, lambda: self.policy(username))


def with_quota(store: Any, default: QuotaLimits | None, checkers: Any = ()) -> QuotaStore:
    """``store`` wrapped in a :class:`QuotaStore` whose policy is: the
    user's own ``quota_rule`` extra fields where a checker knows them
    (``user_fields(username)``, the passwd-file's ``extra`` column, as
    Dovecot reads it), else ``default`` (the server's options).  A user's
    rule replaces the default, as a userdb ``quota_rule`` replaces the
    plugin setting in Dovecot."""
    fallback = default or UNLIMITED
    sources = [c for c in checkers if callable(getattr(c, "user_fields", None))]

    def policy(username: str) -> QuotaLimits:
        for checker in sources:
            fields = checker.user_fields(username)
            if fields:
                limits = limits_from_fields(fields)
                if limits is not None:
                    return limits
        return fallback

    return QuotaStore(store, policy)
