"""A large response block reaches the client at once, not at the end of
the reactor turn (issue 16: a FETCH encoding for a while kept its
responses in Twisted's buffer meanwhile, and the client waited to
parse), in order with the small writes before it; small writes stay
with Twisted's buffering (TLS transports too: the STARTTLS and --imaps
tests run through it).  Over a real socket and Twisted's own transport,
the reactor not running between the write and the read."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.internet.protocol import Protocol
from twisted.internet.tcp import Connection

from mailframe.server._sendnow import SEND_NOW_MIN, send_now


@pytest.fixture
def pair() -> Any:
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server.setblocking(False)
    client.settimeout(5)
    transport = Connection(server, Protocol(), reactor)
    transport.connected = 1
    yield transport, client
    transport.stopWriting()
    server.close()
    client.close()


def _read(client: socket.socket, size: int) -> bytes:
    data = b""
    client.setblocking(False)
    try:
        while len(data) < size:
            chunk = client.recv(size - len(data))
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    return data


def test_a_large_block_is_sent_at_once(pair: Any) -> None:
    transport, client = pair
    block = b"x" * (4 * SEND_NOW_MIN)
    send_now(transport, block)
    assert _read(client, len(block)) == block
    assert not transport._tempDataBuffer and not transport.dataBuffer


def test_small_writes_before_it_go_first(pair: Any) -> None:
    transport, client = pair
    transport.write(b"* 1 EXISTS\r\n")
    send_now(transport, b"* 2 EXISTS\r\n")  # small: stays buffered
    assert _read(client, 100) == b""
    block = b"y" * SEND_NOW_MIN
    send_now(transport, block)
    assert _read(client, 24 + len(block)) == b"* 1 EXISTS\r\n* 2 EXISTS\r\n" + block


def test_what_the_kernel_does_not_take_stays_buffered_in_order(pair: Any) -> None:
    transport, client = pair
    big = bytes(range(256)) * (64 * 1024)  # 16 MB: more than a socket buffer
    send_now(transport, big)
    pending = len(transport.dataBuffer) + transport._tempDataLen
    assert 0 < pending < len(big)
    got = _read(client, len(big))
    assert got == big[: len(got)] and len(got) == len(big) - pending
    send_now(transport, b"z" * SEND_NOW_MIN)  # behind the buffered rest: buffered too
    assert _read(client, 10) == b""

