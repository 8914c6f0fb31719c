"""Commands valid in any state (RFC 3501 §6.1), ID (RFC 2971) and ENABLE
(RFC 5161)."""

from __future__ import annotations

from typing import Any

from mailframe import __version__
from mailframe.imap.command import Capability, Enable, Id, Logout, Noop
from mailframe.imap.context import AnyContext, AuthenticatedContext
from mailframe.imap.registry import ANY, AUTHENTICATED, Reply, State, command
from mailframe.imap.serialize import Atom


@command(Capability, ANY)
async def capability(session: AnyContext, cmd: Capability) -> Reply:
    session.untagged(*[Atom(c) for c in ["CAPABILITY", *session.capabilities()]])
    return Reply("Capability completed")


@command(Noop, ANY)
async def noop(session: AnyContext, cmd: Noop) -> Reply:
    # The catch-up after every command is what NOOP is for (§6.1.2).
    return Reply("NOOP completed")


@command(Logout, ANY)
async def logout(session: AnyContext, cmd: Logout) -> Reply:
    session.io.write(b"* BYE Logging out\r\n")
    session.deselect()
    session.state = State.LOGOUT
    return Reply("Logout completed")


SERVER_ID = (("name", "mailframe"), ("version", __version__), ("vendor", "mailframe"))


@command(Id, ANY)
async def ident(session: AnyContext, cmd: Id) -> Reply:
    """RFC 2971 §3.1: answer with our own field list."""
    fields: list[Any] = []
    for k, v in SERVER_ID:
        fields += [k, v]
    session.untagged(Atom("ID"), fields)
    return Reply("ID completed")


# Extensions that change what the server sends once enabled (RFC 5161 §3.2).
ENABLEABLE = {"CONDSTORE", "QRESYNC", "IMAP4rev2", "UIDONLY", "UTF8=ACCEPT"}  # UTF8=ACCEPT: RFC 6855 §3


@command(Enable, AUTHENTICATED)
async def enable(session: AuthenticatedContext, cmd: Enable) -> Reply:
    """RFC 5161: report only what was newly enabled and is supported."""
    newly = []
    canonical = {c.upper(): c for c in ENABLEABLE}
    for cap in cmd.capabilities:
        cap = canonical.get(cap.upper(), cap.upper())
        if cap in ("CONDSTORE", "QRESYNC") and not session.config.condstore:
            continue
        if cap in ENABLEABLE and cap not in session.enabled:
            if cap in ("CONDSTORE", "QRESYNC"):
                # RFC 7162 §3.2.3: enabling QRESYNC enables CONDSTORE too
                # (reported only when asked for, as Dovecot does); on a
                # selected mailbox OK [HIGHESTMODSEQ] comes before ENABLED
                session.enable_condstore()
            session.enabled.add(cap)
            newly.append(cap)
            if cap == "IMAP4rev2" and session.view is not None:
                session.view.recent.clear()  # RFC 9051: no \Recent from now on
    session.untagged(*[Atom(w) for w in ["ENABLED", *newly]])
    return Reply("ENABLE completed")
