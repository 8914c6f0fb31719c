"""Quota values and rules (RFC 9208), sans-IO: no twisted here.

One quota root per user, named as Dovecot names its usual one (``User
quota``), with two resources: ``STORAGE`` (RFC 9208 §5.1, reported in
units of 1024 octets) and ``MESSAGE`` (§5.2).  Limits are written the way
Dovecot's quota plugin takes them, so one users file serves both servers:
``quota_rule=*:storage=1G:messages=10000`` (the ``userdb_`` prefix of a
passwd-file's extra fields is accepted too).

:func:`ensure_room` is the one check every writer calls before anything
is stored (APPEND, MULTIAPPEND, COPY in :mod:`mailframe.imap.commands`,
SMTP/LMTP delivery in :mod:`mailframe.smtp.delivery`): it fails with
:class:`mailframe.errors.OverQuota`, which IMAP answers ``NO [OVERQUOTA]``
(RFC 9208 §4.3) and SMTP ``552 5.2.2`` (RFC 3463 §3.3).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mailframe.errors import OverQuota

__all__ = [
    "QUOTA_ROOT",
    "OVERQUOTA_TEXT",
    "QuotaLimits",
    "QuotaUsage",
    "UNLIMITED",
    "parse_size",
    "parse_quota_rule",
    "limits_from_fields",
    "crlf_size",
    "ensure_room",
]

#: The single quota root's name (Dovecot's ``quota = maildir:User quota``).
QUOTA_ROOT = "User quota"

#: Dovecot's words for a refused write (``NO [OVERQUOTA] ...``).
OVERQUOTA_TEXT = "Quota exceeded (mailbox for user is full)"


@dataclass(frozen=True)
class QuotaLimits:
    """A user's limits; ``None``: that resource is unlimited (not reported,
    RFC 9208 §4.1.1 lists only limited resources, as Dovecot does)."""

    storage: int | None = None  #: octets
    messages: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.storage is None and self.messages is None

    def merged(self, other: QuotaLimits) -> QuotaLimits:
        """``other``'s limits where it sets one, else these."""
        return QuotaLimits(
            other.storage if other.storage is not None else self.storage,
            other.messages if other.messages is not None else self.messages,
        )


UNLIMITED = QuotaLimits()


@dataclass(frozen=True)
class QuotaUsage:
    """What a user's mail takes: octets (as stored) and messages."""

    storage: int = 0
    messages: int = 0


_SIZE = re.compile(r"^\s*(\d+)\s*([bBkKmMgGtT]?)\s*$")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, default_unit: str = "") -> int:
    """``1G``, ``500M``, ``100k``, ``42b``, ``1024`` → octets.  A bare
    number is in ``default_unit`` (Dovecot's ``storage=`` is in kilobytes,
    ``bytes=`` in bytes)."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"not a size: {text!r}")
    unit = m.group(2).lower() or default_unit
    return int(m.group(1)) * _UNITS[unit]


def parse_quota_rule(rule: str) -> QuotaLimits | None:
    """One Dovecot ``quota_rule`` value: ``MAILBOX:key=value[:key=value]``.

    Only the ``*`` (whole-account) rule sets limits here; a rule for one
    mailbox (``Trash:storage=+100M``) gives ``None``, as do ``ignore``
    and ``noenforcing`` rules.  ``storage=`` is in kilobytes unless a
    suffix says otherwise, ``bytes=`` in bytes, ``messages=`` a count;
    ``0`` means unlimited (Dovecot's quota plugin documentation)."""
    where, _, spec = rule.strip().partition(":")
    if where != "*":
        return None
    storage: int | None = None
    messages: int | None = None
    for part in spec.split(":"):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq:
            if key in ("ignore", "noenforcing"):
                return None
            if key:
                raise ValueError(f"unknown quota rule part {part!r}")
            continue
        if key == "storage":
            storage = parse_size(value, "k")
        elif key == "bytes":
            storage = parse_size(value)
        elif key == "messages":
            messages = parse_size(value)
        elif key == "backend":
            continue
        else:
            raise ValueError(f"unknown quota rule key {key!r}")
    return QuotaLimits(storage or None, messages or None)


_RULE_KEY = re.compile(r"^(?:userdb_)?quota_rule\d*$")


def limits_from_fields(fields: Iterable[str]) -> QuotaLimits | None:
    """The limits in a users file's extra fields (``key=value`` words,
    Dovecot's passwd-file format): ``quota_rule=`` or
    ``userdb_quota_rule=``, with ``quota_rule2=`` and so on also read.
    ``None`` when no field sets a whole-account rule."""
    found: QuotaLimits | None = None
    for field_ in fields:
        key, eq, value = field_.partition("=")
        if not eq or not _RULE_KEY.match(key.strip().lower()):
            continue
        limits = parse_quota_rule(value)
        if limits is not None:
            found = limits if found is None else found.merged(limits)
    return found


def crlf_size(content: bytes) -> int:
    """The size ``content`` will have once stored with CRLF line ends
    (stores save bare LF as CRLF, RFC 3501 §2.3.3)."""
    return len(content) + content.count(b"\n") - content.count(b"\r\n")


async def ensure_room(
    account: Any, add_storage: int | Callable[[], int], add_messages: int,
    mailbox: str | None = None,
) -> None:
    """Fail with :class:`OverQuota` when ``account`` (an
    :class:`mailframe.interfaces.IQuotaAccount`; others are unlimited)
    cannot take ``add_messages`` more messages of ``add_storage`` octets.

    Called before anything is written (RFC 9208 §4.3: "the server MUST NOT
    ... store"); a write that takes nothing (a MOVE inside the account,
    which Dovecot lets through however full) is never refused.  With
    ``mailbox`` (the name written into) an account that spans other users'
    mailboxes (``quota_for``, :mod:`mailframe.acl`) charges its owner.
    ``add_storage`` may be a function giving it, called only when the
    account has a storage limit (sizing a 50 MB APPEND reads every octet,
    on the reactor thread)."""
    from mailframe.interfaces import IQuotaAccount

    if not IQuotaAccount.providedBy(account):
        return
    if not callable(add_storage) and add_storage <= 0 and add_messages <= 0:
        return
    pick = getattr(account, "quota_for", None) if mailbox is not None else None
    if pick is not None:  # another user's mailbox: its owner is charged (as Dovecot)
        _root, account = await pick(mailbox)
        if not IQuotaAccount.providedBy(account):
            return
    known = getattr(account, "quota_limits", None)
    if known is not None and known().unlimited:  # no limit: no usage to work out
        return
    usage, limits = await account.quota()
    if limits.storage is not None:
        if callable(add_storage):  # sized only now: a scan of every octet
            add_storage = add_storage()
        if usage.storage + add_storage > limits.storage:
            raise OverQuota(OVERQUOTA_TEXT)
    if limits.messages is not None and usage.messages + add_messages > limits.messages:
        raise OverQuota(OVERQUOTA_TEXT)
