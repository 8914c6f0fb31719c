"""STATUS=SIZE (RFC 8438) through real clients: IMAPClient's
folder_status and imaplib's status read the mailbox size and the
\\Deleted count (RFC 9051 STATUS DELETED) the server keeps."""

from __future__ import annotations

import imaplib

from imapclient import IMAPClient

from tests.interop import messages as M
from tests.interop.conftest import Account


def test_imapclient_folder_status_size(account: Account) -> None:
    c = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    try:
        c.login(account.user, account.password)
        assert b"STATUS=SIZE" in c.capabilities()
        c.append("INBOX", M.SIMPLE)
        c.append("INBOX", M.MULTIPART, flags=[b"\\Deleted"])
        status = c.folder_status("INBOX", [b"SIZE", b"DELETED", b"MESSAGES"])
        assert status[b"SIZE"] == len(M.SIMPLE) + len(M.MULTIPART)
        assert status[b"DELETED"] == 1
        assert status[b"MESSAGES"] == 2
        c.select_folder("INBOX")
        sizes = c.fetch(c.search("ALL"), ["RFC822.SIZE"])
        assert sum(v[b"RFC822.SIZE"] for v in sizes.values()) == status[b"SIZE"]
    finally:
        c.logout()


def test_imaplib_status_size(account: Account) -> None:
    c = imaplib.IMAP4(account.host, account.port, timeout=10)
    try:
        c.login(account.user, account.password)
        c.append("INBOX", None, None, M.SIMPLE)
        typ, data = c.status("INBOX", "(SIZE DELETED)")
        assert typ == "OK"
        assert data == [b"INBOX (SIZE %d DELETED 0)" % len(M.SIMPLE)]
    finally:
        c.logout()
