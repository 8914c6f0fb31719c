"""``--workers``: new IMAP connections go to the worker holding the fewest
(mailframe.server._balance).  Without it, eight clients connecting one
after another ended up 6 and 2 about as often as 4 and 4 (whichever
worker woke first took them), and the mixed benchmark load ran at the
speed of the busier worker."""

from __future__ import annotations

import imaplib
from collections import Counter
from pathlib import Path

from mailframe.server._balance import ABSENT, LoadTable
from tests.server.test_workers import two_workers, worker_of
from tests.support.server import ServerProcess


def test_table_busier_ignores_absent_workers(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    supervisor = LoadTable(path, 3, create=True)
    assert [supervisor[i] for i in range(3)] == [ABSENT] * 3
    a, b = LoadTable(path, 3, 0), LoadTable(path, 3, 1)
    a.adjust(0)
    assert not a.busier()  # the others are not running
    a.adjust(1)
    b.adjust(0)
    assert a.busier() and not b.busier()
    b.adjust(1)
    assert not a.busier() and not b.busier()
    supervisor[1] = ABSENT  # worker 1 died
    a.adjust(1)
    assert not a.busier()


def test_sequential_connections_are_spread_evenly(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--workers", "2") as srv:
        a, b = two_workers(srv)
        held = []
        for _ in range(12):
            m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
            m.login("alice", "secret")
            held.append((m, worker_of(srv, m.sock.getsockname()[1])))
        counts = Counter(pid for _, pid in held)
        assert set(counts) == {a, b}
        assert abs(counts[a] - counts[b]) <= 2, counts
        for m, _ in held:
            m.logout()
