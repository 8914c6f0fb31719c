"""IMAPClient (PyPI ``imapclient``) against a real ``twistd mailframe``:
the user-level API (UIDs, parsed ENVELOPE/BODYSTRUCTURE, folder names as
str through modified UTF-7), RFC 3501 plus UIDPLUS, MOVE, IDLE, NAMESPACE, ID."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.response_types import Address, Envelope

from tests.interop import messages as M
from tests.interop.conftest import Account


def client(account: Account, login: bool = True) -> IMAPClient:
    c = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    if login:
        c.login(account.user, account.password)
    return c


def test_login_capabilities_namespace_id(account: Account) -> None:
    c = client(account, login=False)
    with pytest.raises(LoginError):
        c.login(account.user, "nope")
    c.login(account.user, account.password)
    caps = c.capabilities()
    assert {b"IMAP4REV1", b"IDLE", b"UIDPLUS", b"MOVE", b"NAMESPACE", b"ID"} <= set(caps)
    ns = c.namespace()
    assert ns.personal == (("", "/"),)
    assert ns.other is None and ns.shared is None
    server_id = c.id_({"name": "interop-test"})
    fields = dict(zip(server_id[0][::2], server_id[0][1::2], strict=True))
    assert fields[b"name"] == b"mailframe" and fields[b"vendor"] == b"mailframe"
    c.logout()


def test_folders_unicode_names(account: Account) -> None:
    c = client(account)
    c.create_folder("Ärger")
    c.create_folder("Ärger/日本")
    c.create_folder("Plain")
    assert sorted(name for _, _, name in c.list_folders()) == ["INBOX", "Plain", "Ärger", "Ärger/日本"]
    assert [f for f in c.list_folders("Ärger/", "%")] == [((b"\\HasNoChildren",), b"/", "Ärger/日本")]
    assert c.folder_exists("Ärger/日本")
    c.subscribe_folder("Ärger/日本")
    assert [name for _, _, name in c.list_sub_folders()] == ["Ärger/日本"]
    c.rename_folder("Ärger", "Ärger-alt")
    assert sorted(name for _, _, name in c.list_folders()) == [
        "INBOX", "Plain", "Ärger-alt", "Ärger-alt/日本"]
    status = c.folder_status("Ärger-alt/日本", ["MESSAGES", "UIDNEXT", "UNSEEN"])
    assert status == {b"MESSAGES": 0, b"UIDNEXT": 1, b"UNSEEN": 0}
    c.delete_folder("Ärger-alt/日本")
    with pytest.raises(IMAPClientError, match="NONEXISTENT"):
        c.delete_folder("Ärger-alt/日本")
    c.logout()


def test_append_select_fetch_parsed(account: Account) -> None:
    c = client(account)
    when = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    resp = c.append("INBOX", M.MULTIPART, flags=(b"\\Seen", b"$Label1"), msg_time=when)
    assert resp.startswith(b"[APPENDUID ") and b" 1]" in resp
    c.append("INBOX", M.SIMPLE)
    info = c.select_folder("INBOX")
    assert info[b"EXISTS"] == 2
    assert info[b"RECENT"] == 2
    assert info[b"UIDNEXT"] == 3
    assert info[b"UIDVALIDITY"] == int(resp.split()[1])
    assert set(info[b"PERMANENTFLAGS"]) >= {b"\\Seen", b"\\Deleted", b"$Label1", b"\\*"}
    assert info[b"READ-WRITE"] is True

    got = c.fetch([1], ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE",
                        "BODY.PEEK[1]", "BINARY.PEEK[1]"])[1]
    assert set(got[b"FLAGS"]) == {b"\\Seen", b"$Label1", b"\\Recent"}
    # IMAPClient gives INTERNALDATE as a naive local time.
    assert got[b"INTERNALDATE"] == when.astimezone().replace(tzinfo=None)
    assert got[b"RFC822.SIZE"] == len(M.MULTIPART)
    env: Envelope = got[b"ENVELOPE"]
    assert env.subject == b"=?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file"
    assert env.date == dt.datetime(2023, 1, 3, 11, 30)
    assert env.from_ == (Address(b"=?utf-8?q?J=C3=BCrgen?=", None, b"jurgen", b"example.de"),)
    assert env.to == (Address(b"Alice", None, b"alice", b"example.org"),
                      Address(None, None, b"bob", b"example.net"))
    assert env.cc == (Address(None, None, b"carol", b"example.com"),)
    assert env.bcc is None and env.in_reply_to is None
    assert env.message_id == b"<multi-1@example.de>"
    bs = got[b"BODYSTRUCTURE"]
    assert bs.is_multipart
    parts, subtype = bs[0], bs[1]
    assert subtype == b"mixed"
    assert parts[0][:8] == (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"8bit", 39, 0)
    assert parts[1][:7] == (b"application", b"octet-stream", (b"name", b"blob.bin"), None, None,
                            b"base64", M.B64_SIZE - 2)
    assert got[b"BODY[1]"] == M.TEXT_PART_BODY[:-2]
    # (BINARY[2] holds NULs, so it comes as a literal8 "~{768}" that
    # IMAPClient's parser does not read; imaplib's test covers it.)
    assert got[b"BINARY[1]"] == M.TEXT_PART_BODY[:-2]
    c.logout()


def test_search_store_copy_move_expunge(account: Account) -> None:
    c = client(account)
    c.append("INBOX", M.SIMPLE)
    c.append("INBOX", M.MULTIPART, flags=(b"\\Seen",))
    c.append("INBOX", M.plain("Quarterly report", "numbers\r\n"), flags=(b"\\Flagged",))
    c.select_folder("INBOX")
    assert c.search(["OR", "SUBJECT", "lunch", "FLAGGED"]) == [1, 3]
    assert c.search(["NOT", "SEEN"]) == [1, 3]
    assert c.search(["SUBJECT", "Grüße"], charset="UTF-8") == [2]
    assert c.search(["BODY", "日本語"], charset="UTF-8") == [2]
    assert c.search(["SINCE", dt.date(2000, 1, 1)]) == [1, 2, 3]

    assert c.add_flags([1], [b"$Todo", b"\\Answered"]) == {1: (b"\\Answered", b"\\Recent", b"$Todo")}
    c.remove_flags([1], [b"\\Answered"])
    c.set_flags([3], [b"\\Draft"])
    flags = c.get_flags([1, 2, 3])
    assert {k: set(v) for k, v in flags.items()} == {
        1: {b"\\Recent", b"$Todo"}, 2: {b"\\Recent", b"\\Seen"}, 3: {b"\\Recent", b"\\Draft"}}

    c.create_folder("Keep")
    c.copy([1, 2], "Keep")
    c.move([3], "Keep")
    assert c.search() == [1, 2]
    c.delete_messages([1, 2])
    c.uid_expunge([1])
    assert c.search() == [2]
    c.expunge()
    assert c.search() == []
    c.select_folder("Keep", readonly=True)
    got = c.fetch([1, 2, 3], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "FLAGS"])
    assert {uid: (d[b"BODY[HEADER.FIELDS (SUBJECT)]"], set(d[b"FLAGS"]) - {b"\\Recent"})
            for uid, d in got.items()} == {
        1: (b"Subject: Lunch on Friday\r\n\r\n", {b"$Todo"}),
        2: (b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file\r\n\r\n", {b"\\Seen"}),
        3: (b"Subject: Quarterly report\r\n\r\n", {b"\\Draft"}),
    }
    c.logout()


def test_idle_hears_other_session(account: Account) -> None:
    c = client(account)
    c.select_folder("INBOX")
    c.idle()
    other = client(account)

    def later() -> None:
        time.sleep(0.2)
        other.append("INBOX", M.SIMPLE)

    t = threading.Thread(target=later)
    t.start()
    responses = c.idle_check(timeout=10)  # push latency: bench/bench_idle.py
    t.join()
    assert (1, b"EXISTS") in responses
    text, _ = c.idle_done()
    assert isinstance(text, bytes)  # the tagged OK's text
    # After IDLE the client is still in the mailbox and sees the message.
    assert c.search(["ALL"]) == [1]
    other.logout()
    c.logout()
