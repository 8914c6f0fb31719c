"""Large APPEND literals are spooled to a temporary file off the reactor
(issue 16: a 50 MB APPEND must not hold the reactor, and the server must
not copy the literal about in memory while it arrives).  Real server,
real sockets: the message is stored byte for byte, commands pipelined
after it are answered in order, a spool that cannot be written makes
that APPEND fail (and only it), and a client leaving mid-literal leaves
no descriptor behind."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


class Raw:
    """A plain socket speaking IMAP line by line."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        assert self.line().startswith(b"* OK")

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until(self, tag: bytes) -> list[bytes]:
        """Lines (literals inline) up to and including the tagged one."""
        out = []
        while True:
            line = self.line()
            if line.endswith(b"}") and b"{" in line:
                line += b"\r\n" + self.exactly(int(line[line.rindex(b"{") + 1 : -1]))
                line += self.line()
            out.append(line)
            if line.startswith(tag + b" "):
                return out

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def login(self) -> None:
        self.send(b"l LOGIN alice secret\r\n")
        assert self.until(b"l")[-1].startswith(b"l OK")


def message(size: int, fill: bytes = b"0123456789abcdef") -> bytes:
    head = b"From: a@example.org\r\nSubject: big\r\n\r\n"
    line = fill * 4 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    return head + body + b"x" * (size - len(head) - len(body))


@pytest.fixture
def server(tmp_path: Path) -> ServerProcess:
    spool = tmp_path / "spool"
    spool.mkdir()
    with ServerProcess(tmp_path / "mf", "--workers", "1", "--spool-literal", "65536",
                       "--spool-dir", str(spool)) as proc:
        yield proc


def _append_sync(c: Raw, tag: bytes, data: bytes, pipelined: bytes = b"") -> None:
    c.send(tag + b" APPEND INBOX {%d}\r\n" % len(data))
    assert c.line().startswith(b"+")
    for i in range(0, len(data), 100_000):
        c.send(data[i : i + 100_000])
    c.send(b"\r\n" + pipelined)


def test_big_append_stored_exactly_and_pipelined_commands_answered_in_order(
        server: ServerProcess) -> None:
    c = Raw(server.imap_port)
    c.login()
    data = message(3 * 2**20 + 7)
    _append_sync(c, b"a", data, b"b NOOP\r\nc SELECT INBOX\r\nd FETCH 1 BODY.PEEK[]\r\n")
    tags = []
    fetched = b""
    for tag in (b"a", b"b", b"c", b"d"):
        lines = c.until(tag)
        assert lines[-1].startswith(tag + b" OK"), lines[-1]
        tags.append(tag)
        if tag == b"d":
            fetched = next(x for x in lines if b" FETCH " in x)
    assert tags == [b"a", b"b", b"c", b"d"]
    assert data in fetched
    stored = list((server.workdir / "mail" / "alice" / "cur").iterdir()) + list(
        (server.workdir / "mail" / "alice" / "new").iterdir())
    assert [p.read_bytes() for p in stored] == [data]


def test_multiappend_with_two_spooled_literals(server: ServerProcess) -> None:
    """RFC 3502 MULTIAPPEND: several literals in one command, spooled
    each, stored in order."""
    c = Raw(server.imap_port)
    c.login()
    one, two, small = message(200_000, b"A" * 16), message(300_000, b"B" * 16), message(100)
    c.send(b"m APPEND INBOX {%d}\r\n" % len(one))
    assert c.line().startswith(b"+")
    c.send(one + b" {%d}\r\n" % len(small))
    assert c.line().startswith(b"+")
    c.send(small + b" {%d}\r\n" % len(two))
    assert c.line().startswith(b"+")
    c.send(two + b"\r\n")
    assert c.until(b"m")[-1].startswith(b"m OK")
    c.send(b"s SELECT INBOX\r\nf FETCH 1:* RFC822.SIZE\r\n")
    c.until(b"s")
    sizes = [x for x in c.until(b"f") if b"RFC822.SIZE" in x]
    assert [int(x.split(b"RFC822.SIZE ")[1].rstrip(b")")) for x in sizes] == [
        len(one), len(small), len(two)]


def test_unwritable_spool_fails_that_append_only(tmp_path: Path) -> None:
    """A spool directory that cannot be used makes the large APPEND fail
    with NO (nothing stored, the connection lives on); a literal under
    --spool-literal never touches it."""
    with ServerProcess(tmp_path / "mf", "--workers", "1", "--spool-literal", "65536",
                       "--spool-dir", str(tmp_path / "missing")) as proc:
        c = Raw(proc.imap_port)
        c.login()
        _append_sync(c, b"a", message(100_000))
        answer = c.until(b"a")[-1]
        assert answer.startswith(b"a NO [SERVERBUG]"), answer
        _append_sync(c, b"b", message(60_000))
        assert c.until(b"b")[-1].startswith(b"b OK")
        c.send(b"c STATUS INBOX (MESSAGES)\r\n")
        assert b"(MESSAGES 1)" in c.until(b"c")[0]


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_client_leaving_mid_literal_leaves_no_descriptor(server: ServerProcess) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    probe = Raw(server.imap_port)
    probe.login()
    probe.send(b"n NOOP\r\n")
    probe.until(b"n")
    before = _fds(pid)
    c = Raw(server.imap_port)
    c.login()
    c.send(b"a APPEND INBOX {5000000}\r\n")
    assert c.line().startswith(b"+")
    c.send(b"z" * 2_000_000)
    probe.send(b"n NOOP\r\n")  # the server has read some of it by now
    probe.until(b"n")
    c.sock.close()
    deadline = time.monotonic() + 30
    while _fds(pid) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _fds(pid) == before
    probe.send(b"s STATUS INBOX (MESSAGES)\r\n")
    assert b"(MESSAGES 0)" in probe.until(b"s")[0]
