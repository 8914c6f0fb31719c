"""TCP socket options the IMAP connection sets on the socket under its
transport (through TLS wrappers): Nagle off, and a quick ACK while a
command is incomplete."""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.abstract import FileDescriptor

__all__ = ["no_delay", "quick_ack", "send_window"]


def quick_ack(transport: Any) -> None:
    """Acknowledge at once a packet that completed no command.

    A client that sends a literal and its closing CRLF in two writes
    (Python's imaplib does) has the CRLF held back by Nagle until this
    packet is acknowledged, while Linux delays the ACK because we have
    nothing to say yet: 40 ms lost per APPEND.  TCP_QUICKACK is one-shot,
    so it is set each time we wait for the rest of a command.
    """
    for _ in range(3):  # through TLS wrappers down to the TCP socket
        handle = getattr(transport, "socket", None)  # tcp.Connection, even after startTLS
        if isinstance(handle, socket.socket):
            try:
                handle.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except (AttributeError, OSError):  # not TCP, or not Linux
                pass
            return
        transport = getattr(transport, "transport", None)


def no_delay(transport: object) -> None:
    """Turn Nagle's algorithm off on the TCP socket under ``transport`` (a
    TLS transport wraps it): the session writes each command's responses
    as they are ready, and a small tagged reply held back until the
    client acknowledges the untagged data before it costs a delayed-ACK
    round (~40 ms) per command.  Dovecot sets TCP_NODELAY too."""
    while transport is not None:
        set_no_delay = getattr(transport, "setTcpNoDelay", None)
        if callable(set_no_delay):
            try:
                set_no_delay(True)
            except OSError:  # not a TCP socket after all (a UNIX socket)
                pass
            return
        transport = getattr(transport, "transport", None)


def send_window(transport: object, size: int) -> None:
    """Let a plain TCP transport hold and send ``size`` bytes at a time.

    Twisted's defaults (``bufferSize`` 64 KiB before the producer is
    paused, ``SEND_LIMIT`` 128 KiB per ``send()``) cost a reactor turn, a
    pause and a resume for every 64 KiB of a large FETCH; with a larger
    window the session encodes ahead while the kernel takes bigger
    writes.  A TLS transport keeps its own buffering: left alone."""
    if isinstance(transport, FileDescriptor):  # a TLS wrapper is not one
        transport.bufferSize = size
        transport.SEND_LIMIT = size
