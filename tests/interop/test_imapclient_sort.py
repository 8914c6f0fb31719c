"""IMAPClient's sort(), thread() and search() with SEARCHRES-free criteria
through a real socket against ``twistd mailframe`` (Maildir): SORT (RFC
5256 §3), THREAD REFERENCES / ORDEREDSUBJECT, and the capabilities that
announce them."""

from __future__ import annotations

import datetime as dt

from imapclient import IMAPClient

from tests.interop.conftest import Account

MESSAGES = [
    b"From: zed@example.com\r\nSubject: Re: Lunch\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n\r\nyes\r\n",
    b"From: anna@example.com\r\nSubject: Lunch\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <a@x>\r\n\r\nlunch?\r\n",
    b"From: carol@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <c@x>\r\n\r\nx\r\n",
    b"From: bob@example.org\r\nSubject: Fwd: Lunch (fwd)\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n"
    b"References: <a@x> <b@x>\r\nMessage-ID: <d@x>\r\n\r\nfwd\r\n",
]


def test_sort_and_thread(account: Account) -> None:
    c = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    c.login(account.user, account.password)
    caps = set(c.capabilities())
    assert {b"SORT", b"SORT=DISPLAY", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT", b"ESORT"} <= caps
    base = dt.datetime(2024, 2, 1, 10, tzinfo=dt.UTC)
    for i, raw in enumerate(MESSAGES):
        c.append("INBOX", raw, msg_time=base + dt.timedelta(days=(i + 1) % 4))
    c.select_folder("INBOX")
    assert c.sort(["SUBJECT"]) == [3, 1, 2, 4]  # UIDs: CAFÉ before LUNCH, ties by number
    assert c.sort(["REVERSE", "DATE"]) == [3, 4, 1, 2]
    assert c.sort("FROM", ["NOT", "FROM", "zed"]) == [2, 4, 3]
    assert c.sort(["ARRIVAL"]) == [4, 1, 2, 3]
    assert c.thread("REFERENCES") == ((2, 1, 4), (3,))
    assert c.thread("ORDEREDSUBJECT", ["SUBJECT", "lunch"]) == ((2, (1,), (4,)),)
    c.logout()
