"""Two real mailframe processes serving one mbox tree, as ``--workers 2``
(the server's default) does: each is a ``twistd mailframe --workers 1`` on
the same ``mbox:ROOT/%u``, so a test picks which process each client
talks to.  Real sockets, imaplib, no mocks."""

from __future__ import annotations

import imaplib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

USER, PASSWORD = "alice", "secret-pw"
MSG = b"From: a@example.org\r\nSubject: m%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody\r\n"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = f"mbox:{tmp_path / 'mail'}/%u:DIRNAME=mBoX-MeSsAgEs"
    a = ServerProcess(tmp_path / "a", "--workers", "1", users={USER: PASSWORD}, store=url)
    b = ServerProcess(tmp_path / "b", "--workers", "1", users={USER: PASSWORD}, store=url)
    with a, b:
        yield a, b


def login(server: ServerProcess) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login(USER, PASSWORD)
    return c


def uidvalidity(c: imaplib.IMAP4) -> int:
    typ, data = c.response("UIDVALIDITY")
    assert data and data[0] is not None, (typ, data)
    return int(data[0])


def flags_by_uid(c: imaplib.IMAP4) -> dict[int, set[str]]:
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK", data
    out = {}
    for line in data:
        assert isinstance(line, bytes), line
        m = re.search(rb"UID (\d+)", line)
        f = re.search(rb"FLAGS \(([^)]*)\)", line)
        assert m and f, line
        out[int(m.group(1))] = set(f.group(1).decode().split()) - {"\\Recent"}
    return out


def test_a_fresh_inbox_has_one_uidvalidity_in_both_processes(
        servers: tuple[ServerProcess, ServerProcess]) -> None:
    """RFC 3501 §2.3.1.1: both processes SELECT the INBOX nobody created
    yet, at the same moment; both announce the UIDVALIDITY the file keeps."""
    clients = [login(s) for s in servers]
    barrier = threading.Barrier(2)
    seen: list[int] = []

    def select(c: imaplib.IMAP4) -> None:
        barrier.wait()
        c.select("INBOX")
        seen.append(uidvalidity(c))

    threads = [threading.Thread(target=select, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clients[1].append("INBOX", "", None, MSG % (1, 1))
    for c in clients:
        c.select("INBOX")
        seen.append(uidvalidity(c))
        c.logout()
    assert len(seen) == 4 and len(set(seen)) == 1, seen


def test_concurrent_stores_from_two_processes_both_survive(
        servers: tuple[ServerProcess, ServerProcess]) -> None:
    """RFC 3501 §6.4.6: +FLAGS changes only the flags named.  One process
    sets \\Seen and the other \\Flagged on the same messages at the same
    time; every message ends with both, seen from either process."""
    a, b = (login(s) for s in servers)
    n = 12
    for i in range(1, n + 1):
        a.append("INBOX", "", None, MSG % (i, i))
    for c in (a, b):
        c.select("INBOX")
    barrier = threading.Barrier(2)
    answers: list[tuple[str, object]] = []

    def store(c: imaplib.IMAP4, flag: str) -> None:
        barrier.wait()
        for uid in range(1, n + 1):
            answers.append(c.uid("STORE", str(uid), "+FLAGS.SILENT", f"({flag})"))

    threads = [threading.Thread(target=store, args=(c, f))
               for c, f in ((a, "\\Seen"), (b, "\\Flagged"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [typ for typ, _ in answers] == ["OK"] * 2 * n, answers
    want = {uid: {"\\Seen", "\\Flagged"} for uid in range(1, n + 1)}
    for c in (a, b):
        assert flags_by_uid(c) == want
        c.logout()


def highestmodseq(c: imaplib.IMAP4) -> int:
    typ, data = c.status("INBOX", "(HIGHESTMODSEQ)")
    assert typ == "OK" and isinstance(data[0], bytes), data
    m = re.search(rb"HIGHESTMODSEQ (\d+)", data[0])
    assert m, data
    return int(m.group(1))


def changed_since(c: imaplib.IMAP4, modseq: int) -> set[int]:
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {modseq})")
    assert typ == "OK", data
    return {int(m.group(1)) for line in data if isinstance(line, bytes)
            for m in [re.search(rb"UID (\d+)", line)] if m}


def test_changedsince_in_either_process_sees_every_change(
        servers: tuple[ServerProcess, ServerProcess]) -> None:
    """RFC 7162 §3.1/§3.3.1: a client that read HIGHESTMODSEQ from one
    process and asks the other for CHANGEDSINCE gets every change made
    since, whichever process made it, and HIGHESTMODSEQ never goes back."""
    a, b = (login(s) for s in servers)
    for i in range(1, 5):
        a.append("INBOX", "", None, MSG % (i, i))
    for c in (a, b):
        c.select("INBOX")
    for i in range(10):  # a's counter runs ahead of b's
        a.uid("STORE", "2", "+FLAGS.SILENT" if i % 2 == 0 else "-FLAGS.SILENT", "(\\Seen)")
    seen = highestmodseq(a)
    values = [seen]
    assert b.uid("STORE", "1", "+FLAGS.SILENT", "(\\Flagged)")[0] == "OK"
    assert a.uid("STORE", "3", "+FLAGS.SILENT", "(\\Answered)")[0] == "OK"
    for c in (b, a, b, a):
        assert {1, 3} <= changed_since(c, seen)
        values.append(highestmodseq(c))
    assert values == sorted(values), values
    later = values[-1]
    assert b.uid("STORE", "4", "+FLAGS.SILENT", "(\\Draft)")[0] == "OK"
    for c in (a, b):
        assert changed_since(c, later) == {4}
        c.logout()
