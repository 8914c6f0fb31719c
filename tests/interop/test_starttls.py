"""STARTTLS (RFC 3501 6.2.1) with real clients that *verify* the server:
each trusts only the self-signed certificate the server generated into its
data directory on first run, and connects by the name in it (localhost)."""

from __future__ import annotations

import imaplib
import socket
import ssl
from pathlib import Path

from tests.interop import messages as M
from tests.interop.cli_support import mbsync_pull_over_tls, need, run, seed, server_view
from tests.interop.conftest import Account
from tests.interop.imaplib_support import ok


def cert_file(account: Account) -> Path:
    path = account.server.workdir / "data" / "tls" / "cert.pem"
    assert path.is_file(), "the server should have generated its certificate"
    return path


def test_imaplib_starttls_verified(account: Account) -> None:
    context = ssl.create_default_context(cafile=str(cert_file(account)))
    c = imaplib.IMAP4("localhost", account.port, timeout=10)
    assert "STARTTLS" in c.capabilities
    ok(c.starttls(ssl_context=context))
    assert isinstance(c.sock, ssl.SSLSocket)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    # After STARTTLS the capability list is fetched again and no longer
    # offers STARTTLS (RFC 3501 6.2.1).
    assert "STARTTLS" not in c.capabilities
    ok(c.login(account.user, account.password))
    ok(c.append("INBOX", None, None, M.MULTIPART))
    ok(c.select("INBOX"))
    assert ok(c.fetch("1", "(BODY.PEEK[])"))[0][1] == M.MULTIPART
    c.logout()


def test_imapclient_starttls_verified(account: Account) -> None:
    from imapclient import IMAPClient

    context = ssl.create_default_context(cafile=str(cert_file(account)))
    c = IMAPClient("localhost", port=account.port, ssl=False, timeout=10)
    c.starttls(context)
    c.login(account.user, account.password)
    c.append("INBOX", M.SIMPLE, flags=(b"\\Answered",))
    c.select_folder("INBOX")
    got = c.fetch([1], ["FLAGS", "BODY.PEEK[]"])[1]
    assert got[b"BODY[]"] == M.SIMPLE
    assert set(got[b"FLAGS"]) == {b"\\Answered", b"\\Recent"}
    c.logout()


def test_imaplib_starttls_rejects_wrong_name(account: Account) -> None:
    """The certificate names localhost (and the loopback addresses), so a
    client expecting another name must refuse it: the check is real."""
    context = ssl.create_default_context(cafile=str(cert_file(account)))
    c = imaplib.IMAP4("127.0.0.1", account.port, timeout=10)
    c.host = "imap.example.org"  # the name imaplib will check
    try:
        c.starttls(ssl_context=context)
    except ssl.SSLCertVerificationError as e:
        assert "imap.example.org" in str(e)
    else:
        raise AssertionError("certificate for localhost accepted for imap.example.org")


def test_logout_without_tls_closes_connection(account: Account) -> None:
    """The plaintext baseline of the test below."""
    raw = socket.create_connection((account.host, account.port), timeout=3)
    assert raw.recv(4096).startswith(b"* OK")
    raw.sendall(b"a LOGOUT\r\n")
    received = b""
    while chunk := raw.recv(65536):
        received += chunk
    bye, tagged = received.split(b"\r\n")[:2]
    assert bye.startswith(b"* BYE") and tagged.startswith(b"a OK")
    raw.close()


def test_logout_after_starttls_closes_connection(account: Account) -> None:
    """LOGOUT: BYE, tagged OK, then the server closes the connection
    (RFC 3501 6.1.3) -- over TLS too."""
    context = ssl.create_default_context(cafile=str(cert_file(account)))
    raw = socket.create_connection(("localhost", account.port), timeout=5)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"* OK")
    raw.sendall(b"a STARTTLS\r\n")
    assert f.readline().startswith(b"a OK")
    tls = context.wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(30)  # a guard against hanging: the server must close by itself
    tls.sendall(b"b LOGOUT\r\n")
    received = b""
    try:
        while chunk := tls.recv(65536):  # ends only when the server closes
            received += chunk
    except TimeoutError:
        raise AssertionError(f"connection still open after LOGOUT; got {received!r}") from None
    except (ssl.SSLError, ConnectionResetError):
        pass  # closed without close_notify: still closed
    bye, tagged = received.split(b"\r\n")[:2]
    assert bye.startswith(b"* BYE") and tagged.startswith(b"b OK")


def test_curl_starttls_verified(account: Account) -> None:
    curl = need("curl", "curl")
    seed(account, "INBOX", [(M.SIMPLE, None)])
    out = run([curl, "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", str(cert_file(account)),
               "-u", f"{account.user}:{account.password}",
               f"imap://localhost:{account.port}/INBOX/;UID=1"]).stdout
    assert out == M.SIMPLE


def test_mbsync_starttls_verified(account: Account, tmp_path: Path) -> None:
    mbsync = need("mbsync", "isync")
    seed(account, "INBOX", [(M.SIMPLE, r"(\Seen)"), (M.MULTIPART, None)])
    inbox = mbsync_pull_over_tls(mbsync, account, account.port, "STARTTLS", cert_file(account), tmp_path)
    from tests.interop.maildir_view import folder_view

    assert folder_view(inbox) == server_view(account, "INBOX") == {
        b"<simple-1@example.org>": {b"\\Seen"}, b"<multi-1@example.de>": set()}
