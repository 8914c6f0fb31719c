"""Implicit TLS (IMAPS, RFC 8314) and STARTTLS with a configured
certificate issued by a test CA, through clients that verify it: imaplib,
IMAPClient, aioimaplib, curl, fetchmail and mbsync."""

from __future__ import annotations

import asyncio
import imaplib
import itertools
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailframe.server.tls import CertificateAuthority
from tests.interop import messages as M
from tests.interop.cli_support import mbsync_pull_over_tls, need, run, seed, server_view
from tests.interop.conftest import Account, spare_users
from tests.support.server import ServerProcess, free_port

CA_FILE = "ca.pem"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with an IMAPS listener and a CA-issued certificate for
    localhost (overrides conftest's plain server)."""
    base = tmp_path_factory.mktemp("interop-imaps")
    ca = CertificateAuthority()
    ca.write_ca(str(base / CA_FILE))
    cert, key = ca.issue(str(base / "tls"))
    imaps = free_port()
    proc = ServerProcess(
        base / "server",
        "--imaps", f"ssl:{imaps}:privateKey={key}:certKey={cert}:interface=127.0.0.1",
        "--tls-cert", cert, "--tls-key", key,
        users=spare_users())
    proc.__dict__["imaps_port"] = imaps
    proc.__dict__["ca_file"] = str(base / CA_FILE)
    with proc:
        proc.__dict__["_next_user"] = itertools.count()
        yield proc


def _ctx(account: Account) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=account.server.__dict__["ca_file"])


def _imaps(account: Account) -> int:
    return int(account.server.__dict__["imaps_port"])


def test_imaplib_imaps(account: Account) -> None:
    c = imaplib.IMAP4_SSL("localhost", _imaps(account), ssl_context=_ctx(account), timeout=10)
    assert "STARTTLS" not in c.capabilities  # already encrypted
    assert c.login(account.user, account.password)[0] == "OK"
    assert c.append("INBOX", r"(\Seen)", None, M.MULTIPART)[0] == "OK"
    assert c.select("INBOX") == ("OK", [b"1"])
    typ, data = c.fetch("1", "(BINARY.PEEK[2])")
    assert typ == "OK" and isinstance(data[0], tuple) and data[0][1] == M.ATTACHMENT
    c.logout()


def test_logout_over_imaps_closes_connection(account: Account) -> None:
    """RFC 3501 6.1.3: after BYE and the tagged OK the server closes the
    connection -- over implicit TLS as well."""
    raw = socket.create_connection(("localhost", _imaps(account)), timeout=5)
    tls = _ctx(account).wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(3)
    assert tls.recv(4096).startswith(b"* OK")
    tls.sendall(b"a LOGOUT\r\n")
    received = b""
    try:
        while chunk := tls.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"connection still open 3 s after LOGOUT; got {received!r}") from None
    except (ssl.SSLError, ConnectionResetError):
        pass
    bye, tagged = received.split(b"\r\n")[:2]
    assert bye.startswith(b"* BYE") and tagged.startswith(b"a OK")


def test_starttls_uses_configured_certificate(account: Account) -> None:
    c = imaplib.IMAP4("localhost", account.port, timeout=10)
    assert c.starttls(ssl_context=_ctx(account))[0] == "OK"
    assert c.login(account.user, account.password)[0] == "OK"
    c.logout()


def test_imapclient_imaps(account: Account) -> None:
    from imapclient import IMAPClient

    c = IMAPClient("localhost", port=_imaps(account), ssl=True, ssl_context=_ctx(account),
                   timeout=10)
    c.login(account.user, account.password)
    c.append("INBOX", M.SIMPLE)
    c.select_folder("INBOX")
    assert c.search(["SUBJECT", "lunch"]) == [1]
    assert c.fetch([1], ["RFC822"])[1][b"RFC822"] == M.SIMPLE
    c.logout()


