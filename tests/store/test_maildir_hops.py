"""The threaded Maildir store answers from memory, without a trip through
the folder's worker, exactly when a refresh would find nothing new
(issue 10: SELECT went from 1.8 to 10.4 ms when every call became a
thread hop) — and never when another process or program changed the
folder (RFC 3501 §6.3.1: SELECT shows the mailbox as it is; §6.1.2 NOOP
reports what changed).

An already-fired Deferred is how a test sees that no job ran: with the
reactor running, a job's result is always handed over later."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.records import NewMessage
from mailframe.store.maildir import MaildirStore

MSG = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"


class MemoryAnswers(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-maildir-hops-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.store = MaildirStore(self.root, threads=True)
        self.addCleanup(self.store.close)

    async def selected(self) -> Any:
        """INBOX with two messages, selected: refreshed, \\Recent claimed."""
        acct = await self.store.account("u")
        box: Any = await acct.mailbox("INBOX")
        await box.append_many([NewMessage(MSG % (i, i)) for i in range(2)])
        await box.claim_recent()
        await box.snapshot()
        return box

    async def test_select_of_an_unchanged_mailbox_needs_no_job(self) -> None:
        """Opening, the snapshot, the \\Recent claim, the catch-up after
        the command and STATUS: all answered at once."""
        box = await self.selected()
        acct = await self.store.account("u")
        calls = [
            acct.mailbox("INBOX"),
            box.snapshot(),
            box.claim_recent(),
            box.changes_since(0),
            box.status(),
        ]
        self.assertEqual([d.called for d in calls], [True] * 5)
        snap = await calls[1]
        self.assertEqual([m.uid for m in snap.messages], [1, 2])
        self.assertEqual((await calls[4]).messages, 2)
        for d in calls:
            await d

    async def test_another_process_commit_is_read_from_disk(self) -> None:
        """Another worker process (a second store on the same root) appends:
        SELECT and the catch-up go to the disk and show it."""
        box = await self.selected()
        other = MaildirStore(self.root, threads=True)
        self.addCleanup(other.close)
        theirs: Any = await (await other.account("u")).mailbox("INBOX")
        await theirs.append_many([NewMessage(MSG % (3, 3))])
        acct = await self.store.account("u")
        opened = acct.mailbox("INBOX")
        self.assertFalse(opened.called)  # a refresh in the worker
        snap = await (await opened).snapshot()
        self.assertEqual([m.uid for m in snap.messages], [1, 2, 3])
        changes = await box.changes_since(snap.highestmodseq - 1)
        self.assertEqual([m.uid for m in changes.changed], [3])

    async def test_a_delivery_by_another_program_is_read_from_disk(self) -> None:
        """An MDA (or Dovecot's LDA) drops a file into ``new/``: the
        directory's new time sends SELECT to the disk, which finds it."""
        box = await self.selected()
        new = os.path.join(self.root, "u", "new")
        before = os.stat(new).st_mtime_ns
        with open(os.path.join(new, "1700000000.M1P1.mda,S=40"), "wb") as f:
            f.write(MSG % (9, 9))
        # a time of its own, whatever the file system's clock granularity
        os.utime(new, ns=(before + 5_000_000_000, before + 5_000_000_000))
        d = box.snapshot()
        self.assertFalse(d.called)
        snap = await d
        self.assertEqual([m.uid for m in snap.messages], [1, 2, 3])
        self.assertEqual((await box.status()).messages, 3)


    async def appended(self, count: int) -> Any:
        """INBOX after ``count`` APPENDs of this process, none claimed yet
        (the bench's first SELECT after its APPEND phase)."""
        acct = await self.store.account("u")
        box: Any = await acct.mailbox("INBOX")
        await box.append_many([NewMessage(MSG % (i, i)) for i in range(count)])
        await box.snapshot()
        box.folder.scanner._recheck_at = None  # no same-second recheck due
        return box

    async def test_the_first_select_after_own_appends_claims_without_a_job(self) -> None:
        """The \\Recent claim of a current folder is made on this thread
        (issue 10: the first SELECT after 2 000 APPENDs was slower than
        before the seam change, its claim a trip through the worker), and
        it is still exclusive: the floor on disk is raised, so another
        process's claim gets nothing (RFC 3501 §2.3.2)."""
        box = await self.appended(2)
        d = box.claim_recent()
        self.assertTrue(d.called)
        self.assertEqual(await d, (1, 3))
        self.assertEqual(await box.claim_recent(), (3, 3))
        other = MaildirStore(self.root, threads=True)
        self.addCleanup(other.close)
        theirs: Any = await (await other.account("u")).mailbox("INBOX")
        self.assertEqual(await theirs.claim_recent(), (3, 3))
        self.assertEqual(await theirs.peek_recent(), (3, 3))

    async def test_a_claim_whose_floor_another_process_locks_waits_in_the_worker(self) -> None:
        """Another process holds ``mailframe-recent``'s lock (its claim in
        progress): the claim goes to the worker, which waits for the lock
        — the reactor thread never does — and gets the range after.
        EXAMINE's look needs no lock and answers at once."""
        box = await self.appended(2)
        floor = os.path.join(self.root, "u", "mailframe-recent")
        holder = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, floor],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.addCleanup(holder.wait, 60)
        assert holder.stdin is not None and holder.stdout is not None
        self.addCleanup(holder.stdout.close)
        self.assertEqual(holder.stdout.readline(), "locked\n")
        try:
            peeked = box.peek_recent()
            self.assertTrue(peeked.called)
            self.assertEqual(await peeked, (1, 3))
            d = box.claim_recent()
            self.assertFalse(d.called)
        finally:
            holder.stdin.close()  # the other process lets the lock go
        self.assertEqual(await d, (1, 3))
        self.assertEqual(await box.claim_recent(), (3, 3))

    async def test_the_floor_file_is_made_by_the_delivery_not_the_claim(self) -> None:
        """The first delivery makes ``mailframe-recent`` in the worker, so
        the claim on the reactor thread only opens it (creating a file in
        the folder right after a burst of APPENDs waits for the file
        system's journal: the first SELECT took milliseconds longer than
        before the seam change).  Without the file (removed here, as
        after a delivery by another program) the claim goes to the
        worker, which makes it, and the range is the same."""
        box = await self.appended(2)
        floor = os.path.join(self.root, "u", "mailframe-recent")
        self.assertTrue(os.path.exists(floor))
        os.unlink(floor)
        d = box.claim_recent()
        self.assertFalse(d.called)
        self.assertEqual(await d, (1, 3))
        self.assertTrue(os.path.exists(floor))
        self.assertEqual(await box.claim_recent(), (3, 3))


