"""UIDONLY (RFC 9586) over a real socket against ``twistd mailframe``
(imaplib speaking raw commands, as no Python client knows UIDONLY yet)."""

from __future__ import annotations

import imaplib

import pytest

from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok


def test_uidonly_session(account: Account) -> None:
    c = connect(account)
    assert "UIDONLY" in c.capabilities
    for n in range(3):
        ok(c.append("INBOX", None, None, b"Subject: %d\r\n\r\nbody\r\n" % n))
    c.take()
    typ, data = c._simple_command("ENABLE", "UIDONLY")
    assert typ == "OK" and c.take()[0] == b"* ENABLED UIDONLY"
    ok(c.select("INBOX"))
    assert not any(b"[UNSEEN" in line for line in c.take())
    with pytest.raises(imaplib.IMAP4.error, match="UIDREQUIRED"):
        c.fetch("1", "(FLAGS)")
    c.take()
    ok(c.uid("FETCH", "1:*", "(FLAGS)"))
    assert c.take()[:3] == [b"* 1 UIDFETCH (FLAGS (\\Recent))", b"* 2 UIDFETCH (FLAGS (\\Recent))",
                            b"* 3 UIDFETCH (FLAGS (\\Recent))"]
    ok(c.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)"))
    c.take()
    ok(c.expunge())
    assert c.take()[0] == b"* VANISHED 2"
    c.logout()
