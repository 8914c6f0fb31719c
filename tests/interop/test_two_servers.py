"""Two ``twistd mailframe`` processes serving one Maildir store (as two
machines on a shared filesystem, or Dovecot next to mailframe): what a
client changes through one is what a client of the other sees -- same UIDs,
flags, expunges -- and concurrent APPENDs through both never share a UID."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tests.interop import messages as M
from tests.interop.cli_support import bulk_append
from tests.interop.conftest import Account, new_account, spare_users
from tests.interop.imaplib_support import connect, ok
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Server 1 (overrides conftest's); server 2 is ``.twin``, same store."""
    base = tmp_path_factory.mktemp("interop-two")
    store = "maildir:" + str(base / "mail")
    with ServerProcess(base / "one", users=spare_users(), store=store) as one, \
            ServerProcess(base / "two", users=spare_users(), store=store) as two:
        one.__dict__["_next_user"] = itertools.count()
        one.__dict__["twin"] = two
        yield one


def twin(account: Account) -> Account:
    """The same user, connecting to the other server process."""
    two: ServerProcess = account.server.__dict__["twin"]
    return replace(account, port=two.imap_port, server=two)


@pytest.fixture
def account(shared_server: ServerProcess) -> Account:
    return new_account(shared_server)


def test_append_on_one_seen_with_same_uid_on_other(account: Account) -> None:
    a = connect(account)
    typ, data = a.append("INBOX", r"(\Flagged)", None, M.MULTIPART)
    m = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert typ == "OK" and m
    b = connect(twin(account))
    assert ok(b.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY)")) == [
        b"INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %s)" % m.group(1)]
    ok(b.select("INBOX"))
    fetched = ok(b.uid("FETCH", m.group(2).decode(), "(FLAGS BODY.PEEK[])"))
    assert fetched[0][1] == M.MULTIPART
    assert b"\\Flagged" in fetched[0][0]
    a.logout()
    b.logout()


def test_idle_on_other_server_hears_append_flags_expunge(account: Account) -> None:
    a = connect(account)
    ok(a.append("INBOX", None, None, M.SIMPLE))
    watcher = connect(twin(account))
    ok(watcher.select("INBOX"))
    watcher.send(b"I1 IDLE\r\n")
    assert watcher.readline().startswith(b"+ ")
    # The other process notices by polling and pushes the news while the
    # watcher sends nothing (RFC 2177); the socket timeout only keeps a
    # server that never pushes from hanging the test (latency: bench/).
    watcher.sock.settimeout(30.0)

    ok(a.append("INBOX", None, None, M.plain("through server one")))
    assert watcher.readline() == b"* 2 EXISTS\r\n"
    ok(a.select("INBOX"))
    ok(a.store("1", "+FLAGS.SILENT", r"(\Seen \Deleted)"))
    ok(a.expunge())
    seen = [watcher.readline()]
    while b"* 1 EXPUNGE\r\n" not in seen and len(seen) < 5:  # a FETCH (flags) may come first
        seen.append(watcher.readline())
    assert b"* 1 EXPUNGE\r\n" in seen, seen
    assert all(line.startswith(b"* ") for line in seen), seen
    watcher.sock.settimeout(10)
    watcher.send(b"DONE\r\n")
    while not watcher.readline().startswith(b"I1 "):
        pass
    assert ok(watcher.uid("FETCH", "1:*", "(UID)")) == [b"1 (UID 2)"]
    watcher.logout()
    a.logout()


def test_concurrent_appends_through_both_servers(account: Account) -> None:
    other = twin(account)
    batches = {
        acct.port: [(M.plain(f"p{acct.port}-{i}"), None) for i in range(40)]
        for acct in (account, other)
    }
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda acct: bulk_append(acct, "INBOX", batches[acct.port]),
                      (account, other)))
    for acct in (account, other):
        c = connect(acct)
        assert ok(c.select("INBOX")) == [b"80"]
        uids = [int(x) for x in ok(c.uid("SEARCH", "ALL"))[0].split()]
        assert uids == list(range(1, 81))
        c.logout()
