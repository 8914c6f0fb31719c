"""STARTTLS, LOGIN and AUTHENTICATE (RFC 3501 §6.2, SASL-IR RFC 4959),
UNAUTHENTICATE (RFC 8437) and COMPRESS (RFC 4978)."""

from __future__ import annotations

import base64

from mailframe.errors import (
    AuthenticationFailed,
    CannotDo,
    CommandFailed,
    MailframeError,
    PrivacyRequired,
    ProtocolError,
)
from mailframe.imap.command import Authenticate, Compress, Login, StartTLS, Unauthenticate
from mailframe.imap.context import AnyContext, AuthenticatedContext
from mailframe.imap.registry import AUTHENTICATED, NOT_AUTHENTICATED, SILENT, Reply, State, command
from mailframe.imap.serialize import status_line


@command(StartTLS, NOT_AUTHENTICATED)
async def starttls(session: AnyContext, cmd: StartTLS) -> Reply | None:
    """RFC 3501 §6.2.1.  Anything the client pipelined after STARTTLS is
    discarded (the adapter drops buffered plaintext), so no command can be
    injected into the TLS session (CVE-2011-0411)."""
    if session.io.secure:
        raise ProtocolError("TLS is already active")
    if session.io.compressing:
        # RFC 4978 §3: TLS goes under COMPRESS, so it cannot start once
        # compression is on (after UNAUTHENTICATE, RFC 8437).
        raise ProtocolError("TLS cannot start once COMPRESS is active")
    if not session.io.tls_available():
        raise CannotDo("TLS is not configured on this server")
    session.io.write(status_line(cmd.tag, "OK", "Begin TLS negotiation now"))
    session.io.start_tls()
    return SILENT


def _ok_with_capabilities(session: AnyContext, text: str) -> Reply:
    return Reply(text, "CAPABILITY " + " ".join(session.capabilities()))


async def _failed(session: AnyContext, error: MailframeError) -> None:
    session.auth_attempts += 1
    if session.auth_attempts >= session.config.max_auth_attempts:
        session.io.write(b"* BYE Too many invalid authentication attempts\r\n")
        session.state = State.LOGOUT
    raise error


@command(Login, NOT_AUTHENTICATED)
async def login(session: AnyContext, cmd: Login) -> Reply:
    if not session.auth.plaintext_allowed(session.io.secure, session.io.peer):
        raise PrivacyRequired("Plaintext authentication disallowed on non-secure connections")
    try:
        account = await session.auth.login(
            cmd.username, cmd.password, session.io.secure, session.io.peer
        )
    except (AuthenticationFailed, PrivacyRequired) as e:
        await _failed(session, e)
        raise
    session.authenticated(account)
    return _ok_with_capabilities(session, "Logged in")


@command(Authenticate, NOT_AUTHENTICATED)
async def authenticate(session: AnyContext, cmd: Authenticate) -> Reply | None:
    """RFC 3501 §6.2.2: challenges as ``+ base64``, ``*`` cancels."""
    from mailframe.wire import b64decode

    exchange = session.auth.start(
        cmd.mechanism.upper(), session.io.secure, session.io.peer, session.io.channel_binding()
    )
    if cmd.initial is None:
        response: bytes | None = None
    elif cmd.initial == b"=":
        response = b""
    else:
        response = b64decode(cmd.initial)
    try:
        while True:
            result = await exchange.step(response)
            if hasattr(result, "account"):
                final = getattr(result, "final", None)
                if final:
                    # Additional data with success goes as a last
                    # challenge that the client answers empty (§6.2.2).
                    session.continuation(base64.b64encode(final).decode("ascii"))
                    frame = await session.next_frame()
                    if frame is None:
                        return SILENT
                session.authenticated(result.account)
                return _ok_with_capabilities(session, "Logged in")
            session.continuation(base64.b64encode(result.data).decode("ascii"))
            frame = await session.next_frame()
            if frame is None:
                return SILENT
            line = frame.parts[0].strip()
            if line == b"*":
                if hasattr(exchange, "cancel"):
                    exchange.cancel()
                raise ProtocolError("Authentication cancelled")
            response = b64decode(line)
    except (AuthenticationFailed, PrivacyRequired) as e:
        await _failed(session, e)
        raise


@command(Unauthenticate, AUTHENTICATED)
async def unauthenticate(session: AuthenticatedContext, cmd: Unauthenticate) -> Reply:
    """RFC 8437 §3: back to the not authenticated state on the same
    connection.  The selected mailbox is released (no untagged responses
    for it follow), ENABLEd extensions are forgotten, the per-user session
    count is given back and the pre-login limits and timeout apply again;
    TLS and COMPRESS stay as they are."""
    session.unauthenticate()
    return Reply("Unauthenticate completed")


@command(Compress, AUTHENTICATED)
async def compress(session: AuthenticatedContext, cmd: Compress) -> Reply | None:
    """RFC 4978 §3.  The adapter compresses from the octet after the
    tagged OK's CRLF; a second COMPRESS gets ``NO [COMPRESSIONACTIVE]``
    (as Dovecot answers)."""
    io = session.io
    if not io.compress_available():
        raise ProtocolError("Unknown command COMPRESS")  # not offered: as if unknown (§3)
    if io.compressing:
        raise CommandFailed("DEFLATE compression is already active", "COMPRESSIONACTIVE")
    io.write(status_line(cmd.tag, "OK", "DEFLATE active"))
    io.start_compress()
    return SILENT
