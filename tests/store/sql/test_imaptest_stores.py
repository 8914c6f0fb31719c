"""The store URLs the imaptest runner (tests/conformance/imaptest_run.py)
takes for the SQL stores: ``sqlite:`` alone (a new file per run) and
``postgresql:`` alone (a new database in the throwaway cluster), each
served by a real ``twistd mailframe`` and used over imaplib."""

from __future__ import annotations

import imaplib
from pathlib import Path

import pytest

from tests.conformance.imaptest_run import available_stores, resolve_store
from tests.support.server import ServerProcess


@pytest.mark.parametrize("store", ["sqlite:", "postgresql:"])
def test_bare_store_url_serves_a_fresh_database(tmp_path: Path, store: str) -> None:
    assert available_stores(f"{store},memory") == [store, "memory"]
    urls = []
    for run in ("one", "two"):
        workdir = tmp_path / run
        workdir.mkdir()
        url = resolve_store(store, workdir)
        assert url != store
        urls.append(url)
        with ServerProcess(workdir, store=url) as server:
            c = imaplib.IMAP4("127.0.0.1", server.imap_port)
            c.login("alice", "secret")
            typ, _ = c.append("INBOX", None, None, b"Subject: run\r\n\r\nbody\r\n")
            assert typ == "OK"
            typ, data = c.select("INBOX")
            # each run starts empty: the first run's message is not here
            assert (typ, data) == ("OK", [b"1"])
            c.logout()
    assert urls[0] != urls[1]


def test_other_urls_pass_through(tmp_path: Path) -> None:
    dsn = "postgresql://mail@db.example/mail?pool=2"
    assert resolve_store(dsn, tmp_path) == dsn
    assert resolve_store("maildir", tmp_path) == "maildir"
    assert resolve_store("sqlite:/x/y.db", tmp_path) == "sqlite:/x/y.db"
