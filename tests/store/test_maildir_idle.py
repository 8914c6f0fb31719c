"""A folder nobody watches lets its held files go once idle (issue 16: each
opened Maildir folder kept two descriptors, ``dovecot-uidlist`` and
``mailframe-index``, for the life of the process).  The next use reads
them again from the start, as a newly opened folder does — and sees what
another process did meanwhile, even a mailbox deleted and created again
(whose files may carry the old inode numbers).

The other process is a real one (:class:`tests.store.test_maildir_processes.Other`).
Opening a mailbox is what sweeps for idle folders.  No timing is
asserted: the tests wait, with a deadline, for the sweep to happen."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from twisted.internet import reactor, task
from twisted.trial.unittest import TestCase

from mailframe.records import NewMessage, StoreMode
from mailframe.store.maildir import MaildirStore
from tests.store.test_maildir_processes import MSG, Other

HELD = ("dovecot-uidlist", "mailframe-index")


def held_files(path: str) -> list[str]:
    """This process's descriptors of ``path``'s uidlist and index."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if os.path.dirname(target) == os.path.normpath(path) and os.path.basename(target) in HELD:
            out.append(os.path.basename(target))
    return sorted(out)


class IdleFolders(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-maildir-idle-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.store = MaildirStore(self.root, threads=True, idle_close=0.05)
        self.addCleanup(self.store.close)
        self.other = Other(self.root)
        self.addCleanup(self.other.close)

    async def until(self, what: str, check: Any, deadline: float = 30.0) -> None:
        """Open INBOX (what sweeps for idle folders) until ``check()``."""
        acct = await self.store.account("alice")
        for _ in range(int(deadline / 0.02)):
            await acct.mailbox("INBOX")
            if check():
                return
            await task.deferLater(reactor, 0.02, lambda: None)
        self.fail(f"timed out waiting for {what}")

    async def test_an_idle_folder_closes_and_reads_others_changes_after(self) -> None:
        acct = await self.store.account("alice")
        validity, uids = self.other.ask("cycle 2")  # Team, two messages
        team: Any = await acct.mailbox("Team")
        path = team.folder.path
        self.assertEqual((await team.status()).messages, 2)
        self.assertIn("mailframe-index", held_files(path))
        await self.until("the idle folder's files closed", lambda: not held_files(path))
        self.other.ask("append 1")
        self.assertEqual((await team.status()).messages, 3)
        # and works as before: SELECT, FETCH, STORE
        snap = await team.snapshot()
        self.assertEqual(await team.claim_recent(), (1, 4))
        records = await team.records([m.uid for m in snap.messages])
        self.assertEqual(len(records), 3)
        stored = await team.store([uids[0]], StoreMode.ADD, frozenset({"\\Seen"}))
        self.assertEqual([s.uid for s in stored.changed], [uids[0]])
        self.assertEqual((await team.status()).uidvalidity, validity)

    async def test_a_mailbox_created_again_while_closed_reads_whole(self) -> None:
        acct = await self.store.account("alice")
        self.other.ask("cycle 3")
        team: Any = await acct.mailbox("Team")
        self.assertEqual((await team.status()).messages, 3)
        path = team.folder.path
        await self.until("the idle folder's files closed", lambda: not held_files(path))
        validity, uids = self.other.ask("cycle 1")  # deleted, created, one message
        again: Any = await acct.mailbox("Team")
        counts = await again.status()
        self.assertEqual((counts.uidvalidity, counts.messages), (validity, 1))
        snap = await again.snapshot()
        self.assertEqual([m.uid for m in snap.messages], uids)

    async def test_a_watched_folder_keeps_its_files(self) -> None:
        acct = await self.store.account("alice")
        await acct.create_mailbox("Quiet")
        inbox: Any = await acct.mailbox("INBOX")
        unwatch = inbox.watch(lambda: None)  # a selected session
        self.addCleanup(unwatch)
        await inbox.append_many([NewMessage(MSG % (1, 1))])
        held = held_files(inbox.folder.path)
        self.assertIn("mailframe-index", held)
        quiet: Any = await acct.mailbox("Quiet")
        await quiet.status()
        await self.until("the unwatched folder's files closed",
                         lambda: not held_files(quiet.folder.path))
        self.assertEqual(held_files(inbox.folder.path), held)
