"""A message file renamed by another process (a flag change through
another --workers worker) while this one reads it: the read follows the
rename instead of answering NO [EXPUNGEISSUED] for a message that exists
(found by imaptest's 50-client stress on --workers 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def test_read_follows_renames_made_elsewhere_even_during_the_retry(tmp_path: Path) -> None:
    a, b = MaildirStore(str(tmp_path)), MaildirStore(str(tmp_path))
    mine = result(result(a.account("alice")).mailbox("INBOX"))
    theirs = result(result(b.account("alice")).mailbox("INBOX"))
    uid = result(theirs.append(MESSAGE))
    assert len(result(mine.snapshot()).messages) == 1  # A knows the file's name now
    result(theirs.store([uid], "add", frozenset({"\\Seen"})))  # B renames it

    # ... and renames it once more while A is looking for it (A's first
    # catch-up reads B's index lines, which name the file B's first
    # rename left and say what B did to cur/, so A lists no directory)
    folder = mine.folder
    real_refresh = folder.refresh
    renamed: list[bool] = []

    def refresh() -> Any:
        log = real_refresh()
        if not renamed:
            renamed.append(True)
            result(theirs.store([uid], "add", frozenset({"\\Flagged"})))
        return log

    folder.refresh = refresh  # type: ignore[method-assign]
    with folder.open_file(uid) as f:  # with the name A knew before B's renames
        assert f.read() == MESSAGE
    assert renamed
