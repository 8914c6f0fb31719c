"""The command registry: connection states, the ``@command`` decorator and
the handler table.  A leaf module (no handler, no session imported), so
the handlers and the session both build on it without an import cycle.


A handler is ``async def handler(session, command) -> Reply | None``
(one module per command family in :mod:`mailframe.imap.commands`).  It
writes untagged responses through the session, raises a
:class:`mailframe.errors.MailframeError` to fail, and returns a
:class:`Reply` to customise the tagged OK.  The session does the rest: state
checks, catching up the selected mailbox, the tagged response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mailframe.imap.command import Command


class State(Enum):
    """Connection states (RFC 3501 §3)."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


@dataclass(frozen=True)
class Reply:
    """The tagged OK of a command: text and optional response code."""

    text: str
    code: str | None = None


#: Returned by a handler that wrote its own tagged response (STARTTLS) or
#: whose connection went away mid-command.
SILENT = Reply("")

HandlerFn = Callable[[Any, Any], Awaitable["Reply | None"]]


@dataclass(frozen=True)
class Handler:
    fn: HandlerFn
    states: frozenset[State]
    name: str
    # May untagged EXPUNGE responses follow this command?  RFC 3501 §7.4.1
    # forbids them while answering FETCH, STORE and SEARCH (not the UID
    # forms: RFC 3501 §6.4.8 and RFC 9051 §7.5.1).
    expunge_ok: Callable[[Any], bool]


REGISTRY: dict[type, Handler] = {}

F = TypeVar("F", bound=HandlerFn)


def command(
    cls: type[Command],
    states: frozenset[State],
    expunge_ok: Callable[[Any], bool] = lambda cmd: True,
) -> Callable[[F], F]:
    """Register the decorated coroutine as the handler of ``cls``."""

    def register(fn: F) -> F:
        REGISTRY[cls] = Handler(fn, states, cls.__name__.upper(), expunge_ok)
        return fn

    return register


def not_by_sequence(cmd: Any) -> bool:
    """expunge_ok for FETCH/STORE/SEARCH: only their UID forms."""
    return bool(cmd.uid)
