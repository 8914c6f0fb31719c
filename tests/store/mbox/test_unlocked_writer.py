"""A writer that drops its lock mid-rewrite (neomutt, mutt) is not read
half-way.

neomutt takes an fcntl lock on the mbox, then closes a second descriptor of
the same file, which drops the lock (POSIX record locks belong to the
process), and rewrites the file in place unlocked: the new text over the
old, then ``ftruncate``.  Between the two the file holds the new messages
followed by the tail of the old ones, which scans as one more message with
a UID already taken.  Numbering that "new" message would mean rewriting the
file under neomutt; announcing it would tell clients of a message that
never existed.  :func:`mailframe.store._mbox_file._unsettled` makes such a
scan wait until the file has been still for ``SETTLE`` seconds.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from mailframe.store import _mbox_format as fmt
from mailframe.store._mbox_file import Found, MboxFile

BASE = (b"From MAILER-DAEMON Mon Dec  7 00:00:00 2026\n"
        b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
        b"X-IMAP: 7 0000000003\n\n"
        b"internal data\n\n")


def message(subject: bytes, uid: int, status: bytes, x_status: bytes = b"",
            lines: int = 1) -> bytes:
    return (b"From a@example.org Mon Dec  7 00:00:00 2026\n"
            b"From: a@example.org\nSubject: " + subject + b"\n"
            b"X-UID: %d\nStatus: %s\nX-Status: %s\n\n" % (uid, status, x_status)
            + b"body of " + subject + b"\n" * lines + b"\n")


# the file as mailframe left it, and neomutt's rewrite of it: alpha
# flagged, beta (long, so the new text ends before the old gamma) deleted,
# gamma marked unread
OLD = (BASE + message(b"alpha", 1, b"O") + message(b"beta", 2, b"O", lines=40)
       + message(b"gamma", 3, b"RO"))
NEW = BASE + message(b"alpha", 1, b"O", b"F") + message(b"gamma", 3, b"O")


def test_half_written_rewrite_is_not_numbered_or_served(tmp_path: Path) -> None:
    path = str(tmp_path / "inbox")
    with open(path, "wb") as f:
        f.write(OLD)
    mbox = MboxFile(path)
    first = mbox.scan_if_changed(fmt.Scan(), None, uidvalidity=7, uidnext=4)
    assert first is not None
    known, known_ident = first
    assert [e.uid for e in known.entries] == [1, 2, 3]
    # the half-way state really does scan as a third message without a UID
    middle = NEW + OLD[len(NEW):]
    assert [e.uid for e in fmt.scan(io.BytesIO(middle)).entries] == [1, 3, 0]

    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, NEW, 0)                 # the new text over the old, unlocked
        found: list[Found | None] = []
        reader = threading.Thread(target=lambda: found.append(
            mbox.scan_if_changed(known, known_ident, uidvalidity=7, uidnext=4)))
        reader.start()
        threading.Event().wait(0.05)          # neomutt's copy loop, then
        os.ftruncate(fd, len(NEW))            # the old tail cut off
    finally:
        os.close(fd)
    reader.join(30)
    assert not reader.is_alive()
    assert found and found[0] is not None
    scan, _ = found[0]
    assert [(e.uid, e.flags) for e in scan.entries] == [
        (1, frozenset({"\\Flagged"})), (3, frozenset())]
    # nothing was numbered into the file under the other writer
    with open(path, "rb") as f:
        assert f.read() == NEW


@pytest.mark.parametrize("settle", [0.0, 0.2])
def test_a_finished_foreign_delivery_is_numbered(tmp_path: Path, settle: float) -> None:
    """A delivery without a UID (procmail, Postfix) that is finished gets
    its UID: the settle wait only delays it."""
    path = str(tmp_path / "inbox")
    with open(path, "wb") as f:
        f.write(OLD)
    mbox = MboxFile(path, settle=settle)
    first = mbox.scan_if_changed(fmt.Scan(), None, uidvalidity=7, uidnext=4)
    assert first is not None
    with open(path, "ab") as f:
        f.write(b"From b@example.org Mon Dec  7 00:00:01 2026\nSubject: new\n\nhello\n\n")
    found = mbox.scan_if_changed(*first, uidvalidity=7, uidnext=4)
    assert found is not None
    assert [e.uid for e in found[0].entries] == [1, 2, 3, 4]
    with open(path, "rb") as f:
        assert b"X-UID: 4" in f.read()
