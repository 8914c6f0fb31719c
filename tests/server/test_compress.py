"""COMPRESS=DEFLATE (RFC 4978) over real sockets, against ``twistd
mailframe``: a zlib client (tests/support/deflate_client.py) on plain TCP
and through IMAPS, a header sync whose answer must equal the uncompressed
one, a large literal streamed under backpressure, IDLE, and a
decompression bomb that the line limit stops."""

from __future__ import annotations

import itertools
import random
import ssl
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailframe.server.tls import CertificateAuthority
from tests.support.corpus import HEADER_SYNC, messages
from tests.support.deflate_client import DeflateClient
from tests.support.server import ServerProcess, free_port

USERS = {f"u{i}": f"pw-{i}-secret" for i in range(12)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("compress")
    ca = CertificateAuthority()
    ca.write_ca(str(base / "ca.pem"))
    cert, key = ca.issue(str(base / "tls"))
    imaps = free_port()
    proc = ServerProcess(
        base / "server",
        "--imaps", f"ssl:{imaps}:privateKey={key}:certKey={cert}:interface=127.0.0.1",
        "--tls-cert", cert, "--tls-key", key,
        users=USERS)
    proc.__dict__["imaps_port"] = imaps
    proc.__dict__["ca_file"] = str(base / "ca.pem")
    proc.__dict__["next_user"] = itertools.count()
    with proc:
        yield proc


def _user(server: ServerProcess) -> tuple[str, str]:
    n = next(server.__dict__["next_user"])
    return f"u{n}", USERS[f"u{n}"]


def _client(server: ServerProcess, tls: bool = False) -> DeflateClient:
    if tls:
        ctx = ssl.create_default_context(cafile=server.__dict__["ca_file"])
        return DeflateClient("127.0.0.1", server.__dict__["imaps_port"], tls=ctx)
    return DeflateClient("127.0.0.1", server.imap_port)


def _logged_in(server: ServerProcess, user: tuple[str, str], tls: bool = False) -> DeflateClient:
    c = _client(server, tls)
    assert c.login(*user).ok
    return c


def test_header_sync_is_identical_and_smaller(server: ServerProcess) -> None:
    user = _user(server)
    plain = _logged_in(server, user)
    for m in messages(300):
        assert plain.append(b"INBOX", m).ok
    assert plain.command(b"SELECT INBOX").ok  # takes \\Recent
    plain.close()
    plain = _logged_in(server, user)
    assert plain.command(b"SELECT INBOX").ok
    expected = plain.command(HEADER_SYNC)
    assert expected.ok and len(expected.untagged) == 300

    z = _logged_in(server, user)
    caps = z.command(b"CAPABILITY").untagged[0].split()
    assert b"COMPRESS=DEFLATE" in caps
    assert z.compress().status.endswith(b"OK DEFLATE active")
    assert z.command(b"SELECT INBOX").ok
    before_wire, before_plain = z.wire_in, z.plain_in
    got = z.command(HEADER_SYNC)
    assert got.untagged == expected.untagged
    wire, octets = z.wire_in - before_wire, z.plain_in - before_plain
    assert wire * 3 < octets, (wire, octets)  # headers and FETCH syntax compress well
    print(f"header sync of 300 messages: {octets} octets, {wire} on the wire")
    # Commands go compressed too, and the server reads them.
    assert z.command(b"NOOP").ok
    assert z.command(b"LOGOUT").ok
    plain.close()
    z.close()


def test_large_literal_both_ways(server: ServerProcess) -> None:
    """A 3 MB message: APPEND compressed, FETCH back streamed in chunks
    under the transport's backpressure, octet for octet."""
    user = _user(server)
    z = _logged_in(server, user)
    assert z.compress().ok
    rng = random.Random(7)
    body = b"".join(
        b"%08x %s\r\n" % (i, bytes(rng.choice(b"abcdefghij KLMNOP") for _ in range(60)))
        for i in range(40000))
    msg = b"Subject: big\r\n\r\n" + body
    assert z.append(b"INBOX", msg).ok
    assert z.command(b"SELECT INBOX").ok
    got = z.command(b"FETCH 1 BODY.PEEK[]")
    assert got.ok
    assert got.untagged[0].endswith(b"{%d}\r\n" % len(msg) + msg + b")")
    assert z.wire_in < z.plain_in
    z.close()


def test_imaps_then_compress(server: ServerProcess) -> None:
    """TLS first, DEFLATE above it (RFC 4978 §3: compress, then encrypt)."""
    user = _user(server)
    z = _logged_in(server, user, tls=True)
    assert z.compress().ok
    for m in messages(20, seed=1):
        assert z.append(b"INBOX", m).ok
    assert z.command(b"SELECT INBOX").ok
    got = z.command(HEADER_SYNC)
    assert got.ok and len(got.untagged) == 20
    assert b"Subject:" in got.untagged[0]
    again = z.compress()
    assert again.status.endswith(b"NO [COMPRESSIONACTIVE] DEFLATE compression is already active")
    assert z.command(b"LOGOUT").ok
    z.close()


def test_idle_under_compression(server: ServerProcess) -> None:
    user = _user(server)
    z = _logged_in(server, user)
    assert z.compress().ok
    assert z.command(b"SELECT INBOX").ok
    tag = z.next_tag()
    z.send(tag + b" IDLE\r\n")
    assert z.read_line().startswith(b"+ ")
    other = _logged_in(server, user)
    assert other.append(b"INBOX", b"Subject: ping\r\n\r\nhi\r\n").ok
    assert z.read_line() == b"* 1 EXISTS"
    z.send(b"DONE\r\n")
    rest = z.read_until(tag)
    assert rest.ok
    other.close()
    z.close()


def test_decompression_bomb_is_bounded(server: ServerProcess) -> None:
    """64 MB of one line in about 64 KB compressed: the line limit applies
    to the inflated octets, the command is refused and the connection goes
    on (the server inflates in bounded chunks, never the whole bomb)."""
    user = _user(server)
    z = _logged_in(server, user)
    assert z.compress().ok
    assert z.deflater is not None
    bomb = z.deflater.compress(b"b1 NOOP ")
    chunk = b"x" * (1 << 20)
    for _ in range(64):
        bomb += z.deflater.compress(chunk)
    bomb += z.deflater.compress(b"\r\n") + z.deflater.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 200_000
    z.sock.sendall(bomb)
    assert z.read_line() == b"b1 BAD Command line too long"
    assert z.command(b"NOOP").ok
    z.close()


def test_garbage_after_compress_closes_with_bye(server: ServerProcess) -> None:
    user = _user(server)
    z = _logged_in(server, user)
    assert z.compress().ok
    z.sock.sendall(b"\xff\xff\xff\xff not deflate at all\r\n")
    line = z.read_line()
    assert line.startswith(b"* BYE Invalid compressed data")
    with pytest.raises((ConnectionError, OSError)):
        z.read_line()
    z.close()



def test_unauthenticate_keeps_compression(server: ServerProcess) -> None:
    """UNAUTHENTICATE (RFC 8437) on a real socket: DEFLATE stays on, the
    next user logs in on the same connection and sees their own mail;
    STARTTLS is refused once COMPRESS is active."""
    first, second = _user(server), _user(server)
    z = _logged_in(server, first)
    assert b"UNAUTHENTICATE" in z.command(b"CAPABILITY").untagged[0].split()
    assert z.compress().ok
    assert z.append(b"INBOX", b"Subject: mine\r\n\r\nx\r\n").ok
    assert z.command(b"SELECT INBOX").ok
    assert z.command(b"UNAUTHENTICATE").ok
    caps = z.command(b"CAPABILITY").untagged[0].split()
    assert b"UNAUTHENTICATE" not in caps and b"AUTH=PLAIN" in caps
    assert z.command(b"STARTTLS").status.startswith(b"z")  # answered, not run
    assert not z.command(b"STARTTLS").ok
    assert z.login(*second).ok
    got = z.command(b"STATUS INBOX (MESSAGES)")
    assert got.untagged == [b"* STATUS INBOX (MESSAGES 0)"]
    z.close()


def test_starttls_then_compress(server: ServerProcess) -> None:
    """STARTTLS, LOGIN, COMPRESS: DEFLATE runs inside the TLS session the
    client started (RFC 4978 §3's example)."""
    user = _user(server)
    ctx = ssl.create_default_context(cafile=server.__dict__["ca_file"])
    z = _client(server)
    assert z.starttls(ctx).ok
    caps = z.command(b"CAPABILITY").untagged[0].split()
    assert b"STARTTLS" not in caps and b"COMPRESS=DEFLATE" not in caps  # only once logged in
    assert z.login(*user).ok
    assert z.compress().ok
    assert z.append(b"INBOX", b"Subject: tls+deflate\r\n\r\nok\r\n").ok
    assert z.command(b"SELECT INBOX").ok
    got = z.command(b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"Subject: tls+deflate" in got.untagged[0]
    assert z.command(b"LOGOUT").ok
    z.close()


def test_compress_level_zero_turns_compress_off(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--compress-level", "0", users={"alice": "secret"}) as off:
        c = DeflateClient("127.0.0.1", off.imap_port)
        assert c.login("alice", "secret").ok
        assert b"COMPRESS=DEFLATE" not in c.command(b"CAPABILITY").untagged[0].split()
        refused = c.command(b"COMPRESS DEFLATE")
        assert refused.status == b"z3 BAD Unknown command COMPRESS"
        assert c.command(b"NOOP").ok  # still plain text
        c.close()


def test_compress_level_is_checked() -> None:
    from twisted.python import usage

    from mailframe.server.options import Options

    for bad in ("10", "-1", "fast"):
        with pytest.raises(usage.UsageError, match="compress-level"):
            Options().parseOptions(["--data-dir", "/tmp/d", "--compress-level", bad])  # type: ignore[no-untyped-call]
    o = Options()
    o.parseOptions(["--data-dir", "/tmp/d", "--compress-level", "1"])  # type: ignore[no-untyped-call]
    assert o["compress-level"] == 1
