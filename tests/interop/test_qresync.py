"""QRESYNC (RFC 7162) with real clients over real sockets, against
``twistd mailframe`` (Maildir) and, for the same flow, a Dovecot 2.3 the
test starts: a client goes offline, another session expunges, flags and
delivers, the client reselects with QRESYNC and must get exactly the
``VANISHED (EARLIER)`` and ``FETCH`` it needs -- the same UIDs and flags
Dovecot gives (modseq values are each server's own)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.interop.conftest import Account
from tests.interop.imaplib_support import RecordingIMAP4, ok
from tests.store.test_maildir_dovecot import DOVECOT, Dovecot

FETCH_RE = re.compile(rb"^\* \d+ FETCH \((.*)\)$")


def _msg(n: int) -> bytes:
    return b"From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n" % (n, n)


def _client(host: str, port: int, user: str, password: str) -> RecordingIMAP4:
    c = RecordingIMAP4(host, port)
    ok(c.login(user, password))
    c.take()
    return c


def _command(c: RecordingIMAP4, *args: str) -> list[bytes]:
    """Send a raw command (imaplib knows no SELECT parameters nor FETCH
    modifiers) and return every line the server sent for it."""
    typ, data = c._simple_command(*args)
    assert typ == "OK", (args, data, c.lines)
    if args[0] in ("SELECT", "EXAMINE"):
        c.state = "SELECTED"  # what imaplib's select() would note
    return c.take()


def _code(lines: list[bytes], name: bytes) -> int:
    for line in lines:
        m = re.search(rb"\[" + name + rb" (\d+)\]", line)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no {name!r} in {lines!r}")


def _summary(lines: list[bytes]) -> dict[str, Any]:
    """What a resynchronising client learns: VANISHED (EARLIER) and
    VANISHED sets, and {uid: flags} of each FETCH."""
    out: dict[str, Any] = {"earlier": [], "vanished": [], "fetch": {}}
    for line in lines:
        if line.startswith(b"* VANISHED (EARLIER) "):
            out["earlier"].append(line.split()[-1].decode())
        elif line.startswith(b"* VANISHED "):
            out["vanished"].append(line.split()[-1].decode())
        elif (m := FETCH_RE.match(line)) is not None:
            body = m.group(1)
            uid = re.search(rb"UID (\d+)", body)
            flags = re.search(rb"FLAGS \(([^)]*)\)", body)
            assert uid is not None and flags is not None, line
            assert re.search(rb"MODSEQ \(\d+\)", body), line  # CONDSTORE is on
            out["fetch"][int(uid.group(1))] = sorted(set(flags.group(1).decode().split()) - {"\\Recent"})
    return out


def offline_resync_flow(host: str, port: int, user: str, password: str) -> dict[str, Any]:
    """The flow of RFC 7162 §3.2.5.1's example, on mailbox ``qr``."""
    a = _client(host, port, user, password)
    a._simple_command("DELETE", "qr")
    ok(a.create("qr"))
    for n in range(1, 7):
        ok(a.append("qr", None, None, _msg(n)))
    a.take()
    assert _command(a, "ENABLE", "QRESYNC")[0] == b"* ENABLED QRESYNC"
    lines = _command(a, "SELECT", "qr")
    uidvalidity, modseq = _code(lines, b"UIDVALIDITY"), _code(lines, b"HIGHESTMODSEQ")
    a.logout()

    # Offline meanwhile: another client flags, expunges and delivers.
    b = _client(host, port, user, password)
    ok(b.select("qr"))
    ok(b.store("2", "+FLAGS", "(\\Seen)"))
    ok(b.store("5", "+FLAGS", "($Junk)"))
    ok(b.store("3:4", "+FLAGS", "(\\Deleted)"))
    ok(b.expunge())
    ok(b.append("qr", None, None, _msg(7)))
    b.logout()

    c = _client(host, port, user, password)
    _command(c, "ENABLE", "QRESYNC")
    result = {
        "known": _summary(_command(c, "SELECT", "qr", f"(QRESYNC ({uidvalidity} {modseq} 1:6))")),
        "all": _summary(_command(c, "SELECT", "qr", f"(QRESYNC ({uidvalidity} {modseq}))")),
        "matched": _summary(
            _command(c, "EXAMINE", "qr", f"(QRESYNC ({uidvalidity} {modseq} 1:6 (1:2 1:2)))")
        ),
        "other_uidvalidity": _summary(_command(c, "SELECT", "qr", f"(QRESYNC (1 {modseq} 1:6))")),
        "uid_fetch": _summary(
            _command(c, "UID", "FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {modseq} VANISHED)")
        ),
    }
    ok(c.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
    c.take()
    result["expunge"] = _summary(_command(c, "EXPUNGE"))
    # Another session expunges while this one is selected: VANISHED too.
    d = _client(host, port, user, password)
    ok(d.select("qr"))
    ok(d.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)"))
    ok(d.uid("EXPUNGE", "2"))
    d.logout()
    result["foreign_expunge"] = _summary(_command(c, "NOOP"))["vanished"]
    c.logout()
    return result


EXPECTED = {
    "known": {"earlier": ["3:4"], "vanished": [], "fetch": {2: ["\\Seen"], 5: ["$Junk"]}},
    "all": {"earlier": ["3:4"], "vanished": [], "fetch": {2: ["\\Seen"], 5: ["$Junk"], 7: []}},
    "matched": {"earlier": ["3:4"], "vanished": [], "fetch": {2: ["\\Seen"], 5: ["$Junk"]}},
    "other_uidvalidity": {"earlier": [], "vanished": [], "fetch": {}},
    "uid_fetch": {"earlier": ["3:4"], "vanished": [], "fetch": {2: ["\\Seen"], 5: ["$Junk"], 7: []}},
    "expunge": {"earlier": [], "vanished": ["1"], "fetch": {}},
    "foreign_expunge": ["2"],
}


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if DOVECOT is None:
        pytest.skip("dovecot binary not found (apt-get install dovecot-imapd)")
    root = tempfile.mkdtemp(prefix="mf-qresync-dovecot-")
    server = Dovecot(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_offline_resync_with_imaplib(account: Account) -> None:
    got = offline_resync_flow(account.host, account.port, account.user, account.password)
    assert got == EXPECTED


def test_offline_resync_matches_dovecot(account: Account, dovecot: Dovecot) -> None:
    """The same flow against Dovecot 2.3 gives the same UIDs and flags."""
    ours = offline_resync_flow(account.host, account.port, account.user, account.password)
    theirs = offline_resync_flow("127.0.0.1", dovecot.port, "alice", "pw")
    assert ours == theirs


def test_imapclient_hears_vanished(account: Account) -> None:
    """IMAPClient: ENABLE QRESYNC, then another session's expunge arrives
    as VANISHED (RFC 7162 §3.2.10), and UID FETCH (CHANGEDSINCE VANISHED)
    gives the changes and a VANISHED (EARLIER) of what went."""
    c = IMAPClient(account.host, account.port, ssl=False, timeout=10)
    c.login(account.user, account.password)
    assert c.enable("QRESYNC") == [b"QRESYNC"]
    c.create_folder("ic")
    for n in range(3):
        c.append("ic", _msg(n))
    status = c.select_folder("ic")
    modseq = status[b"HIGHESTMODSEQ"]
    other = IMAPClient(account.host, account.port, ssl=False, timeout=10)
    other.login(account.user, account.password)
    other.select_folder("ic")
    other.add_flags([1], [b"\\Deleted"])
    other.add_flags([3], [b"\\Flagged"])
    other.expunge()
    text, responses = c.noop()
    assert (b"VANISHED", 1) in responses
    assert all(r[1] != b"EXPUNGE" for r in responses if isinstance(r, tuple) and len(r) > 1)
    assert text.startswith(b"[HIGHESTMODSEQ ")
    c.unselect_folder()
    c.select_folder("ic")
    fetched = c.fetch([1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq}", "VANISHED"])
    assert {uid: data[b"FLAGS"] for uid, data in fetched.items()} == {3: (b"\\Flagged",)}
    assert c._imap.untagged_responses.get("VANISHED") == [b"(EARLIER) 1"]
    other.logout()
    c.logout()
