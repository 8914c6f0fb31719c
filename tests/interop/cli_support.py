"""Helpers for the command-line client tests: finding binaries, seeding mail
over IMAP, and running a tool with a time limit."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from imapclient.response_parser import parse_fetch_response

from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok


def need(binary: str, package: str) -> str:
    """The path of ``binary``; skip the test (naming the Debian package) if
    it is not installed."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not installed (Debian package {package})")
    return path


def run(cmd: Sequence[str], cwd: Path | None = None, timeout: float = 60.0,
        env: dict[str, str] | None = None, input: bytes | None = None,
        ok_codes: Iterable[int] = (0,)) -> subprocess.CompletedProcess[bytes]:
    """Run a client; fail the test with its output if the exit status is not
    in ``ok_codes``."""
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, env=env, input=input, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")[-4000:]
        err = (e.stderr or b"").decode(errors="replace")[-4000:]
        pytest.fail(f"{cmd[0]} still running after {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    if proc.returncode not in tuple(ok_codes):
        pytest.fail(
            f"{cmd[0]} exited {proc.returncode}\nstdout:\n{proc.stdout.decode(errors='replace')}"
            f"\nstderr:\n{proc.stderr.decode(errors='replace')}")
    return proc


def quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends names as given)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def seed(account: Account, folder: str, messages: Iterable[tuple[bytes, str | None]]) -> None:
    """APPEND ``(message, flags)`` pairs to ``folder`` (created if needed)."""
    c = connect(account)
    if folder.upper() != "INBOX":
        c.create(quote(folder))
    for message, flags in messages:
        ok(c.append(quote(folder), flags, None, message))
    c.logout()


def bulk_append(account: Account, folder: str,
                messages: Sequence[tuple[bytes, str | None]]) -> None:
    """APPEND many messages fast: every command pipelined with LITERAL+
    (RFC 7888) in one write, then all the tagged answers read. (imaplib
    sends a literal and its closing CRLF in two writes, which costs a
    delayed-ACK round trip, ~40 ms, per APPEND.)"""
    with socket.create_connection((account.host, account.port), timeout=30) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"* OK")
        out = [b"L LOGIN %s %s\r\n" % (quote(account.user).encode(), quote(account.password).encode())]
        for i, (message, flags) in enumerate(messages):
            out.append(b"A%d APPEND %s %s{%d+}\r\n%s\r\n" % (
                i, quote(folder).encode(), (flags + " ").encode() if flags else b"",
                len(message), message))
        out.append(b"Z LOGOUT\r\n")
        sock.sendall(b"".join(out))
        answers = {}
        while True:
            line = f.readline()
            assert line, "connection closed early"
            tag, _, rest = line.partition(b" ")
            if tag != b"*" and tag != b"+":
                answers[tag] = rest
            if tag == b"Z":
                break
        for i in range(len(messages)):
            assert answers[b"A%d" % i].startswith(b"OK"), answers[b"A%d" % i]


def server_view(account: Account, folder: str) -> dict[bytes, set[bytes]]:
    """``{Message-ID header value: flags}`` of every message in ``folder``,
    as the server reports them (flags without \\Recent)."""
    c = connect(account)
    if ok(c.select(quote(folder), readonly=True)) == [b"0"]:
        c.logout()
        return {}
    data = ok(c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
    c.logout()
    out: dict[bytes, set[bytes]] = {}
    for item in parse_fetch_response(data, True, False).values():
        mid = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].split(b":", 1)[1].strip()
        assert mid not in out, f"duplicate message {mid!r} in {folder}"
        out[mid] = set(item[b"FLAGS"]) - {b"\\Recent"}
    return out


def mbsync_pull_over_tls(mbsync: str, account: Account, port: int, ssl_type: str,
                         ca_file: str, tmp_path: Path) -> Path:
    """Pull INBOX with mbsync over TLS (``ssl_type`` IMAPS or STARTTLS),
    verifying the server against ``ca_file``; returns the local Maildir."""
    (tmp_path / "mail").mkdir()
    cfg = tmp_path / "mbsyncrc"
    cfg.write_text(f"""\
IMAPAccount tls
Host localhost
Port {port}
User {account.user}
Pass {account.password}
SSLType {ssl_type}
CertificateFile {ca_file}

IMAPStore remote
Account tls

MaildirStore local
Path {tmp_path}/mail/
Inbox {tmp_path}/inbox

Channel pull
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
    run([mbsync, "-V", "-c", str(cfg), "-a"], timeout=15)
    return tmp_path / "inbox"
