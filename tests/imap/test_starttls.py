"""STARTTLS over a real socket to a real server process (RFC 3501 §6.2.1),
including the plaintext-injection attack (CVE-2011-0411 style)."""

from __future__ import annotations

import imaplib
import socket
import ssl

from tests.support.server import ServerProcess


def _client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the server's first-run certificate is self-signed
    return ctx


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_starttls_then_login_with_imaplib(server: ServerProcess) -> None:
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert "STARTTLS" in m.capabilities
    assert m.starttls(ssl_context=_client_context())[0] == "OK"
    assert "STARTTLS" not in m.capabilities  # re-asked after TLS: no longer offered
    assert m.login("alice", "secret")[0] == "OK"
    assert m.logout()[0] == "BYE"


def test_plaintext_pipelined_after_starttls_is_discarded(server: ServerProcess) -> None:
    raw = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
    assert raw.recv(4096).startswith(b"* OK")
    # The injected LOGIN rides in the same packet as STARTTLS.
    raw.sendall(b"a STARTTLS\r\nb LOGIN alice secret\r\n")
    assert _read_until(raw, b"\r\n") == b"a OK Begin TLS negotiation now\r\n"
    tls = _client_context().wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"c CAPABILITY\r\n")
    answer = _read_until(tls, b"c OK")
    assert b"b OK" not in answer and b"b NO" not in answer and b"b BAD" not in answer
    assert b"AUTH=PLAIN" in answer  # still not authenticated: the injected LOGIN never ran
    tls.sendall(b"d SELECT INBOX\r\n")
    assert b"d BAD Not authenticated" in _read_until(tls, b"d ")
    tls.close()


def test_starttls_twice_is_refused(server: ServerProcess) -> None:
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    m.starttls(ssl_context=_client_context())
    try:
        m._simple_command("STARTTLS")  # type: ignore[attr-defined]
    except imaplib.IMAP4.error as e:
        assert "TLS is already active" in str(e)
    else:
        raise AssertionError("a second STARTTLS was accepted")
    assert m.noop()[0] == "OK"  # the connection lives on
    m.logout()
