"""``mailframe acl`` straight on the store, beside a running server with
``--acl`` whose clients see the change at once."""

from __future__ import annotations

import imaplib
import json
from pathlib import Path

from tests.cli._support import mf, ok
from tests.support.server import ServerProcess


def names(c: imaplib.IMAP4) -> set[str]:
    typ, data = c.list()
    assert typ == "OK"
    return {d.decode().rsplit(" ", 1)[1].strip('"') for d in data if isinstance(d, bytes)}


def test_acl_commands_beside_a_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--acl") as srv:
        store = ["--store", srv.store]
        alice = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        alice.login("alice", "secret")
        assert alice.create("Projects")[0] == "OK"
        bob = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        bob.login("bob", "hunter2")
        assert "shared/alice/Projects" not in names(bob)

        assert ok("acl", "set", "alice", "Projects", "bob", "lrs", *store).strip()
        assert "shared/alice/Projects" in names(bob)
        acl = json.loads(ok("acl", "get", "alice", "Projects", "--json", *store))
        assert acl == [{"identifier": "alice", "rights": "lrwstipekxacd"},
                       {"identifier": "bob", "rights": "lrs"}]
        assert ok("acl", "rights", "alice", "Projects", "--for", "bob", *store).strip() == "lrs"
        assert ok("acl", "rights", "alice", "Projects", "--for", "carol", *store).strip() == "(none)"
        assert ok("acl", "shared", "bob", *store).split() == ["shared/alice/Projects", "lrs"]
        ok("acl", "set", "alice", "Projects", "bob", "+w", *store)
        ok("acl", "set", "alice", "Projects", *store, "--", "-bob", "s")
        assert ok("acl", "rights", "alice", "Projects", "--for", "bob", *store).strip() == "lrw"
        assert bob.select("shared/alice/Projects")[0] == "OK"

        r = mf("acl", "set", "alice", "Projects", "bob", "lrQ", *store)
        assert r.returncode == 2 and b"Uppercase rights are not allowed" in r.stderr
        r = mf("acl", "get", "alice", "Nope", *store)
        assert r.returncode == 1 and r.stderr.count(b"\n") == 1

        ok("acl", "delete", "alice", "Projects", "bob", *store)
        ok("acl", "delete", "alice", "Projects", *store, "--", "-bob")
        assert "shared/alice/Projects" not in names(bob)
        assert ok("acl", "get", "alice", "Projects", *store).split() == ["alice", "lrwstipekxacd"]
        r = mf("acl", "get", "alice", "Projects", "--store", "memory")
        assert r.returncode == 1
        alice.logout()
        bob.logout()
