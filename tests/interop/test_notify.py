"""NOTIFY (RFC 5465) over real sockets: events made through another
server process sharing the Maildir store arrive (the change hints cross
processes, as they must under ``--workers``), and the STATUS responses
for other mailboxes read as Dovecot 2.3.19's do.
"""

from __future__ import annotations

import re
import select
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

#: How long to wait for a notification that must come (a bound, not a
#: measurement: the test passes as soon as it arrives).
PATIENCE = 20.0
#: How long to listen for notifications that must not come.
QUIET = 1.0


class Client:
    """A bare IMAP client that also reads what comes between commands."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.n = 0
        assert (self.line(PATIENCE) or b"").startswith(b"* OK")
        self.command(b"LOGIN alice secret")

    def line(self, timeout: float) -> bytes | None:
        while b"\r\n" not in self.buf:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return None
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, text: bytes) -> list[bytes]:
        """Untagged lines and the tagged one (asserted OK)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.sock.sendall(tag + b" " + text + b"\r\n")
        lines = []
        while True:
            line = self.line(PATIENCE)
            assert line is not None, f"no answer to {text!r}"
            lines.append(line)
            if line.startswith(tag + b" "):
                assert line.split()[1] == b"OK", line
                return lines

    def unsolicited(self, count: int) -> list[bytes]:
        """The next ``count`` lines sent between commands."""
        out = []
        while len(out) < count:
            line = self.line(PATIENCE)
            assert line is not None, f"only {out!r} arrived"
            out.append(line)
        return out

    def silence(self) -> list[bytes]:
        out = []
        while (line := self.line(QUIET)) is not None:
            out.append(line)
        return out

    def close(self) -> None:
        self.sock.close()


def _append(c: Client, mailbox: bytes, subject: bytes) -> None:
    msg = b"Subject: " + subject + b"\r\n\r\nbody\r\n"
    c.command(b"APPEND " + mailbox + b" {%d+}\r\n" % len(msg) + msg)


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    store = "maildir:" + str(tmp_path / "mail")
    users = {"alice": "secret"}
    with ServerProcess(tmp_path / "one", users=users, store=store) as one:
        with ServerProcess(tmp_path / "two", users=users, store=store) as two:
            yield one, two


def test_events_from_another_process(two_processes: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = two_processes
    watcher, writer = Client(one.imap_port), Client(two.imap_port)
    try:
        writer.command(b"CREATE box2")
        assert b"NOTIFY" in b" ".join(watcher.command(b"CAPABILITY"))
        watcher.command(
            b"NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge FlagChange))"
            b" (mailboxes box2 (MessageNew MessageExpunge))"
        )
        watcher.command(b"SELECT INBOX")
        _append(writer, b"box2", b"elsewhere")
        assert watcher.unsolicited(1) == [b"* STATUS box2 (MESSAGES 1 UIDNEXT 2 UNSEEN 1)"]
        _append(writer, b"INBOX", b"here")
        got = watcher.unsolicited(6)
        assert got[0] == b"* 1 EXISTS"
        assert re.fullmatch(rb"\* \d RECENT", got[1])
        assert got[2:] == [b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {17}", b"Subject: here", b"", b")"]
        writer.command(b"SELECT INBOX")
        writer.command(b"STORE 1 +FLAGS (\\Deleted)")
        writer.command(b"EXPUNGE")
        # SELECTED: the expunge at once (RFC 5465 §6.1.1), after the flag
        # change if that was seen first (the two hints may come as one).
        heard = watcher.unsolicited(1)
        while heard[-1] != b"* 1 EXPUNGE":
            assert heard[-1] == b"* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))", heard
            heard += watcher.unsolicited(1)
        watcher.command(b"NOTIFY NONE")
        _append(writer, b"box2", b"unheard")
        assert watcher.silence() == []
    finally:
        watcher.close()
        writer.close()


STEPS: list[tuple[str, bytes]] = [
    ("w", b"APPEND box2 {15+}\r\nSubject: a\r\n\r\n"),
    ("o", b"SELECT box2"),
    ("o", b"STORE 1 +FLAGS (\\Seen)"),
    ("o", b"STORE 1 +FLAGS (\\Flagged)"),
    ("o", b"STORE 2 +FLAGS (\\Deleted)"),
    ("o", b"EXPUNGE"),
    ("w", b"ENABLE CONDSTORE"),
    ("o", b"APPEND box2 {15+}\r\nSubject: b\r\n\r\n"),
    ("o", b"STORE 1 -FLAGS (\\Seen)"),
]


def _status_notifications(port: int) -> list[bytes]:
    watcher, other = Client(port), Client(port)
    try:
        other.command(b"CREATE box2")
        other.command(b"APPEND box2 {15+}\r\nSubject: x\r\n\r\n")
        watcher.command(b"NOTIFY SET (personal (MessageNew MessageExpunge FlagChange))")
        heard = []
        for who, text in STEPS:
            (watcher if who == "w" else other).command(text)
            heard += [re.sub(rb"HIGHESTMODSEQ \d+", b"HIGHESTMODSEQ m", x) for x in watcher.silence()]
        return heard
    finally:
        watcher.close()
        other.close()


def test_status_notifications_like_dovecot(tmp_path: Path) -> None:
    try:
        from bench.servers import Dovecot, Unavailable
    except ImportError as exc:  # pragma: no cover - bench/ ships with the tests
        pytest.skip(f"bench.servers not importable: {exc}")
    workdir = Path(tempfile.mkdtemp(prefix="mailframe-notifycmp-"))
    try:
        try:
            dovecot = Dovecot(workdir / "dovecot")
        except Unavailable as exc:
            pytest.skip(f"Dovecot unavailable: {exc}")
        try:
            theirs = _status_notifications(dovecot.port)
        finally:
            dovecot.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with ServerProcess(tmp_path / "mf", users={"alice": "secret"}) as mf:
        ours = _status_notifications(mf.imap_port)
    # One deliberate difference: with CONDSTORE a flag change carries
    # UIDVALIDITY too, as RFC 5465 §5.1 asks ("at least HIGHESTMODSEQ and
    # UIDVALIDITY"); Dovecot 2.3 sends HIGHESTMODSEQ alone.
    assert [re.sub(rb"\(UIDVALIDITY \d+ ", b"(", x) for x in ours] == theirs
    assert len(theirs) == 5, theirs  # \Flagged without CONDSTORE: nothing (§5.1)


def test_notify_max_mailboxes_option(tmp_path: Path) -> None:
    """``--notify-max-mailboxes`` reaches the sessions of a real server;
    a bad value is a one-line usage error."""
    from twisted.python import usage

    from mailframe.server.options import Options

    with pytest.raises(usage.UsageError, match="notify-max-mailboxes"):
        Options().parseOptions(["--data-dir", str(tmp_path), "--notify-max-mailboxes", "-1"])  # type: ignore[no-untyped-call]
    with ServerProcess(tmp_path / "mf", "--notify-max-mailboxes", "1", users={"alice": "secret"}) as mf:
        c = Client(mf.imap_port)
        try:
            c.command(b"CREATE box")
            c.n += 1
            c.sock.sendall(b"t%d NOTIFY SET (personal (MessageNew MessageExpunge))\r\n" % c.n)
            assert c.line(PATIENCE) == b"t%d NO [NOTIFICATIONOVERFLOW] NOTIFY would watch 2 mailboxes (at most 1)" % c.n
            c.command(b"NOTIFY SET (mailboxes box (MessageNew MessageExpunge))")
        finally:
            c.close()
