"""Command handlers, one module per command family.

A handler is ``async def handler(session, command) -> Reply | None``.  It
writes untagged responses through the session, raises a
:class:`mailframe.errors.MailframeError` to fail, and returns a
:class:`Reply` to customise the tagged OK.  The session does the rest: state
checks, catching up the selected mailbox, the tagged response.  The
registry they use lives in :mod:`mailframe.imap.registry` (re-exported
here).
"""

from __future__ import annotations

from mailframe.imap.registry import (
    ANY,
    AUTHENTICATED,
    NOT_AUTHENTICATED,
    REGISTRY,
    SELECTED,
    SILENT,
    Handler,
    HandlerFn,
    Reply,
    State,
    command,
    not_by_sequence,
)

__all__ = [
    "ANY",
    "AUTHENTICATED",
    "NOT_AUTHENTICATED",
    "REGISTRY",
    "SELECTED",
    "SILENT",
    "Handler",
    "HandlerFn",
    "Reply",
    "State",
    "command",
    "not_by_sequence",
    "load_all",
]


def load_all() -> None:
    """Import every command module so that they register."""
    from mailframe.imap.commands import (  # noqa: F401
        acl,
        any_state,
        auth,
        context,
        fetch,
        idle,
        listing,
        mailbox,
        message,
        metadata,
        notify,
        objectid,
        preview,
        quota,
        replace,
        search,
        sort,
        thread,
    )
