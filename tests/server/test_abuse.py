"""Abuse probes against a real ``twistd mailframe`` over real sockets
(issue 11, defects 15-18): each must be answered at once and leave the
server serving everyone else."""

from __future__ import annotations

import imaplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

GREETING_END = b"ready.\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("abuse"), store="memory") as srv:
        yield srv


class Client:
    """A raw IMAP connection that reads until an expected line or EOF."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20,
                                             source_address=(source, 0))
        self.buf = b""
        self.read_until(GREETING_END)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, marker: bytes) -> bytes:
        """Everything up to and including ``marker``; at EOF, what came."""
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buf = self.buf + b"<EOF>", b""
                return out
            self.buf += chunk
        end = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def read_to_eof(self) -> bytes:
        return self.read_until(b"\x00never\x00")

    def close(self) -> None:
        self.sock.close()


def login(c: Client) -> None:
    c.send(b"l LOGIN alice secret\r\n")
    assert b"l OK" in c.read_until(b"l OK")
    c.read_until(b"\r\n")


@pytest.mark.parametrize("marker", [b"{99999999999999999999+}", b"~{99999999999999999999+}",
                                    b"{18446744073709551616+}"])
def test_huge_nonsync_append_literal_is_answered_at_once(server: ServerProcess, marker: bytes) -> None:
    """Defect 15: no silent wait for 10^20 octets: BAD [TOOBIG], BYE, closed."""
    c = Client(server.imap_port)
    login(c)
    c.send(b"a APPEND INBOX " + marker + b"\r\nFrom: x\r\n")
    out = c.read_to_eof()
    assert b"a BAD [TOOBIG]" in out and b"* BYE" in out and out.endswith(b"<EOF>"), out
    c.close()


@pytest.mark.parametrize("marker", [b"{99999999999999999999}", b"~{99999999999999999999}",
                                    b"{" + b"9" * 100 + b"}"])
def test_huge_sync_append_literal_is_refused_in_step(server: ServerProcess, marker: bytes) -> None:
    c = Client(server.imap_port)
    login(c)
    c.send(b"a APPEND INBOX " + marker + b"\r\nb NOOP\r\n")
    out = c.read_until(b"b OK")
    assert b"a NO [TOOBIG]" in out and b"b OK" in out, out
    c.close()


def test_leading_zeros_in_a_literal_length(server: ServerProcess) -> None:
    c = Client(server.imap_port)
    login(c)
    c.send(b"a APPEND INBOX {0005}\r\n")
    assert c.read_until(b"\r\n").startswith(b"+ ")
    c.send(b"hello\r\n")
    assert b"a OK" in c.read_until(b"a OK")
    c.close()


@pytest.mark.parametrize("command", [
    b"c FETCH 99999999999999999999 FLAGS",
    b"c UID FETCH 4294967296 FLAGS",
    b"c FETCH 1 BODY[]<99999999999999999999.5>",
    b"c FETCH 1 BODY[]<0.99999999999999999999>",
    b"c FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)",
    b"c SEARCH MODSEQ 9223372036854775808",
    b"c STORE 1 (UNCHANGEDSINCE 99999999999999999999) +FLAGS (x)",
    b"c SEARCH LARGER 99999999999999999999",
])
def test_huge_numbers_elsewhere_get_bad_with_a_reason(server: ServerProcess, command: bytes) -> None:
    c = Client(server.imap_port)
    login(c)
    c.send(b"s SELECT INBOX\r\n")
    c.read_until(b"s OK")
    c.send(command + b"\r\nd NOOP\r\n")
    out = c.read_until(b"d OK")
    assert b"c BAD " in out and b"d OK" in out, out
    c.close()


def test_10gb_nonsync_login_argument_is_not_waited_for(server: ServerProcess) -> None:
    """Defect 16, before login: answered and closed at once."""
    c = Client(server.imap_port)
    c.send(b"a LOGIN {10000000000+}\r\n" + b"x" * 4096)
    out = c.read_to_eof()
    assert b"a BAD [TOOBIG]" in out and b"* BYE" in out, out
    c.close()


def test_10gb_nonsync_select_argument_is_not_waited_for(server: ServerProcess) -> None:
    """Defect 16, after login: outside APPEND the line limit bounds literals."""
    c = Client(server.imap_port)
    login(c)
    c.send(b"a SELECT {10000000000+}\r\n" + b"x" * 4096)
    out = c.read_to_eof()
    assert b"a BAD [TOOBIG]" in out and b"* BYE" in out, out
    c.close()


def test_sync_literals_outside_append_are_bounded_and_the_connection_lives(server: ServerProcess) -> None:
    c = Client(server.imap_port)
    c.send(b"a LOGIN {9000}\r\nb NOOP\r\n")  # before login: a few KiB at most
    out = c.read_until(b"b OK")
    assert b"a NO [TOOBIG]" in out and b"+ " not in out, out
    c.send(b"l LOGIN alice secret\r\n")
    c.read_until(b"l OK")
    c.read_until(b"\r\n")
    c.send(b"c SELECT {100000}\r\nd NOOP\r\n")  # over --max-line (64 KiB)
    out = c.read_until(b"d OK")
    assert b"c NO [TOOBIG] Literal too big outside APPEND" in out and b"+ " not in out, out
    c.read_until(b"\r\n")
    c.send(b"e APPEND INBOX {100000}\r\n")  # a message may be bigger
    assert c.read_until(b"\r\n").startswith(b"+ ")
    c.send(b"x" * 100000 + b"\r\n")
    assert b"e OK" in c.read_until(b"e OK")
    c.close()


def test_prelogin_commands_are_bounded(server: ServerProcess) -> None:
    c = Client(server.imap_port)
    fields = b" ".join(b'"f%d" "%s"' % (i, b"v" * 1000) for i in range(30))
    c.send(b"a ID (" + fields + b")\r\n")  # ~32 KiB, as imaptest's ID test sends
    assert b"a OK" in c.read_until(b"a OK")
    c.send(b"b ID (" + b"x" * 70000 + b")\r\nc ID {9000}\r\nd NOOP\r\n")
    out = c.read_until(b"d OK")
    assert b"b BAD Command line too long" in out and b"c NO [TOOBIG]" in out, out
    c.close()


def test_login_pipelined_with_append_uses_the_limits_after_login(server: ServerProcess) -> None:
    c = Client(server.imap_port)
    c.send(b"a LOGIN alice secret\r\nb APPEND INBOX {20000+}\r\n" + b"y" * 20000 + b"\r\n")
    out = c.read_until(b"b OK")
    assert b"a OK" in out and b"b OK" in out, out
    c.close()


def test_wrong_passwords_for_a_user_do_not_lock_the_owner_out(tmp_path: Path) -> None:
    """Defect 17: 50 wrong LOGINs for alice from 20 connections at
    127.0.0.2; alice's right password from 127.0.0.1 gets in, and so does
    bob's from the attacker's own address."""
    with ServerProcess(tmp_path, "--login-delay", "0", "--max-preauth-connections-per-ip", "0",
                       store="memory") as srv:
        attackers = [Client(srv.imap_port, source="127.0.0.2") for _ in range(20)]
        sent: dict[int, list[bytes]] = {i: [] for i in range(20)}
        for n in range(50):
            i, tag = n % 20, b"x%d" % (n // 20)
            attackers[i].send(tag + b" LOGIN alice wrong%d\r\n" % n)
            sent[i].append(tag)
        answers = []
        for i, c in enumerate(attackers):
            for tag in sent[i]:
                line = c.read_until(b"\r\n")
                while not line.startswith(tag + b" "):
                    line = c.read_until(b"\r\n")
                answers.append(line)
        assert len(answers) == 50 and all(b" NO [" in a for a in answers), answers
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=20)
        assert m.login("alice", "secret")[0] == "OK"
        m.logout()
        c = Client(srv.imap_port, source="127.0.0.2")
        c.send(b"a LOGIN bob hunter2\r\nb LOGIN alice secret\r\n")
        out = c.read_until(b"a ")
        out += c.read_until(b"\r\n")
        assert b"a OK" in out, out
        for c in attackers:
            c.close()


def test_silent_prelogin_connections_do_not_lock_out_the_next_client(tmp_path: Path) -> None:
    """Defect 18: 200 silent connections from one address; a real client
    from the same address still gets in (the oldest idle ones make way)."""
    with ServerProcess(tmp_path, store="memory") as srv:
        silent = [socket.create_connection(("127.0.0.1", srv.imap_port), timeout=20) for _ in range(200)]
        try:
            m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=20)
            assert m.login("alice", "secret")[0] == "OK"
            assert m.noop()[0] == "OK"
            m.logout()
        finally:
            for s in silent:
                s.close()
