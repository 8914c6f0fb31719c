"""A small blocking IMAP client that speaks COMPRESS=DEFLATE (RFC 4978).

imaplib has no COMPRESS, so the real-socket tests and the bench use this:
raw deflate (window bits -15) both ways after ``COMPRESS DEFLATE`` answered
OK, each command compressed and sync-flushed as a client should.  It counts
the octets on the wire and after inflating, to measure what compression
saves.
"""

from __future__ import annotations

import re
import socket
import ssl
import zlib
from dataclasses import dataclass, field

_LITERAL = re.compile(rb"\{(\d+)\}$")


@dataclass
class Response:
    """One command's answer: untagged lines (literals inline) and the
    tagged status line."""

    untagged: list[bytes] = field(default_factory=list)
    status: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status.split(b" ", 2)[1:2] == [b"OK"]


class DeflateClient:
    """One connection; ``compress()`` turns DEFLATE on."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 server_hostname: str = "localhost", timeout: float = 30.0) -> None:
        sock: socket.socket = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=server_hostname)
        self.sock = sock
        self.buf = b""
        self.inflater: zlib._Decompress | None = None
        self.deflater: zlib._Compress | None = None
        self.wire_in = 0
        self.plain_in = 0
        self.wire_out = 0
        self.plain_out = 0
        self.n = 0
        self.greeting = self.read_line()

    # --- octets ---------------------------------------------------------------

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.wire_in += len(data)
        if self.inflater is not None:
            data = self.inflater.decompress(data)
        self.plain_in += len(data)
        self.buf += data

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._recv()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response_line(self) -> bytes:
        """A line with its literals inline (``{n}`` followed by the octets)."""
        line = self.read_line()
        out = line
        while True:
            m = _LITERAL.search(line)
            if m is None:
                return out
            out += b"\r\n" + self.read_exact(int(m.group(1)))
            line = self.read_line()
            out += line

    def send(self, data: bytes) -> None:
        self.plain_out += len(data)
        if self.deflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        self.wire_out += len(data)
        self.sock.sendall(data)

    # --- commands -------------------------------------------------------------

    def next_tag(self) -> bytes:
        self.n += 1
        return b"z%d" % self.n

    def command(self, text: bytes, literals: tuple[bytes, ...] = ()) -> Response:
        """Send ``text`` (whose ``{n+}`` markers are followed by
        ``literals`` in order, LITERAL+) and read up to the tagged reply."""
        tag = self.next_tag()
        self.send(tag + b" " + text + b"".join(b"\r\n" + lit for lit in literals) + b"\r\n")
        return self.read_until(tag)

    def read_until(self, tag: bytes) -> Response:
        resp = Response()
        while True:
            line = self.read_response_line()
            if line.startswith(tag + b" "):
                resp.status = line
                return resp
            resp.untagged.append(line)

    def login(self, user: str, password: str) -> Response:
        return self.command(b"LOGIN " + user.encode() + b" " + password.encode())

    def starttls(self, ctx: ssl.SSLContext, server_hostname: str = "localhost") -> Response:
        """STARTTLS (RFC 3501 §6.2.1), then TLS on this socket."""
        resp = self.command(b"STARTTLS")
        if resp.ok:
            assert not self.buf, "plaintext after STARTTLS's OK"
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return resp

    def compress(self) -> Response:
        """``COMPRESS DEFLATE``; compression starts after an OK (RFC 4978 §3)."""
        resp = self.command(b"COMPRESS DEFLATE")
        if resp.ok:
            self.inflater = zlib.decompressobj(-15)
            self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
            if self.buf:  # anything after the OK's CRLF is compressed already
                raw, self.buf = self.buf, b""
                self.buf = self.inflater.decompress(raw)
        return resp

    def append(self, mailbox: bytes, message: bytes) -> Response:
        return self.command(b"APPEND " + mailbox + b" {%d+}" % len(message), (message,))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
