"""Typed ACL commands (RFC 4314 §3): what :mod:`mailframe.imap.grammar_acl`
produces and :mod:`mailframe.imap.commands.acl` answers."""

from __future__ import annotations

from dataclasses import dataclass

from mailframe.imap.command import Command

__all__ = ["SetAcl", "DeleteAcl", "GetAcl", "ListRights", "MyRights"]


@dataclass(frozen=True)
class SetAcl(Command):
    """``SETACL mailbox identifier mod-rights`` (§3.1); ``mode`` is
    ``+``, ``-`` or ``=`` and ``rights`` already expanded (§2.1.1)."""

    mailbox: str
    identifier: str
    mode: str
    rights: frozenset[str]


@dataclass(frozen=True)
class DeleteAcl(Command):
    """``DELETEACL mailbox identifier`` (§3.2)."""

    mailbox: str
    identifier: str


@dataclass(frozen=True)
class GetAcl(Command):
    """``GETACL mailbox`` (§3.3)."""

    mailbox: str


@dataclass(frozen=True)
class ListRights(Command):
    """``LISTRIGHTS mailbox identifier`` (§3.4)."""

    mailbox: str
    identifier: str


@dataclass(frozen=True)
class MyRights(Command):
    """``MYRIGHTS mailbox`` (§3.5)."""

    mailbox: str
