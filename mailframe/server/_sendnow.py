"""Large responses handed to the kernel at once (issue 16).

Twisted's TCP transport keeps what ``write()`` is given until the reactor
next polls the socket: a FETCH that encodes for a while sends nothing
meanwhile, and the client (often on the other core) waits to parse, then
the data goes out ``SEND_LIMIT`` bytes per reactor turn with an epoll
registration and removal around each burst.  :func:`send_now` gives a
block of at least :data:`SEND_NOW_MIN` bytes straight to ``send()`` when
nothing is waiting in the transport's own buffer (so the order of the
octets is kept); what the kernel does not take goes to the transport as
before, and its buffer and producer pausing work as they did.  A TLS
transport (``--imaps`` or after STARTTLS) and anything but a plain
Twisted TCP or UNIX connection are left to ``write()``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.tcp import Connection

__all__ = ["SEND_NOW_MIN", "send_now"]

#: Smaller writes (an untagged line, the tagged reply) stay with the
#: transport, gathered into one ``send()`` at the end of the reactor turn.
SEND_NOW_MIN = 16 * 1024


def send_now(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, sending what the kernel takes at once
    when ``data`` is large, the transport a plain TCP (or UNIX) one and
    its buffer empty but for small writes of this turn (sent first, in
    the same ``send()``)."""
    if (
        len(data) < SEND_NOW_MIN
        or not isinstance(transport, Connection)
        or transport.TLS
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
        or transport.dataBuffer
        or transport._tempDataLen >= SEND_NOW_MIN
    ):
        transport.write(data)
        return
    if transport._tempDataLen:  # small writes of this turn go first
        data = b"".join([*transport._tempDataBuffer, data])
        transport._tempDataBuffer = []
        transport._tempDataLen = 0
    try:
        sent = transport.socket.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:  # the connection is gone: Twisted finds out on its own write
        sent = 0
    if sent < len(data):
        transport.write(data[sent:] if sent else data)

