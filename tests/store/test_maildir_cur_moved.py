"""A mailframe writer's own change of ``cur/`` is followed by the other
processes from its index lines, without listing ``cur/`` again (issue 16:
under the mixed load each --workers worker re-listed the 2 000-file
``cur/`` after every other worker's STORE, ~9 % of the server's CPU);
a change by another program is still found (RFC 3501 §7: the server
reports what changed), at the latest by the recheck a second later.

Two stores on one root stand for two processes (each its own folders,
index readers and scanner)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

MESSAGE = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody\r\n"


def two_processes(tmp_path: Path) -> tuple[Any, Any, list[bool]]:
    a, b = MaildirStore(str(tmp_path)), MaildirStore(str(tmp_path))
    mine = result(result(a.account("alice")).mailbox("INBOX"))
    theirs = result(result(b.account("alice")).mailbox("INBOX"))
    for i in range(3):
        result(theirs.append(MESSAGE % i))
    assert len(result(mine.snapshot()).messages) == 3
    mine.folder.scanner._recheck_at = None  # no same-second recheck due
    scans: list[bool] = []
    real_scan = mine.folder.scanner.scan

    def scan(full: bool = True, followed: bool = False) -> None:
        scans.append(full)
        real_scan(full, followed)

    mine.folder.scanner.scan = scan
    return mine, theirs, scans


def flags(box: Any) -> dict[int, frozenset[str]]:
    return {m.uid: m.flags for m in result(box.snapshot()).messages}


def test_another_writers_store_is_read_from_the_index_alone(tmp_path: Path) -> None:
    mine, theirs, scans = two_processes(tmp_path)
    result(theirs.store([1, 3], "add", frozenset({"\\Seen"})))
    result(theirs.store([2], "add", frozenset({"\\Flagged"})))
    assert flags(mine) == {1: {"\\Seen"}, 2: {"\\Flagged"}, 3: {"\\Seen"}}
    assert scans == []
    result(theirs.store([3], "add", frozenset({"\\Deleted"})))
    assert result(theirs.expunge()) == [3]
    assert sorted(flags(mine)) == [1, 2]
    assert scans == []
    # each file is where the index says: a read opens it at once
    assert result(mine.read(2)) == MESSAGE % 1


def test_a_rename_by_another_program_is_still_found(tmp_path: Path) -> None:
    """A rename by a program keeping no index (mutt, Dovecot) beside a
    mailframe writer's: the recheck after the followed change lists
    ``cur/`` and reports it."""
    mine, theirs, scans = two_processes(tmp_path)
    result(theirs.store([1], "add", frozenset({"\\Seen"})))
    folder = tmp_path / "alice"
    name = mine.folder.meta[2].name  # "cur/<base>:2,"
    os.rename(folder / name, folder / (name.split(":2,")[0] + ":2,F"))
    assert flags(mine)[1] == {"\\Seen"}  # followed from the index
    mine.folder.scanner._recheck_at = 0.0  # the recheck is due
    assert flags(mine)[2] == {"\\Flagged"}
    assert scans
