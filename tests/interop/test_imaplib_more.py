"""More imaplib interop: FETCH macros, RENAME INBOX, names needing quotes,
a large message through literals, and IDLE hearing flag changes and
expunges from another session."""

from __future__ import annotations

import hashlib
import os

from imapclient.response_parser import parse_fetch_response

from tests.interop import messages as M
from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok


def test_fetch_macros_fast_all_full(account: Account) -> None:
    c = connect(account)
    ok(c.append("INBOX", r"(\Seen)", '"03-Jan-2023 11:30:00 +0000"', M.SIMPLE))
    ok(c.select("INBOX"))
    c.take()
    fast = parse_fetch_response(ok(c.fetch("1", "FAST")), True, False)[1]
    assert set(fast) == {b"SEQ", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"}
    assert fast[b"RFC822.SIZE"] == len(M.SIMPLE)
    assert set(fast[b"FLAGS"]) == {b"\\Seen", b"\\Recent"}
    every = parse_fetch_response(ok(c.fetch("1", "ALL")), True, False)[1]
    assert set(every) == {b"SEQ", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"}
    assert every[b"ENVELOPE"].subject == b"Lunch on Friday"
    full = parse_fetch_response(ok(c.fetch("1", "FULL")), True, False)[1]
    assert set(full) == {b"SEQ", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"BODY"}
    assert full[b"BODY"][:2] == (b"text", b"plain")
    c.logout()


def test_rename_inbox_moves_messages_and_keeps_inbox(account: Account) -> None:
    """RFC 3501 6.3.5: renaming INBOX moves its messages to the new name
    and leaves INBOX empty."""
    c = connect(account)
    ok(c.append("INBOX", None, None, M.SIMPLE))
    ok(c.append("INBOX", None, None, M.MULTIPART))
    ok(c.rename("INBOX", "Old-Inbox"))
    assert ok(c.status("INBOX", "(MESSAGES)")) == [b"INBOX (MESSAGES 0)"]
    assert ok(c.status("Old-Inbox", "(MESSAGES)")) == [b"Old-Inbox (MESSAGES 2)"]
    ok(c.select("Old-Inbox"))
    assert ok(c.fetch("2", "(BODY.PEEK[])"))[0][1] == M.MULTIPART
    c.logout()


def test_names_with_spaces_quotes_and_8bit(account: Account) -> None:
    c = connect(account)
    ok(c.create('"Sent Items"'))
    ok(c.create('"Quote \\" and \\\\ backslash"'))
    ok(c.create('"Caf&AOk-"'))  # Café
    names = sorted(ok(c.list()))
    assert names == sorted([
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\HasNoChildren) "/" "Sent Items"',
        b'(\\HasNoChildren) "/" "Quote \\" and \\\\ backslash"',
        b'(\\HasNoChildren) "/" Caf&AOk-',
    ])
    ok(c.append('"Sent Items"', None, None, M.SIMPLE))
    assert ok(c.status('"Sent Items"', "(MESSAGES)")) == [b'"Sent Items" (MESSAGES 1)']
    # Invalid modified UTF-7 names no mailbox that can exist (RFC 3501
    # 5.1.3): NO, as Dovecot answers (issue 11, defect 4).
    c.take()
    try:
        c.create('"Bad&Jjo"')
    except c.error:
        pass
    assert c.take()[-1].split(b" ", 1)[1].startswith(b"NO Mailbox name is not valid mUTF-7")
    assert ok(c.list('""', "Bad*")) == [None]
    c.logout()


def test_large_message_roundtrip(account: Account) -> None:
    """A 4 MB message goes in as one literal and comes back byte-exact, in
    whole and in partial fetches."""
    blob = os.urandom(3 * 1024 * 1024)
    import base64

    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    message = (b"From: big@example.org\r\nSubject: big one\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
               b"\r\n" + b64)
    c = connect(account)
    ok(c.append("INBOX", None, None, message))
    ok(c.select("INBOX"))
    data = ok(c.fetch("1", "(RFC822.SIZE BODY.PEEK[])"))
    assert data[0][0].startswith(b"1 (RFC822.SIZE %d BODY[] {%d}" % (len(message), len(message)))
    assert hashlib.sha256(data[0][1]).digest() == hashlib.sha256(message).digest()
    data = ok(c.fetch("1", "(BODY.PEEK[TEXT]<1000000.5000>)"))
    assert data[0][1] == b64[1000000:1005000]
    data = ok(c.fetch("1", "(BINARY.PEEK[1])"))
    assert hashlib.sha256(data[0][1]).digest() == hashlib.sha256(blob).digest()
    c.logout()


def test_idle_hears_flags_and_expunge(account: Account) -> None:
    """While idling, a session hears other sessions' flag changes (FETCH)
    and expunges (EXPUNGE); both are allowed during IDLE (RFC 2177)."""
    other = connect(account)
    for i in range(3):
        ok(other.append("INBOX", None, None, M.plain(f"idle {i}")))
    watcher = connect(account)
    ok(watcher.select("INBOX"))
    ok(other.select("INBOX"))
    watcher.send(b"I1 IDLE\r\n")
    assert watcher.readline().startswith(b"+ ")
    watcher.sock.settimeout(1.0)
    ok(other.store("2", "+FLAGS", r"(\Flagged)"))
    assert watcher.readline() == b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n"
    ok(other.store("1", "+FLAGS.SILENT", r"(\Deleted)"))
    assert watcher.readline() == b"* 1 FETCH (FLAGS (\\Deleted \\Recent))\r\n"
    ok(other.expunge())
    assert watcher.readline() == b"* 1 EXPUNGE\r\n"
    watcher.sock.settimeout(5.0)
    watcher.send(b"DONE\r\n")
    assert watcher.readline().startswith(b"I1 OK")
    assert ok(watcher.fetch("1:*", "(UID)")) == [b"1 (UID 2)", b"2 (UID 3)"]
    other.logout()
    watcher.logout()


def test_list_status_esearch_and_special_use(account: Account) -> None:
    """What modern clients (K-9, Thunderbird) lean on: LIST-STATUS
    (RFC 5819), ESEARCH (RFC 4731) and SPECIAL-USE (RFC 6154) -- the last
    through IMAPClient's find_special_folder()."""
    from imapclient import IMAPClient
    from imapclient.imapclient import ARCHIVE

    c = connect(account)
    for i in range(5):
        ok(c.append("INBOX", r"(\Seen)" if i in (0, 2) else None, None, M.plain(f"es {i}")))
    c.take()
    ok(c._simple_command("LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES UNSEEN UIDNEXT))"))
    lines = c.take()
    assert lines[:2] == [b'* LIST (\\HasNoChildren) "/" INBOX',
                         b"* STATUS INBOX (MESSAGES 5 UNSEEN 3 UIDNEXT 6)"]

    ok(c.select("INBOX"))
    c.take()
    tag = c._command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "UNSEEN")
    c._command_complete("SEARCH", tag)
    esearch = [line for line in c.take() if line.startswith(b"* ESEARCH")]
    assert len(esearch) == 1
    head = b'* ESEARCH (TAG "%s") ' % tag
    assert esearch[0].startswith(head)
    words = esearch[0][len(head):].split()
    assert dict(zip(words[::2], words[1::2], strict=True)) == {
        b"MIN": b"2", b"MAX": b"5", b"COUNT": b"3", b"ALL": b"2,4:5"}

    tag = c._command("UID", "SEARCH", "RETURN", "(COUNT)", "SEEN")
    c._command_complete("UID", tag)
    assert [line for line in c.take() if line.startswith(b"* ESEARCH")] == [
        b'* ESEARCH (TAG "%s") UID COUNT 2' % tag]

    # A name no client would guess, so only SPECIAL-USE can find it.
    ok(c._simple_command("CREATE", '"Old Stuff"', "(USE (\\Archive))"))
    c.logout()
    client = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    client.login(account.user, account.password)
    assert client.find_special_folder(ARCHIVE) == "Old Stuff"
    client.logout()


def test_append_over_appendlimit_refused_before_data(account: Account) -> None:
    """A synchronizing literal over APPENDLIMIT (RFC 7889) is refused with
    NO [TOOBIG] instead of a continuation, so imaplib never sends the data;
    the connection then keeps working."""
    c = connect(account, login=False)
    limits = [cap for cap in c.capabilities if cap.startswith("APPENDLIMIT=")]
    assert len(limits) == 1
    limit = int(limits[0].split("=", 1)[1])
    ok(c.login(account.user, account.password))
    big = b"Subject: too big\r\n\r\n" + b"x" * (limit + 1 - 20)
    assert len(big) == limit + 1
    # the refusal comes instead of the "+" continuation: the data is never sent
    c.send(b"A1 APPEND INBOX {%d}\r\n" % len(big))
    line = c.readline()
    assert line.startswith(b"A1 NO [TOOBIG]"), line
    typ, data = c.append("INBOX", None, None, big)
    assert typ == "NO" and b"[TOOBIG]" in data[0]
    ok(c.append("INBOX", None, None, M.SIMPLE))
    assert ok(c.status("INBOX", "(MESSAGES)")) == [b"INBOX (MESSAGES 1)"]
    c.logout()