def test_aioimaplib_imaps(account: Account) -> None:
    aioimaplib = pytest.importorskip("aioimaplib", reason="PyPI package aioimaplib not installed")

    async def main() -> None:
        c = aioimaplib.IMAP4_SSL(host="localhost", port=_imaps(account),
                                 ssl_context=_ctx(account), timeout=10)
        await c.wait_hello_from_server()
        assert (await c.login(account.user, account.password)).result == "OK"
        assert (await c.append(M.SIMPLE, mailbox="INBOX")).result == "OK"
        assert (await c.select("INBOX")).result == "OK"
        resp = await c.fetch("1", "(BODY.PEEK[])")
        assert bytes(resp.lines[1]) == M.SIMPLE
        await c.logout()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_curl_imaps(account: Account) -> None:
    curl = need("curl", "curl")
    seed(account, "INBOX", [(M.SIMPLE, None)])
    out = run([curl, "-sS", "--max-time", "20", "--cacert", account.server.__dict__["ca_file"],
               "-u", f"{account.user}:{account.password}",
               f"imaps://localhost:{_imaps(account)}/INBOX/;UID=1"]).stdout
    assert out == M.SIMPLE


def test_fetchmail_imaps(account: Account, tmp_path: Path) -> None:
    binary = need("fetchmail", "fetchmail")
    seed(account, "INBOX", [(M.SIMPLE, None), (M.MULTIPART, None)])
    out = tmp_path / "out"
    out.mkdir()
    mda = tmp_path / "mda.sh"
    mda.write_text(f"#!/bin/sh\ncat > \"$(mktemp -p '{out}')\"\n")
    mda.chmod(0o755)
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll localhost service {_imaps(account)} protocol IMAP auth password\n"
        f"  user \"{account.user}\" password \"{account.password}\" is root here\n"
        f"  ssl sslcertck sslcertfile \"{account.server.__dict__['ca_file']}\"\n"
        f"  mda \"{mda}\" no keep\n")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    run([binary, "-f", str(rc), "--nodetach"], env=env, timeout=30)
    bodies = sorted(p.read_bytes().replace(b"\r\n", b"\n") for p in out.iterdir())
    assert len(bodies) == 2
    assert any(b.endswith(M.MULTIPART_TEXT.replace(b"\r\n", b"\n")) for b in bodies)
    assert server_view(account, "INBOX") == {}


def test_mbsync_imaps(account: Account, tmp_path: Path) -> None:
    mbsync = need("mbsync", "isync")
    seed(account, "INBOX", [(M.SIMPLE, r"(\Flagged)")])
    inbox = mbsync_pull_over_tls(mbsync, account, _imaps(account), "IMAPS", account.server.__dict__['ca_file'], tmp_path)
    from tests.interop.maildir_view import folder_view

    assert folder_view(inbox) == {b"<simple-1@example.org>": {b"\\Flagged"}}


def test_getmail_imaps(account: Account, tmp_path: Path) -> None:
    binary = need("getmail", "getmail6")
    seed(account, "INBOX", [(M.MULTIPART, None)])
    out = tmp_path / "out"
    out.mkdir()
    rc = tmp_path / "getmailrc"
    rc.write_text(f"""\
[retriever]
type = SimpleIMAPSSLRetriever
server = localhost
port = {_imaps(account)}
username = {account.user}
password = {account.password}
ca_certs = {account.server.__dict__['ca_file']}

[destination]
type = MDA_external
path = /bin/sh
arguments = ("-c", "cat > $(mktemp -p {out} msg.XXXXXX)")
allow_root_commands = true

[options]
read_all = false
delete = false
""")
    run([binary, "--rcfile", str(rc), "--getmaildir", str(tmp_path)], timeout=30)
    (got,) = [p.read_bytes() for p in out.iterdir()]
    assert got.replace(b"\r\n", b"\n").endswith(M.MULTIPART_TEXT.replace(b"\r\n", b"\n"))
    # getmail reads with BODY.PEEK and keeps its own record of what it has.
    assert server_view(account, "INBOX") == {b"<multi-1@example.de>": set()}
