"""PostgreSQL stopped under a live session: commands answer ``NO
[UNAVAILABLE]`` (RFC 5530 §3) at once, never hang, the connection lives
on; when the database is back the same session works again, without
restarting mailframe, and nothing acknowledged is lost.

A real ``twistd mailframe`` on its own private cluster (stopped and
started here, so no other test's database goes away), real imaplib."""

from __future__ import annotations

import imaplib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.sql.pgcluster import Cluster, _bindir, cluster
from tests.support.server import ServerProcess

MESSAGE = b"Subject: %d\r\n\r\nbody %d\r\n"


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    cluster()  # skips (or fails under MAILFRAME_REQUIRE_POSTGRES=1) without PostgreSQL
    bindir = _bindir()
    assert bindir is not None
    c = Cluster(bindir)
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(c.root, ignore_errors=True)


def test_unavailable_then_recovered(own_cluster: Cluster, tmp_path: Path) -> None:
    url = "postgresql:///postgres?" + "&".join(
        f"{k}={v}" for k, v in (p.split("=", 1) for p in own_cluster.conninfo().split()[:3])
    )
    with ServerProcess(tmp_path, store=url) as server:
        imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
        imap.login("alice", "secret")
        assert imap.select("INBOX")[0] == "OK"
        assert imap.append("INBOX", None, None, MESSAGE % (1, 1))[0] == "OK"

        own_cluster.pause()
        try:
            for attempt in range(3):  # every command, not only the first
                for typ, data in (
                    imap.append("INBOX", None, None, MESSAGE % (9, 9)),
                    imap.status("INBOX", "(MESSAGES)"),
                    imap.create(f"New{attempt}"),
                    imap.uid("FETCH", "1", "(BODY.PEEK[])"),
                ):
                    assert typ == "NO" and b"[UNAVAILABLE]" in data[-1], (typ, data)
            assert imap.noop()[0] == "OK"  # the connection lives on
            # a new client cannot log in, and says why
            other = imaplib.IMAP4("127.0.0.1", server.imap_port)
            with pytest.raises(imaplib.IMAP4.error, match=r"UNAVAILABLE"):
                other.login("bob", "hunter2")
            other.logout()
        finally:
            own_cluster.start()

        # back: the same session, the same server process
        assert imap.append("INBOX", None, None, MESSAGE % (2, 2))[0] == "OK"
        typ, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[TEXT])")
        assert typ == "OK"
        bodies = [item[1] for item in data if isinstance(item, tuple)]
        assert bodies == [b"body 1\r\n", b"body 2\r\n"]  # nothing lost, nothing doubled
        assert imap.status("INBOX", "(MESSAGES UIDNEXT)")[1][0].endswith(b"(MESSAGES 2 UIDNEXT 3)")
        imap.logout()
        assert server.proc is not None and server.proc.poll() is None
