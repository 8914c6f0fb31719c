"""IMAP4rev2 (RFC 9051) over a real socket against ``twistd mailframe``:
a session that sends ``ENABLE IMAP4rev2`` gets rev2 answers (no RECENT or
``\\Recent``, ESEARCH for SEARCH, a LIST response in SELECT, UTF-8
mailbox names), while an imaplib session beside it, speaking rev1, sees
exactly what it always saw."""

from __future__ import annotations

from tests.interop.conftest import Account
from tests.interop.imaplib_support import RecordingIMAP4, connect, ok


def _command(c: RecordingIMAP4, *args: str) -> list[bytes]:
    typ, data = c._simple_command(*args)
    assert typ == "OK", (args, data, c.lines)
    if args[0] in ("SELECT", "EXAMINE"):
        c.state = "SELECTED"
    return c.take()


def test_rev2_session_beside_rev1_session(account: Account) -> None:
    rev1 = connect(account)
    rev2 = connect(account)
    assert {"IMAP4REV1", "IMAP4REV2"} <= set(rev2.capabilities)  # imaplib upper-cases them
    ok(rev1.append("INBOX", None, None, b"Subject: one\r\n\r\n1\r\n"))
    ok(rev1.append("INBOX", "(\\Seen)", None, b"Subject: two\r\n\r\n2\r\n"))
    rev1.take()

    assert _command(rev2, "ENABLE", "IMAP4rev2")[0] == b"* ENABLED IMAP4rev2"
    rev2._encoding = "utf-8"  # what imaplib does once UTF-8 is on (it knows UTF8=ACCEPT only)
    lines = _command(rev2, "SELECT", "INBOX")
    assert not any(b"RECENT" in line or b"[UNSEEN" in line for line in lines), lines
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in lines
    assert b"* 2 EXISTS" in lines
    fetched = _command(rev2, "FETCH", "1:*", "(FLAGS)")
    assert fetched[:2] == [b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS (\\Seen))"]
    assert _command(rev2, "SEARCH", "ALL")[0] == b'* ESEARCH (TAG "%s") ALL 1:2' % _last_tag(rev2)
    assert _command(rev2, "UID", "SEARCH", "UNSEEN")[0] == b'* ESEARCH (TAG "%s") UID ALL 1' % _last_tag(rev2)
    assert _command(rev2, "SEARCH", "DELETED")[0] == b'* ESEARCH (TAG "%s")' % _last_tag(rev2)

    # UTF-8 mailbox names both ways (RFC 9051 §5.1).
    _command(rev2, "CREATE", '"Träume"')
    names = _command(rev2, "LIST", '""', '"*"')
    assert '* LIST (\\HasNoChildren) "/" "Träume"'.encode() in names, names
    assert _command(rev2, "STATUS", '"Träume"', "(MESSAGES DELETED SIZE)")[0] == (
        '* STATUS "Träume" (MESSAGES 0 DELETED 0 SIZE 0)'.encode()
    )

    # The rev1 session: \Recent, RECENT, SEARCH and modified UTF-7 as ever.
    typ, data = rev1.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    lines = rev1.take()
    assert b"* 2 RECENT" in lines and b"* OK [UNSEEN 1] First unseen." in lines
    assert not any(line.startswith(b"* LIST") for line in lines)
    typ, data = rev1.search(None, "ALL")
    assert (typ, data) == ("OK", [b"1 2"])
    typ, data = rev1.list('""', "Tr*")
    assert typ == "OK" and data == [b'(\\HasNoChildren) "/" Tr&AOQ-ume']
    rev1.logout()
    rev2.logout()


def _last_tag(c: RecordingIMAP4) -> bytes:
    """The tag imaplib used for its last command."""
    return c.tagpre + str(c.tagnum - 1).encode()
