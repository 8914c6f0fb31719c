"""A read that finds ``cur/`` changed while another mailframe process is
between its renames and its commit waits for that writer's lock to go
(a shared ``flock``, outside the folder's refresh lock) and then follows
the writer's index lines, instead of listing ``cur/`` under the lock
(issue 16: under the mixed load each --workers worker ran ~300 such
scans in 15 s, each holding the lock every other read and write of the
folder waited for).  What the read answers is what it answered before:
the writer's change, once committed (RFC 3501 §7).

Two stores on one root stand for two processes; the writer runs in a
thread of its own and is held between its renames and its commit
(``_maildir_writes.commit``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from mailframe.store import _maildir_writes
from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

MESSAGE = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody\r\n"
#: seconds a thread may take before the test gives up (no timing asserted)
PATIENCE = 30


def test_a_read_during_another_writers_commit_waits_and_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = MaildirStore(str(tmp_path)), MaildirStore(str(tmp_path))
    mine = result(result(a.account("alice")).mailbox("INBOX"))
    theirs = result(result(b.account("alice")).mailbox("INBOX"))
    for i in range(3):
        result(theirs.append(MESSAGE % i))
    assert len(result(mine.snapshot()).messages) == 3
    scanner = mine.folder.scanner
    scanner._recheck_at = None  # no same-second recheck due
    scans: list[bool] = []
    real_scan = scanner.scan

    def scan(full: bool = True, followed: bool = False) -> None:
        scans.append(full)
        real_scan(full, followed)

    scanner.scan = scan

    renamed, go_on = threading.Event(), threading.Event()
    real_commit = _maildir_writes.commit

    def commit(*args: Any, **kwargs: Any) -> None:
        # the writer's files are renamed; its index line is not written yet
        renamed.set()
        assert go_on.wait(PATIENCE)
        real_commit(*args, **kwargs)

    monkeypatch.setattr(_maildir_writes, "commit", commit)
    writer = threading.Thread(
        target=lambda: result(theirs.store([2], "add", frozenset({"\\Flagged"})))
    )
    writer.start()
    assert renamed.wait(PATIENCE)

    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.append(result(mine.snapshot())))
    reader.start()
    reader.join(0.2)  # it waits for the writer's lock
    assert seen == []
    go_on.set()
    writer.join(PATIENCE)
    reader.join(PATIENCE)
    assert not writer.is_alive() and not reader.is_alive()

    flags = {m.uid: m.flags for m in seen[0].messages}
    assert flags == {1: frozenset(), 2: {"\\Flagged"}, 3: frozenset()}
    assert scans == []  # followed from the writer's index line, cur/ not listed
    assert result(mine.read(2)) == MESSAGE % 1


def test_a_read_waits_for_no_lock_its_own_process_holds(tmp_path: Path) -> None:
    """Inside a transaction of its own (the lock held by this folder) a
    refresh does not wait for the lock: it would wait for itself."""
    store = MaildirStore(str(tmp_path))
    box = result(result(store.account("alice")).mailbox("INBOX"))
    result(box.append(MESSAGE % 0))
    folder = box.folder
    with folder.lock:
        # cur/ as another program might have changed it
        (tmp_path / "alice" / "cur" / "x").write_bytes(b"")
        (tmp_path / "alice" / "cur" / "x").unlink()
        folder.scanner.settle()  # returns: no wait for our own lock
        assert len(folder.refresh()) == 1
