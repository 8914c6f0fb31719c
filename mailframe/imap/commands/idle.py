"""IDLE (RFC 2177): push mailbox changes until the client says DONE."""

from __future__ import annotations

from mailframe.errors import ProtocolError
from mailframe.imap.command import Idle
from mailframe.imap.context import AuthenticatedContext
from mailframe.imap.registry import AUTHENTICATED, SILENT, Reply, command


@command(Idle, AUTHENTICATED)
async def idle(session: AuthenticatedContext, cmd: Idle) -> Reply:
    """RFC 2177 §3: ``+ idling``; while idling every change is sent as it
    happens (EXPUNGE included: a command is in progress); ``DONE`` ends it.
    Anything else than DONE ends IDLE with BAD (as Dovecot does)."""
    session.continuation("idling")
    session.idling = True
    session.io.set_timeout(None)
    try:
        await session.catch_up(True)
        while True:
            event = await session.io.next_event()
            if event is None:
                return SILENT
            parts = getattr(event, "parts", None)
            if parts is None:
                # a Wakeup (or a framing error): look for changes; with
                # NOTIFY, exactly what it asks for (RFC 5465 §4)
                notify = session.notify
                if notify is not None:
                    await notify.deliver(session, idle=True)
                else:
                    await session.catch_up(True)
                continue
            if parts == (b"DONE",) or (len(parts) == 1 and parts[0].strip().upper() == b"DONE"):
                return Reply("Idle completed")
            raise ProtocolError("Expected DONE")
    finally:
        session.idling = False
        session.io.set_timeout(session.config.timeout_auth)
