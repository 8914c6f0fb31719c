"""The Maildir store never blocks the reactor on disk work (issue 16):
each folder's work runs in the reactor's thread pool, one job at a time,
and a STORE over many messages is one transaction."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from mailframe.records import StoreMode
from mailframe.store._maildir_files import _HOST
from mailframe.store.maildir import MaildirStore

MSG = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"


class ThreadedMaildir(TestCase):
    def setUp(self) -> None:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-threads-")
        self.addCleanup(shutil.rmtree, self.path, True)
        self.store = MaildirStore(self.path, threads=True)
        self.addCleanup(self.store.close)

    async def inbox(self) -> object:
        return await (await self.store.account("u")).mailbox("INBOX")

    async def test_a_store_waiting_for_the_lock_leaves_the_reactor_free(self) -> None:
        """Another program holds ``dovecot-uidlist.lock``: the STORE waits
        for it in the folder's worker while the reactor serves a NOOP's
        catch-up and runs the timer that (as the other program) lets the
        lock go.  Done on the reactor thread, the STORE would hold the
        reactor until the lock timed out."""
        box: object = await self.inbox()
        uid = await box.append(MSG % (1, 1))  # type: ignore[attr-defined]
        await box.claim_recent()  # type: ignore[attr-defined]  # as SELECT does
        unwatch = box.watch(lambda: None)  # type: ignore[attr-defined]
        self.addCleanup(unwatch)
        lock = os.path.join(self.path, "u", "dovecot-uidlist.lock")
        with open(lock, "w") as f:
            f.write(f"1:{_HOST}")  # a live process's lock (pid 1 never dies)
        stored = box.store([uid], StoreMode.ADD, frozenset({"\\Seen"}))  # type: ignore[attr-defined]
        changes = await box.changes_since(0)  # type: ignore[attr-defined]
        self.assertEqual([s.uid for s in changes.changed], [uid])
        self.assertFalse(stored.called)
        await deferLater(reactor, 0.02, os.unlink, lock)
        result = await stored
        self.assertEqual([s.flags for s in result.changed], [frozenset({"\\Seen"})])

    async def test_jobs_of_one_folder_run_in_order_on_one_thread_at_a_time(self) -> None:
        box: object = await self.inbox()
        folder = box.folder  # type: ignore[attr-defined]
        running: list[int] = []
        overlaps: list[int] = []
        order: list[int] = []

        def job(i: int) -> str:
            running.append(i)
            if len(running) > 1:
                overlaps.append(i)
            order.append(i)
            running.remove(i)
            return threading.current_thread().name

        names = [await d for d in [folder.worker.submit(job, i) for i in range(20)]]
        self.assertEqual(order, list(range(20)))
        self.assertEqual(overlaps, [])
        self.assertNotIn(threading.current_thread().name, names)

    async def test_store_over_many_messages_is_one_index_transaction(self) -> None:
        """One lock, one index append: every message changed by the STORE
        shares one modseq (RFC 7162 §3.1 allows it) and the index grew by
        one line per message, all written at once."""
        box: object = await self.inbox()
        result = await box.append_many(  # type: ignore[attr-defined]
            [_new(MSG % (i, i)) for i in range(40)]
        )
        index = os.path.join(self.path, "u", "mailframe-index")
        before = os.path.getsize(index)
        stored = await box.store(list(result.uids), StoreMode.ADD, frozenset({"\\Flagged"}))  # type: ignore[attr-defined]
        self.assertEqual(len(stored.changed), 40)
        self.assertEqual(len({s.modseq for s in stored.changed}), 1)
        with open(index, "rb") as f:
            f.seek(before)
            lines = f.read().decode().splitlines()
        flag_lines = [line for line in lines if line.startswith("F\t")]
        self.assertEqual(len(flag_lines), 40)
        self.assertEqual(len({line.split("\t")[2] for line in flag_lines}), 1)
        names = os.listdir(os.path.join(self.path, "u", "cur"))
        self.assertTrue(all(n.endswith(":2,F") for n in names), names)


def _new(content: bytes) -> object:
    from mailframe.records import NewMessage

    return NewMessage(content)