#: Another process: takes ``flock()`` of the file named, says so, and
#: holds it until its stdin closes.
LOCK_HOLDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_records_made_once_follow_every_flag_change() -> None:
    """records() hands out a message's record again while its state is
    unchanged (a header sync asks for the same 2 000 records each time),
    and a new one once a STORE, here or in another process, changed it."""
    from mailframe.records import StoreMode
    from tests.support.deferreds import result

    root = tempfile.mkdtemp(prefix="mf-maildir-hops-")
    try:
        box: Any = result(result(MaildirStore(root, threads=False).account("u")).mailbox("INBOX"))
        other: Any = result(result(MaildirStore(root, threads=False).account("u")).mailbox("INBOX"))
        uids = list(result(box.append_many([NewMessage(MSG % (i, i)) for i in range(3)])).uids)
        first = result(box.records(uids))
        assert [a is b for a, b in zip(first, result(box.records(uids)), strict=True)] == [True] * 3
        result(box.store([uids[0]], StoreMode.ADD, frozenset({"\\Seen"})))
        result(other.store([uids[1]], StoreMode.ADD, frozenset({"\\Flagged"})))
        again = result(box.records(uids))
        assert [r.flags for r in again] == [
            frozenset({"\\Seen"}),
            frozenset({"\\Flagged"}),
            frozenset(),
        ]
        assert again[0].modseq > first[0].modseq and again[1].modseq > first[1].modseq
        assert again[2] is first[2]
    finally:
        shutil.rmtree(root, True)


def test_a_rescan_that_finds_nothing_keeps_answering_from_memory() -> None:
    """A folder whose directories changed more than a second before is
    listed once and the ``S`` line saying so is written to the index for
    other processes; that line is no news to the log, so the answers from
    memory go on (they stopped, every later call taking a trip through
    the worker, until the next write)."""
    from tests.support.deferreds import result

    root = tempfile.mkdtemp(prefix="mf-maildir-hops-")
    try:
        box: Any = result(result(MaildirStore(root, threads=False).account("u")).mailbox("INBOX"))
        result(box.append_many([NewMessage(MSG % (1, 1))]))
        folder = box.folder
        assert folder.now(lambda _log: True)
        index = os.path.join(root, "u", "mailframe-index")
        size = os.path.getsize(index)
        quiet = os.stat(os.path.join(root, "u", "cur")).st_mtime - 60
        for sub in ("cur", "new"):  # as a folder nobody touched for a minute has them
            os.utime(os.path.join(root, "u", sub), (quiet, quiet))
        result(box.snapshot())  # new directory times: listed again, nothing found
        with open(index, "rb") as f:
            f.seek(size)
            assert f.read().startswith(b"S\t")
        assert folder.now(lambda _log: True)
    finally:
        shutil.rmtree(root, True)


def test_mail_delivered_into_new_while_we_write_is_read_at_once() -> None:
    """An MDA delivers into ``new/`` while this process renames its own
    files into ``cur/`` (an APPEND or STORE): the directory times read
    after our write include the delivery, so they must not all be taken
    as seen — ``new/`` keeps its time from before, and the next call lists
    it (a second later otherwise, when the same-second recheck runs)."""
    from tests.support.deferreds import result

    root = tempfile.mkdtemp(prefix="mf-maildir-hops-")
    try:
        box: Any = result(result(MaildirStore(root, threads=False).account("u")).mailbox("INBOX"))
        result(box.append_many([NewMessage(MSG % (1, 1))]))
        scanner = box.folder.scanner
        before = scanner._stamp
        new = os.path.join(root, "u", "new")
        with open(os.path.join(new, "1700000000.M1P1.mda,S=40"), "wb") as f:
            f.write(MSG % (2, 2))  # the delivery, in the middle of our write
        os.utime(new, ns=(before.new_ns + 5_000_000_000, before.new_ns + 5_000_000_000))
        scanner.own_change(before)  # our write ends
        snap = result(box.snapshot())
        assert [m.uid for m in snap.messages] == [1, 2]
    finally:
        shutil.rmtree(root, True)
