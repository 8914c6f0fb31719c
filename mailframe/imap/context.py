"""What a command handler may use, typed per connection state.

The session checks the state before it calls a handler (RFC 3501 §3), so a
handler registered for the selected state gets a :class:`SelectedContext`
whose ``mailbox`` and ``view`` are never ``None``, one for the
authenticated state an :class:`AuthenticatedContext` whose ``account`` is
set.  :class:`mailframe.imap.session.Session` is the one implementation;
these Protocols exist so handlers are type-checked without importing it
(which would close an import cycle through the registry).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mailframe.imap.framing import Frame
    from mailframe.imap.registry import State
    from mailframe.imap.serialize import Value
    from mailframe.imap.session import Authenticator, ServerConfig, SessionIO
    from mailframe.imap.view import SelectedView
    from mailframe.interfaces import IAccount, IMailbox

__all__ = ["AnyContext", "AuthenticatedContext", "SelectedContext"]


class AnyContext(Protocol):
    """Any state: output, capabilities, login bookkeeping."""

    io: SessionIO
    auth: Authenticator
    config: ServerConfig
    state: State
    enabled: set[str]
    auth_attempts: int
    idling: bool

    def capabilities(self) -> list[str]: ...

    def utf8_names(self) -> bool: ...

    def untagged(self, *values: Value) -> None: ...

    def untagged_ok(self, text: str, code: str | None = None) -> None: ...

    def continuation(self, text: str) -> None: ...

    async def next_frame(self) -> Frame | None: ...

    def authenticated(self, account: Any) -> None: ...

    def deselect(self) -> None: ...


class AuthenticatedContext(AnyContext, Protocol):
    """Logged in: the account is there (a mailbox may be selected)."""

    account: IAccount
    mailbox: IMailbox | None
    view: SelectedView | None
    notify: Any  # the NOTIFY SET in force (RFC 5465), or None

    async def catch_up(self, allow_expunge: bool, with_uid: bool = False) -> None: ...

    def announce_flags(self) -> None: ...

    def enable_condstore(self) -> None: ...

    def close_selected(self) -> None: ...

    def select(self, mailbox: IMailbox, view: SelectedView) -> None: ...

    def unauthenticate(self) -> None: ...


class SelectedContext(AuthenticatedContext, Protocol):
    """A mailbox is selected: ``mailbox`` and ``view`` are never None."""

    mailbox: IMailbox
    view: SelectedView

    def flags_changed(self, states: Iterable[Any]) -> None: ...

    def expunged(self, uids: Iterable[int]) -> None: ...
