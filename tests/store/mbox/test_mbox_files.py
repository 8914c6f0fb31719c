"""The mbox store on files other programs wrote or are writing: mutt /
procmail mboxo files, a lying Content-Length, forged state headers in
delivered mail, a message appended behind our back, a mailbox rewritten
by someone else, and the ``mbox:`` URL."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import TestCase

from mailframe.errors import StoreUnavailable
from mailframe.store import _mbox_format as fmt
from mailframe.store.mbox import MboxStore, from_url

PROCMAIL = (
    b"From alice@example.org Mon Dec  7 05:00:00 2026\n"
    b"From: alice@example.org\nSubject: one\nStatus: RO\n\nhello\n>From the start\n\n"
    b"From bob@example.org Tue Dec  8 06:01:02 2026\n"
    b"From: bob@example.org\nSubject: two\nX-Status: F\nContent-Length: 3\n\n"
    b"a\nFrom nobody\nb\n\n"
)


class MboxFiles(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-files-")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.makedirs(os.path.join(self.root, "u"))
        self.inbox = os.path.join(self.root, "u", "inbox")

    async def open(self) -> tuple[MboxStore, object]:
        store = MboxStore(os.path.join(self.root, "%u"))
        box = await (await store.account("u")).mailbox("INBOX")
        return store, box

    async def test_a_procmail_file_gets_uids_and_keeps_its_bytes(self) -> None:
        with open(self.inbox, "wb") as f:
            f.write(PROCMAIL)
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [(s.uid, s.flags) for s in snap.messages] == [
            (1, frozenset({"\\Seen"})), (2, frozenset({"\\Flagged"}))]
        # mboxo: served as stored; Content-Length 3 is a lie (no From_ after it)
        assert await box.read(1) == (  # type: ignore[attr-defined]
            b"From: alice@example.org\r\nSubject: one\r\n\r\nhello\r\n>From the start\r\n")
        assert await box.read(2) == (  # type: ignore[attr-defined]
            b"From: bob@example.org\r\nSubject: two\r\n\r\na\r\nFrom nobody\r\nb\r\n")
        records = await box.records([1, 2])  # type: ignore[attr-defined]
        assert records[1].size == len(await box.read(2))  # type: ignore[attr-defined]
        assert records[1].internaldate.day == 8
        await store.close()
        # the file now carries Dovecot's headers, and the message bytes are unchanged
        with open(self.inbox, "rb") as f:
            scan = fmt.scan(f)
        assert scan.pseudo is not None and scan.last_uid == 2
        assert [e.uid for e in scan.entries] == [1, 2]

    async def test_forged_state_headers_are_stripped_on_append(self) -> None:
        store, box = await self.open()
        uid = await box.append(  # type: ignore[attr-defined]
            b"X-UID: 999\r\nStatus: RO\r\nX-Keywords: Evil\r\nSubject: hi\r\n\r\nbody\r\n",
            frozenset(), None)
        assert uid == 1
        assert await box.read(1) == b"Subject: hi\r\n\r\nbody\r\n"  # type: ignore[attr-defined]
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert snap.messages[0].flags == frozenset()
        assert await box.append(b"Subject: 2\r\n\r\nx\r\n", frozenset(), None) == 2  # type: ignore[attr-defined]
        await store.close()

    async def test_an_mda_append_and_a_foreign_rewrite_are_noticed(self) -> None:
        store, box = await self.open()
        for i in range(3):
            await box.append(b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i),  # type: ignore[attr-defined]
                             frozenset({"\\Seen"} if i == 1 else ()), None)
        await box.store([3], "add", frozenset({"Work"}))  # type: ignore[attr-defined]
        # procmail appends (no X-UID), under the dotlock as procmail would
        with open(self.inbox, "ab") as f:
            f.write(b"From mda Mon Dec  7 05:00:00 2026\nSubject: mda\n\nfrom the MDA\n\n")
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [s.uid for s in snap.messages] == [1, 2, 3, 4]
        assert await box.read(4) == b"Subject: mda\r\n\r\nfrom the MDA\r\n"  # type: ignore[attr-defined]
        # mutt rewrites the file: deletes message 1, flags message 2 (its own way)
        with open(self.inbox, "rb") as f:
            data = f.read()
        parts = data.split(b"\nFrom ")
        assert len(parts) == 5  # the pseudo-message and 4 messages
        kept = [parts[0]] + [p for p in parts[1:] if b"Subject: 0" not in p]
        text = b"\nFrom ".join(kept).replace(
            b"Status: RO\r\nX-Status: \r\n", b"Status: RO\r\nX-Status: F\r\n")
        assert text.count(b"X-Status: F") == 1, text
        with open(self.inbox + ".new", "wb") as f:
            f.write(text)
        os.replace(self.inbox + ".new", self.inbox)
        changes = await box.changes_since(0)  # type: ignore[attr-defined]
        assert 1 in changes.expunged
        snap = await box.snapshot()  # type: ignore[attr-defined]
        flags = {s.uid: s.flags for s in snap.messages}
        assert sorted(flags) == [2, 3, 4]
        assert flags[2] == {"\\Seen", "\\Flagged"}
        assert flags[3] == {"Work"}
        await store.close()

    def test_urls(self) -> None:
        store = from_url(f"mbox:{self.root}/%u:INBOX={self.root}/spool/%u")
        assert store.root == f"{self.root}/%u" and store.inbox == f"{self.root}/spool/%u"
        assert from_url(f"mbox:{self.root}/m:DIRNAME=mBoX").dirname == "mBoX"
        assert from_url(f"mbox:{self.root}/m:WRITE_LOCKS=fcntl+dotlock").write_locks == (
            "fcntl", "dotlock")
        with self.assertRaises(StoreUnavailable):
            from_url(f"mbox:{self.root}/m:WRITE_LOCKS=nfs")
        with self.assertRaises(StoreUnavailable):
            from_url(f"mbox:{self.root}/m:READ_LOCKS=fcntl+fcntl")
        with self.assertRaises(StoreUnavailable):
            from_url(f"mbox:{self.root}/m:EXPUNGE=never")
        loose = from_url(f"mbox:{self.root}/m:WRITE_LOCKS=dotlock,flock,fcntl:READ_LOCKS=flock"
                         ":LOCK_TIMEOUT=2.5:EXPUNGE=rename")
        assert (loose.write_locks, loose.read_locks) == (("dotlock", "flock", "fcntl"), ("flock",))
        f = loose.new_file("x")
        assert (f.lock_timeout, f.expunge, f.write_locks) == (2.5, "rename", loose.write_locks)
        with self.assertRaises(StoreUnavailable):
            from_url(f"mbox:{self.root}:LAYOUT=fs")
        with self.assertRaises(StoreUnavailable):
            from_url("mbox:")


class MboxPolling(TestCase):
    async def test_a_watcher_hears_of_an_mda_append_without_a_command(self) -> None:
        """RFC 2177: an IDLE session hears of new mail; the store checks
        watched files every POLL_INTERVAL seconds."""
        from twisted.internet.task import Clock

        root = tempfile.mkdtemp(prefix="mf-mbox-poll-")
        self.addCleanup(shutil.rmtree, root, True)
        clock = Clock()
        store = MboxStore(os.path.join(root, "%u"), clock=clock)
        box = await (await store.account("u")).mailbox("INBOX")
        await box.append(b"Subject: 1\r\n\r\nx\r\n", frozenset(), None)
        heard: list[int] = []
        box.watch(lambda: heard.append(1))
        assert clock.getDelayedCalls(), "no poll scheduled for a watched mailbox"
        with open(os.path.join(root, "u", "inbox"), "ab") as f:
            f.write(b"From mda Mon Dec  7 05:00:00 2026\nSubject: mda\n\nnew\n\n")
        assert await store.poll_once()
        assert heard, "the watcher did not hear of the MDA's message"
        assert box.log.uids == (1, 2)
        await store.close()
        assert not clock.getDelayedCalls()


class MboxLocks(TestCase):
    async def test_a_live_dotlock_is_honoured_and_a_dead_ones_broken(self) -> None:
        import socket
        import subprocess

        from mailframe.store._mbox_lock import LockTimeout

        root = tempfile.mkdtemp(prefix="mf-mbox-lock-")
        self.addCleanup(shutil.rmtree, root, True)
        store = MboxStore(os.path.join(root, "%u"))
        box = await (await store.account("u")).mailbox("INBOX")
        await box.append(b"Subject: 1\r\n\r\nx\r\n", frozenset(), None)
        box.file.lock_timeout = 0.3  # type: ignore[attr-defined]
        lock = os.path.join(root, "u", "inbox.lock")
        with open(lock, "w") as f:  # a live writer: this very process
            f.write(f"{os.getpid()}:{socket.gethostname()}")
        with self.assertRaises(LockTimeout):
            await box.append(b"Subject: 2\r\n\r\ny\r\n", frozenset(), None)
        dead = subprocess.Popen(["true"])
        dead.wait()
        with open(lock, "w") as f:  # a writer that died holding it
            f.write(f"{dead.pid}:{socket.gethostname()}")
        assert await box.append(b"Subject: 2\r\n\r\ny\r\n", frozenset(), None) == 2
        assert not os.path.exists(lock)
        await store.close()


class MboxPendingStore(TestCase):
    async def test_an_unwritten_store_survives_another_writers_change(self) -> None:
        """A STORE recorded in the log but not yet in the file must not be
        undone when a change by another program is read in between."""
        root = tempfile.mkdtemp(prefix="mf-mbox-pending-")
        self.addCleanup(shutil.rmtree, root, True)
        store = MboxStore(os.path.join(root, "%u"))
        box = await (await store.account("u")).mailbox("INBOX")
        for i in range(2):
            await box.append(b"Subject: %d\r\n\r\nx\r\n" % i, frozenset(), None)
        box.log.store([1], "add", frozenset({"\\Flagged"}))  # not yet written
        with open(os.path.join(root, "u", "inbox"), "ab") as f:
            f.write(b"From mda Mon Dec  7 05:00:00 2026\nSubject: mda\n\nnew\n\n")
        await box.sync()
        assert box.log.get(1).flags == {"\\Flagged"}
        assert box.log.uids == (1, 2, 3)
        await box.log_changed()
        await store.close()
        again = MboxStore(os.path.join(root, "%u"))
        box = await (await again.account("u")).mailbox("INBOX")
        snap = await box.snapshot()
        assert {s.uid: s.flags for s in snap.messages} == {
            1: {"\\Flagged"}, 2: frozenset(), 3: frozenset()}
        await again.close()
