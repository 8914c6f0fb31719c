"""An mbox file over 2 GiB served correctly by a running server: SELECT,
FETCH of the message past 2^31, APPEND, STORE and EXPUNGE with offsets past
2^31, all without rewriting or reading the big message more than once.

The file is built in a moment: its middle message's body is a hole
(``seek`` past the end), so the file is sparse; had anything rewritten the
big message the hole would be filled with real blocks, which the test
checks for (st_blocks) beside the inode (an in-place tail rewrite keeps
it).
"""

from __future__ import annotations

import imaplib
import os
from datetime import UTC, datetime
from pathlib import Path

from mailframe.store import _mbox_format as fmt
from tests.support.server import ServerProcess

BIG = (1 << 31) + (1 << 28)  # 2.25 GiB of body
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FIRST = b"From: a@example.org\nSubject: first\n\nhello\n"
LAST = b"From: a@example.org\nSubject: last\n\npast two gigabytes\n"
VALIDITY = 1234567


def build(path: Path) -> int:
    """pseudo-message, a small message, the big one, a small one; the
    offset of the last message."""
    with open(path, "wb") as f:
        f.write(fmt.pseudo_message(VALIDITY, 3, []))
        for uid, msg in ((1, FIRST), (2, None), (3, LAST)):
            if msg is None:
                head = b"From: a@example.org\nSubject: big\n\n"
                f.write(fmt.message_bytes(fmt.from_line(WHEN), head, BIG, uid, {"\\Seen"}))
                f.write(b"start of a big body\n")
                f.seek(BIG - len(b"start of a big body\n") - len(b"end\n"), os.SEEK_CUR)
                f.write(b"end\n\n")
                last = f.tell()
                continue
            head, body, _ = fmt.split_message(msg)
            f.write(fmt.message_bytes(fmt.from_line(WHEN), head, len(body), uid, set()))
            f.write(body + b"\n")
    return last


def test_a_mailbox_over_2_gib(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    (root / "alice").mkdir(parents=True)
    inbox = root / "alice" / "inbox"
    last_offset = build(inbox)
    assert last_offset > 1 << 31
    st = os.stat(inbox)
    assert st.st_size > BIG and st.st_blocks * 512 < 64 << 20, "the file is not sparse"

    with ServerProcess(tmp_path / "server", store=f"mbox:{root}/%u") as server:
        c = imaplib.IMAP4("127.0.0.1", server.imap_port)
        c.login("alice", server.users["alice"])
        typ, data = c.select("INBOX")
        assert typ == "OK" and data == [b"3"], data
        assert c.untagged_responses["UIDVALIDITY"] == [str(VALIDITY).encode()]
        typ, data = c.uid("FETCH", "1:*", "(RFC822.SIZE FLAGS)")
        assert typ == "OK"
        sizes = {int(d.split(b"UID ")[1].split()[0]): int(d.split(b"RFC822.SIZE ")[1].split()[0])
                 for d in data if isinstance(d, bytes)}
        big_served = len(b"From: a@example.org\r\nSubject: big\r\n\r\n") + BIG + 2  # LFs as CRLF
        crlf = {1: len(FIRST.replace(b"\n", b"\r\n")), 3: len(LAST.replace(b"\n", b"\r\n"))}
        assert sizes == {**crlf, 2: big_served}, sizes
        typ, data = c.uid("FETCH", "3", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == LAST.replace(b"\n", b"\r\n"), data
        typ, data = c.uid("FETCH", "2:3", "(INTERNALDATE)")  # the big one is never parsed
        assert typ == "OK" and all(b"\"02-Jan-2026 03:04:05 +0000\"" in d for d in data), data

        new = b"From: b@example.org\r\nSubject: appended\r\n\r\nafter the big one\r\n"
        typ, data = c.append("INBOX", "(\\Flagged)", None, new)
        assert typ == "OK" and b"APPENDUID %d 4]" % VALIDITY in data[0], data
        assert c.uid("STORE", "3", "+FLAGS", "(\\Deleted)")[0] == "OK"
        typ, data = c.expunge()
        assert typ == "OK" and data == [b"3"], data
        typ, data = c.uid("FETCH", "4", "(FLAGS BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == new and b"\\Flagged" in data[0][0], data
        c.logout()
        after = os.stat(inbox)
        assert after.st_ino == st.st_ino, "the file was rewritten whole"
        assert after.st_blocks * 512 < 64 << 20, "the big message was copied"
        with open(inbox, "rb") as f:  # the file's tail, as Dovecot and mutt read it
            f.seek(last_offset)
            tail = f.read()
        assert tail.startswith(b"From ") and b"Subject: appended" in tail
        assert b"Subject: last" not in tail and b"X-UID: 4\r\n" in tail

    # and a fresh server (no index) scans the file again to the same state
    for cache in (root / "alice" / ".mailframe").rglob("*.json"):
        cache.unlink()
    with ServerProcess(tmp_path / "server2", store=f"mbox:{root}/%u") as server:
        c = imaplib.IMAP4("127.0.0.1", server.imap_port)
        c.login("alice", server.users["alice"])
        typ, data = c.select("INBOX")
        assert typ == "OK" and data == [b"3"], data
        typ, data = c.uid("FETCH", "4", "(BODY.PEEK[TEXT])")
        assert typ == "OK" and data[0][1] == b"after the big one\r\n", data
        c.logout()


def test_bare_lfs_are_counted_across_read_chunks(tmp_path: Path) -> None:
    """A CRLF split between two 1 MiB reads is not a bare LF; a bare LF
    right after a chunk ending in a CR-less byte is (RFC822.SIZE counts
    each bare LF as CRLF)."""
    import io

    chunk = 1 << 20
    for tail, bare in ((b"\r\n", 0), (b"x\n", 1), (b"\n\n", 2)):
        body = b"a" * (chunk - 1) + tail + b"line\r\n"
        raw = (fmt.from_line(WHEN) + b"Subject: s\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body + b"\n")
        path = tmp_path / "box"
        path.write_bytes(raw)
        with open(path, "rb") as f:
            on_disk = fmt.scan(f).entries[0]
        in_memory = fmt.scan(io.BytesIO(raw)).entries[0]
        for e in (on_disk, in_memory):
            assert e.extra == bare, (tail, e.extra)
            assert e.served_size == len(b"Subject: s\r\n\r\n") + len(body) + bare
