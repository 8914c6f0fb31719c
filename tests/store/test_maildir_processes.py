"""One Maildir folder served by several processes at once (``--workers``,
or mailframe beside Dovecot): no reader ever sees a half-written or
replaced ``dovecot-uidlist`` / ``mailframe-index`` as corrupt, and every
session sees a change another process committed at its next command.

The other process is a real one (``python`` in a subprocess, driving its
own :class:`MaildirStore` on the same files); nothing is mocked.  These
are the imaptest ``--acl shared`` failures of CI: a SELECT answered
``NO [SERVERBUG]`` with ``CorruptUidList``, a poll failed with
``CorruptIndex``, and a NOOP missed another worker's APPEND.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.records import NewMessage
from mailframe.store._maildir_files import _HOST
from mailframe.store._maildir_index import IndexFile
from mailframe.store._maildir_uidlist import UidList
from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

MSG = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: The other process: reads one command a line, answers one line.
#:   cycle K   delete "Team" (if there), create it, append K messages
#:   append K  append K messages to "Team"
#:   churn K   K times: append one message to "Team" and expunge it
CHILD = r"""
import sys
from mailframe.records import NewMessage, StoreMode
from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

store = MaildirStore(sys.argv[1], threads=False)
acct = result(store.account("alice"))
msg = b"From: b@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"
n = 0
for line in sys.stdin:
    cmd, k = line.split()
    k = int(k)
    if cmd == "cycle":
        try:
            result(acct.delete_mailbox("Team"))
        except Exception:
            pass
        result(acct.create_mailbox("Team"))
    box = result(acct.mailbox("Team"))
    if cmd == "churn":
        for _ in range(k):
            n += 1
            uid = result(box.append(msg % (n, n)))
            result(box.store([uid], StoreMode.ADD, frozenset({"\\Deleted"})))
            result(box.expunge([uid]))
    else:
        for _ in range(k):
            n += 1
            result(box.append(msg % (n, n)))
    snap = result(box.snapshot())
    print(snap.uidvalidity, " ".join(str(m.uid) for m in snap.messages), flush=True)
"""


class Other:
    """The other process."""

    def __init__(self, root: str) -> None:
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
            text=True,
        )

    def ask(self, command: str) -> tuple[int, list[int]]:
        """Send one command; (UIDVALIDITY, UIDs) once it is committed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the other process died ({self.proc.wait()})"
        validity, _, uids = line.partition(" ")
        return int(validity), [int(u) for u in uids.split()]

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(60)
        self.proc.stdout.close()


class TwoProcesses(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-maildir-procs-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.other = Other(self.root)
        self.addCleanup(self.other.close)

    def test_a_mailbox_deleted_and_created_again_elsewhere_reads_whole(self) -> None:
        """imaptest deletes and creates its mailbox before every test
        group, in whichever worker its first connection landed.  The
        files of the new mailbox often get the inode numbers of the old
        one's (ext4 and tmpfs reuse freed inodes at once; here they
        alternate between two numbers), so a reader that told files apart
        by inode read the new uidlist and index from the old ones'
        offsets: ``CorruptUidList``, ``CorruptIndex``, or a wrong mailbox.
        This process keeps its folder object throughout, as a worker does,
        and looks at the mailbox after one, two or three cycles."""
        store = MaildirStore(self.root, threads=False)
        self.other.ask("cycle 1")
        acct = result(store.account("alice"))
        for i in range(40):
            for j in range(1 + i % 3):
                validity, uids = self.other.ask(f"cycle {(i + j) % 4}")
            box = result(acct.mailbox("Team"))
            snap = result(box.snapshot())
            self.assertEqual(
                (snap.uidvalidity, [m.uid for m in snap.messages]), (validity, uids), f"cycle {i}"
            )
            status = result(box.status())
            self.assertEqual(status.messages, len(uids))

    def test_a_reader_refreshing_while_another_process_writes_never_sees_it_torn(self) -> None:
        """The other process appends and expunges over and over, so its
        uidlist is appended to and replaced by rename (compaction of dead
        records), and its index is appended to and checkpointed, while
        this process refreshes its view in a loop on another thread.  No
        read may fail, and once the writer is done the reader sees exactly
        its mailbox."""
        self.other.ask("cycle 0")
        store = MaildirStore(self.root, threads=False)
        box: Any = result(result(store.account("alice")).mailbox("Team"))
        folder = box.folder
        errors: list[BaseException] = []
        stop = threading.Event()

        def reader() -> None:
            try:
                while not stop.is_set():
                    folder.refresh()
                    folder.uidlist.refresh()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t = threading.Thread(target=reader)
        t.start()
        try:
            for _ in range(6):
                validity, uids = self.other.ask("churn 120")
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])
        snap = result(box.snapshot())
        self.assertEqual((snap.uidvalidity, [m.uid for m in snap.messages]), (validity, uids))

    def test_files_replaced_twice_are_read_again(self) -> None:
        """The smallest case: a reader's uidlist and index are replaced by
        rename twice between two reads (the second replacement usually
        gets the first file's inode back).  The reader must notice."""
        self.other.ask("cycle 2")
        path = os.path.join(self.root, "alice", ".Team")
        uidlist = UidList(os.path.join(path, "dovecot-uidlist"))
        index = IndexFile(os.path.join(path, "mailframe-index"))
        for i in range(20):
            uidlist.refresh()
            index.read()
            validity, uids = self.other.ask(f"cycle {i % 3}")
            self.assertTrue(index.stat_changed(), f"cycle {i}")
            uidlist.refresh()
            self.assertEqual((uidlist.uidvalidity, sorted(uidlist.names)), (validity, uids))
            checkpoint, _events = index.read()
            self.assertIsNotNone(checkpoint, f"cycle {i}: the new index read as more events")
        uidlist.close()
        index.forget()


