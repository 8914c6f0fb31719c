"""QUOTA commands (RFC 9208 §4.1, ABNF in §9): their typed forms and
their grammar.  Registered in :data:`mailframe.imap.grammar._COMMANDS`.

::

    getquota     = "GETQUOTA" SP quota-root-name
    getquotaroot = "GETQUOTAROOT" SP mailbox
    setquota     = "SETQUOTA" SP quota-root-name SP setquota-list
    setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
    setquota-resource = resource-name SP resource-limit
    quota-root-name = astring
"""

from __future__ import annotations

from dataclasses import dataclass

from mailframe.imap.command import Command
from mailframe.imap.grammar_reader import Reader

__all__ = ["GetQuota", "GetQuotaRoot", "SetQuota", "parse_getquota", "parse_getquotaroot",
           "parse_setquota"]


@dataclass(frozen=True)
class GetQuota(Command):
    """GETQUOTA quota-root-name (RFC 9208 §4.1.1)."""

    root: str


@dataclass(frozen=True)
class GetQuotaRoot(Command):
    """GETQUOTAROOT mailbox (RFC 9208 §4.1.2)."""

    mailbox: str


@dataclass(frozen=True)
class SetQuota(Command):
    """SETQUOTA quota-root-name (resource limit ...) (RFC 9208 §4.1.3)."""

    root: str
    limits: tuple[tuple[str, int], ...]


def _root(r: Reader) -> str:
    return r.text_of(r.astring("quota root"), "quota root")


def parse_getquota(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    return GetQuota(tag, _root(r))


def parse_getquotaroot(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    return GetQuotaRoot(tag, r.mailbox())


def parse_setquota(r: Reader, tag: str, uid: bool) -> Command:
    r.sp()
    root = _root(r)
    r.sp()
    r.open()
    limits: list[tuple[str, int]] = []
    while r.peek() not in (0x29, -1):  # up to ")"
        if limits:
            r.sp()
        name = r.atom("resource name").upper()
        r.sp()
        limits.append((name, r.number(what="resource limit")))
    r.close()
    return SetQuota(tag, root, tuple(limits))
