"""``mailframe mailbox`` straight on the store, beside a running server."""

from __future__ import annotations

import imaplib
import json
from pathlib import Path

from tests.cli._support import mf, ok
from tests.support.server import ServerProcess


def test_mailbox_commands_while_a_client_is_connected(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as srv:
        store = ["--store", srv.store]
        c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        c.login("alice", "secret")
        msg = b"From: x@y\r\nSubject: hello\r\n\r\nFrom the body\r\n"
        assert c.append("INBOX", "(\\Flagged)", None, msg)[0] == "OK"
        ok("mailbox", "create", "alice", "Projects/2026", *store)
        typ, data = c.list()
        names = b"\n".join(d for d in data if isinstance(d, bytes))
        assert b"Projects/2026" in names, data
        c.select("INBOX")
        assert ok("mailbox", "fetch", "alice", "INBOX", "1", *store).encode() == msg
        status = json.loads(ok("mailbox", "status", "alice", "INBOX", "--json", *store))
        assert (status["messages"], status["uidnext"]) == (1, 2)
        ok("mailbox", "rename", "alice", "Projects", "Archive", *store)
        listed = json.loads(ok("mailbox", "list", "alice", "--json", "--status", *store))
        assert [m["name"] for m in listed] == ["INBOX", "Archive", "Archive/2026"]
        assert listed[0]["status"]["messages"] == 1
        # the client's session carries on and sees the store's changes
        names = b"\n".join(d for d in c.list()[1] if isinstance(d, bytes))
        assert b"Archive/2026" in names and b"Projects" not in names
        ok("mailbox", "delete", "alice", "Archive/2026", *store)
        r = mf("mailbox", "delete", "alice", "Archive/2026", *store)
        assert r.returncode == 1 and r.stderr.count(b"\n") == 1
        r = mf("mailbox", "fetch", "alice", "INBOX", "9", *store)
        assert r.returncode == 1 and b"no message with UID 9" in r.stderr
        assert c.noop()[0] == "OK"
        c.logout()