class OtherWorkerThenNoop(TestCase):
    """The threaded store, as a server worker runs it."""

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-maildir-procs-")
        self.addCleanup(shutil.rmtree, self.root, True)

    async def test_noop_while_the_folder_is_busy_sees_another_process_append(self) -> None:
        """The NOOP arrives while this process's worker for the folder is
        busy (another session's FETCH, or the refresh an inotify hint
        queued).  Answering it from memory, as this process knew the
        mailbox before, missed the APPEND the other worker had committed
        and acknowledged: imaptest's ``append`` group saw no ``1 EXISTS``
        (RFC 3501 §6.1.2: NOOP reports the mailbox's new state).  A second
        store on the same root stands for the other worker process."""
        mine = MaildirStore(self.root, threads=True)
        other = MaildirStore(self.root, threads=True)
        self.addCleanup(mine.close)
        self.addCleanup(other.close)
        box: Any = await (await mine.account("alice")).mailbox("INBOX")
        theirs: Any = await (await other.account("alice")).mailbox("INBOX")
        snap = await box.snapshot()
        self.assertEqual(await box.claim_recent(), (1, 1))
        unwatch = box.watch(lambda: None)  # a selected session watches
        self.addCleanup(unwatch)
        appended = await theirs.append_many([NewMessage(MSG % (1, 1))])
        gate = threading.Event()
        busy = box.folder.worker.submit(gate.wait, 30)  # e.g. a long FETCH
        try:
            changes = box.changes_since(snap.highestmodseq)
        finally:
            gate.set()
        await busy
        changes = await changes
        self.assertEqual([m.uid for m in changes.changed], list(appended.uids))


def test_status_recent_counts_claims_made_in_another_process() -> None:
    """STATUS RECENT (RFC 3501 §6.3.10) counts the messages no session has
    claimed, in any process: a session of the other worker that selected
    the mailbox claimed the new message, so this worker's STATUS says
    RECENT 0 (imaptest's ``append`` group; Dovecot reads the first recent
    UID from its index header)."""
    root = tempfile.mkdtemp(prefix="mf-maildir-procs-")
    try:
        this, other = MaildirStore(root, threads=False), MaildirStore(root, threads=False)
        mine: Any = result(result(this.account("alice")).mailbox("INBOX"))
        theirs: Any = result(result(other.account("alice")).mailbox("INBOX"))
        result(mine.snapshot())
        result(theirs.append_many([NewMessage(MSG % (1, 1))]))
        assert result(mine.status()).recent == 1  # nobody claimed it yet
        assert result(theirs.claim_recent()) == (1, 2)  # their SELECT
        counts = result(mine.status())
        assert (counts.messages, counts.recent) == (1, 0)
        assert result(mine.claim_recent()) == (2, 2)
    finally:
        shutil.rmtree(root, True)


def test_a_recent_claim_does_not_wait_for_the_uidlist_lock() -> None:
    """SELECT's \\Recent claim (RFC 3501 §2.3.2) takes turns with other
    mailframe processes on ``mailframe-recent`` alone: it neither waits
    for a writer holding ``dovecot-uidlist.lock`` (another worker's
    APPEND, Dovecot) nor creates or renames a file (after a burst of
    fsynced APPENDs, every such step waited for the file system's
    journal).  The value is rewritten in place."""
    root = tempfile.mkdtemp(prefix="mf-maildir-procs-")
    try:
        store = MaildirStore(root, threads=False)
        box: Any = result(result(store.account("alice")).mailbox("INBOX"))
        result(box.append_many([NewMessage(MSG % (i, i)) for i in range(2)]))
        result(box.snapshot())
        other = MaildirStore(root, threads=False)  # another worker, SELECTing next
        theirs: Any = result(result(other.account("alice")).mailbox("INBOX"))
        folder = box.folder
        folder.scanner._recheck_at = None  # no same-second recheck due (it lists under the lock)
        folder.lock.timeout = 0.2  # the old claim failed with LockTimeout here
        lock = os.path.join(root, "alice", "dovecot-uidlist.lock")
        with open(lock, "w") as f:
            f.write(f"1:{_HOST}")  # a live process's lock (pid 1 never dies)
        floor = os.path.join(root, "alice", "mailframe-recent")
        assert result(box.claim_recent()) == (1, 3)
        ino = os.stat(floor).st_ino
        theirs.folder.scanner._recheck_at = None
        assert result(theirs.claim_recent()) == (3, 3)  # nothing left for them
        assert os.stat(floor).st_ino == ino
        with open(floor, "rb") as f:
            assert f.read().split() == [str(result(box.status()).uidvalidity).encode(), b"3"]
    finally:
        shutil.rmtree(root, True)
