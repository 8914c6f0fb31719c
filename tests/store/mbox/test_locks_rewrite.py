"""Locking beside other programs (flock, fcntl kept across buffered reads)
and rewrites that keep everything before the first changed message:
expunge rewrites the tail in place, through a journal a killed process
leaves for the next one to replay."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import TestCase

from mailframe.store import _mbox_format as fmt
from mailframe.store import _mbox_rewrite as rw
from mailframe.store._mbox_lock import LockTimeout, locked, reader
from mailframe.store.mbox import MboxStore

HOLD = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
getattr(fcntl, sys.argv[2])(fd, fcntl.LOCK_EX)
print("LOCKED", flush=True)
sys.stdin.read()
"""

PROBE = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("FREE")
except OSError:
    print("HELD")
"""


def message(i: int, size: int = 40) -> bytes:
    return b"Subject: m%d\r\n\r\n" % i + (b"line %d\r\n" % i) * size


class Base(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-lr-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.inbox = os.path.join(self.root, "u", "inbox")

    async def open(self, **kw: object) -> tuple[MboxStore, object]:
        store = MboxStore(os.path.join(self.root, "%u"), **kw)  # type: ignore[arg-type]
        box = await (await store.account("u")).mailbox("INBOX")
        return store, box


class Locks(Base):
    def hold(self, kind: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, self.inbox, kind],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"LOCKED\n"
        return proc

    async def test_flock_in_the_lock_set_waits_for_a_flock_holder(self) -> None:
        """On Linux flock and fcntl locks do not see each other: beside a
        flock-only program the store must be told to take flock too."""
        store, box = await self.open(write_locks=("fcntl", "flock", "dotlock"))
        await box.append(message(1), frozenset(), None)  # type: ignore[attr-defined]
        box.file.lock_timeout = 0.2  # type: ignore[attr-defined]
        holder = self.hold("flock")
        try:
            with self.assertRaises(LockTimeout):
                await box.append(message(2), frozenset(), None)  # type: ignore[attr-defined]
            # fcntl and dotlock alone do not see the flock holder
            box.file.write_locks = ("fcntl", "dotlock")  # type: ignore[attr-defined]
            assert await box.append(message(2), frozenset(), None) == 2  # type: ignore[attr-defined]
            box.file.write_locks = ("fcntl", "flock", "dotlock")  # type: ignore[attr-defined]
        finally:
            holder.communicate(b"")
        assert await box.append(message(3), frozenset(), None) == 3  # type: ignore[attr-defined]
        await store.close()

    async def test_an_fcntl_holder_blocks_readers_and_writers(self) -> None:
        store, box = await self.open()
        await box.append(message(1), frozenset(), None)  # type: ignore[attr-defined]
        box.file.lock_timeout = 0.2  # type: ignore[attr-defined]
        holder = self.hold("lockf")
        try:
            with self.assertRaises(LockTimeout):
                await box.append(message(2), frozenset(), None)  # type: ignore[attr-defined]
        finally:
            holder.communicate(b"")
        assert await box.append(message(2), frozenset(), None) == 2  # type: ignore[attr-defined]
        await store.close()

    def test_two_threads_of_one_process_take_the_dotlock_in_turn(self) -> None:
        """The dotlock's private name before the link names the thread as
        well as the process: two threads' names were one, so one removed
        the other's (FileNotFoundError; two stores in one process)."""
        import threading

        os.makedirs(os.path.dirname(self.inbox))
        open(self.inbox, "wb").close()
        errors: list[BaseException] = []
        inside = [0]

        def work() -> None:
            try:
                for _ in range(300):
                    with locked(self.inbox, write=True, order=("dotlock",)):
                        inside[0] += 1
                        assert inside[0] == 1
                        inside[0] -= 1
            except BaseException as e:  # (reported below, not lost in the thread)
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors

    def test_buffered_reads_keep_the_fcntl_lock(self) -> None:
        """Closing any descriptor of the file drops a POSIX lock: scans
        under the lock must not open or close another one."""
        os.makedirs(os.path.dirname(self.inbox))
        with open(self.inbox, "wb") as f:
            f.write(fmt.pseudo_message(1, 0, []))
        with locked(self.inbox, write=True) as fd:
            r = reader(fd)
            assert fmt.scan(r).pseudo is not None
            r.close()
            probe = subprocess.run([sys.executable, "-c", PROBE, self.inbox],
                                   capture_output=True, check=True)
            assert probe.stdout == b"HELD\n", probe.stdout


class TailRewrite(Base):
    async def fill(self, n: int, **kw: object) -> tuple[MboxStore, object]:
        store, box = await self.open(**kw)
        for i in range(1, n + 1):
            await box.append(message(i, 40 * i), frozenset(), None)  # type: ignore[attr-defined]
        return store, box

    async def test_expunge_keeps_the_file_before_the_first_expunged_message(self) -> None:
        store, box = await self.fill(6)
        with open(self.inbox, "rb") as f:
            before = f.read()
        scan = box.scan  # type: ignore[attr-defined]
        cut = scan.entries[3].start  # UID 4
        ino = os.stat(self.inbox).st_ino
        await box.store([4, 6], "add", frozenset({"\\Deleted"}))  # type: ignore[attr-defined]
        assert await box.expunge() == [4, 6]  # type: ignore[attr-defined]
        with open(self.inbox, "rb") as f:
            after = f.read()
        assert os.stat(self.inbox).st_ino == ino, "rewritten through a new file"
        assert after[:cut] == before[:cut]
        assert not os.path.exists(rw.journal_path(self.inbox))
        with open(self.inbox, "rb") as f:
            assert [e.uid for e in fmt.scan(f).entries] == [1, 2, 3, 5]
        for uid in (1, 2, 3, 5):
            assert await box.read(uid) == message(uid, 40 * uid)  # type: ignore[attr-defined]
        await store.close()
        store, box = await self.open()  # a fresh scan agrees
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [s.uid for s in snap.messages] == [1, 2, 3, 5]
        assert await box.read(5) == message(5, 200)  # type: ignore[attr-defined]
        await store.close()

    async def test_expunging_the_first_message_keeps_the_pseudo_message(self) -> None:
        store, box = await self.fill(3)
        with open(self.inbox, "rb") as f:
            pseudo = f.read(box.scan.entries[0].start)  # type: ignore[attr-defined]
        ino = os.stat(self.inbox).st_ino
        await box.expunge_uids([1])  # type: ignore[attr-defined]
        assert os.stat(self.inbox).st_ino == ino
        with open(self.inbox, "rb") as f:
            assert f.read(len(pseudo)) == pseudo
        await store.close()

    async def test_expunge_rename_mode_writes_a_new_file(self) -> None:
        store, box = await self.fill(3, expunge="rename")
        ino = os.stat(self.inbox).st_ino
        await box.expunge_uids([3])  # type: ignore[attr-defined]
        assert os.stat(self.inbox).st_ino != ino
        with open(self.inbox, "rb") as f:
            assert [e.uid for e in fmt.scan(f).entries] == [1, 2]
        await store.close()

    async def test_flags_that_do_not_fit_rewrite_the_tail_only(self) -> None:
        store, box = await self.fill(4)
        kw = "k" * 46  # fits the base header's padding and one message's
        await box.store([1], "set", frozenset({kw}))  # type: ignore[attr-defined]
        cut = box.scan.entries[2].start  # type: ignore[attr-defined]
        ino = os.stat(self.inbox).st_ino
        with open(self.inbox, "rb") as f:
            before = f.read(cut)
        every = frozenset({kw, "\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted"})
        await box.store([3], "set", every)  # type: ignore[attr-defined]
        assert os.stat(self.inbox).st_ino == ino
        with open(self.inbox, "rb") as f:
            assert f.read(cut) == before, "messages before UID 3 were rewritten"
        await store.close()
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert {s.uid: s.flags for s in snap.messages} == {
            1: {kw}, 2: frozenset(), 3: every, 4: frozenset()}
        assert await box.read(4) == message(4, 160)  # type: ignore[attr-defined]
        await store.close()

    async def test_a_tail_rewrite_with_a_long_keyword_list_in_the_base_header(self) -> None:
        """The journal's first line carries the base header's patch: with
        many keywords declared it is longer than the 1 KiB first reserved
        for it (the 64-session mixed bench's STOREs failed with SERVERBUG)."""
        store, box = await self.fill(4)
        many = frozenset("keyword-number-%02d" % i for i in range(40))
        await box.store([1], "set", many)  # type: ignore[attr-defined]
        cut = box.scan.entries[2].start  # type: ignore[attr-defined]
        with open(self.inbox, "rb") as f:
            before = f.read(cut)
        assert len(before.split(b"\nX-IMAP: ", 1)[1].split(b"\n", 1)[0]) > 700
        # one more keyword (the base header's padding holds it) on UID 3,
        # whose flag lines cannot: the tail from UID 3 is rewritten
        await box.store([3], "set", many | {"x"})  # type: ignore[attr-defined]
        with open(self.inbox, "rb") as f:
            head = f.read(cut)
        assert head[len(head) - 200:] == before[len(before) - 200:]
        await store.close()
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert {s.uid: s.flags for s in snap.messages} == {
            1: many, 2: frozenset(), 3: many | {"x"}, 4: frozenset()}
        assert await box.read(4) == message(4, 160)  # type: ignore[attr-defined]
        await store.close()

    async def killed_mid_copy(self, torn: bool) -> None:
        store, box = await self.fill(5)
        scan, expected = box.scan, box.ident  # type: ignore[attr-defined]
        await store.close()
        plan = rw.plan(scan, {}, {2}, scan.uidvalidity, scan.last_uid)
        with locked(self.inbox, write=True) as fd:
            assert os.fstat(fd).st_size == expected[1]
            journal = rw.write_journal(fd, self.inbox, plan)
            if torn:
                # what a process killed half way through the copy leaves
                with open(journal, "rb") as j:
                    j.readline()
                    data = j.read()
                os.pwrite(fd, data[: len(data) // 2], scan.entries[1].start)
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [s.uid for s in snap.messages] == [1, 3, 4, 5]
        for uid in (1, 3, 4, 5):
            assert await box.read(uid) == message(uid, 40 * uid)  # type: ignore[attr-defined]
        assert not os.path.exists(journal)
        assert await box.append(message(6), frozenset(), None) == 6  # type: ignore[attr-defined]
        await store.close()

    async def test_a_tail_rewrite_killed_mid_copy_is_finished_by_the_next_process(self) -> None:
        await self.killed_mid_copy(torn=True)

    async def test_a_journal_written_before_the_kill_is_replayed(self) -> None:
        await self.killed_mid_copy(torn=False)

    async def test_a_journal_for_another_state_of_the_file_is_set_aside(self) -> None:
        store, box = await self.fill(3)
        scan = box.scan  # type: ignore[attr-defined]
        await store.close()
        plan = rw.plan(scan, {}, {2}, scan.uidvalidity, scan.last_uid)
        with locked(self.inbox, write=True) as fd:
            journal = rw.write_journal(fd, self.inbox, plan)
        with open(self.inbox, "ab") as f:  # an MDA appended since: the journal is stale
            f.write(b"From mda Mon Dec  7 05:00:00 2026\nSubject: mda\n\nnew\n\n")
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [s.uid for s in snap.messages] == [1, 2, 3, 4]
        assert not os.path.exists(journal) and os.path.exists(journal + ".unused")
        await store.close()


WRITER = r"""
import random, sys
from twisted.internet import defer, task
from mailframe.store.mbox import MboxStore

root, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

async def main(reactor):
    store = MboxStore(root + "/%u")
    box = await (await store.account("u")).mailbox("INBOX")
    rng = random.Random(tag)
    mine = []
    for i in range(count):
        r = rng.random()
        if r < 0.5 or not mine:
            uid = await box.append(b"Subject: %s %d\r\n\r\nbody %s %d\r\n" % (
                tag.encode(), i, tag.encode(), i), frozenset(), None)
            mine.append((uid, i))
            print("APPEND", uid, i, flush=True)
        elif r < 0.8:
            uid, j = rng.choice(mine)
            data = await box.read(uid)
            assert data == b"Subject: %s %d\r\n\r\nbody %s %d\r\n" % (
                tag.encode(), j, tag.encode(), j), (uid, data)
        else:
            uid, _ = rng.choice(mine)
            await box.store([uid], "add", frozenset({"\\Flagged"}))
    await store.close()
    print("DONE", flush=True)

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


class TwoWriters(Base):
    async def test_two_processes_append_read_and_flag_one_file(self) -> None:
        """Two server processes on one file (as ``--workers 2``): every
        command succeeds (another's append or flag write between our sync
        and our lock is read under the lock, reads check the message is
        still in place), UIDs never collide, every message reads back."""
        root = os.path.join(self.root, "m")
        env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, root, tag, "120"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
                 for tag in ("a", "b")]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0 and out.endswith(b"DONE\n"), err.decode()[-3000:]
        appended = {(tag, int(w[1])): int(w[2]) for tag, (out, _) in zip("ab", outs, strict=True)
                    for w in (line.split() for line in out.splitlines()) if w[0] == b"APPEND"}
        uids = [uid for _, uid in appended]
        assert len(set(uids)) == len(uids), "a UID was given twice"
        store = MboxStore(os.path.join(root, "%u"))
        box = await (await store.account("u")).mailbox("INBOX")
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert sorted(s.uid for s in snap.messages) == sorted(uids)
        for (tag, uid), i in appended.items():
            assert await box.read(uid) == b"Subject: %s %d\r\n\r\nbody %s %d\r\n" % (  # type: ignore[attr-defined]
                tag.encode(), i, tag.encode(), i)
        await store.close()


class ForeignChangeUnderTheLock(Base):
    """What another writer did between our sync and our lock is read under
    the lock, not answered with "the mailbox keeps changing"."""

    async def stale(self) -> tuple[MboxStore, object, object, object]:
        store, box = await self.open()
        for i in range(1, 4):
            await box.append(message(i), frozenset(), None)  # type: ignore[attr-defined]
        other, obox = await self.open()
        await obox.snapshot()  # type: ignore[attr-defined]
        return store, box, other, obox

    async def test_a_read_survives_another_writers_append_and_flag_write(self) -> None:
        store, box, other, obox = await self.stale()
        scan, expected = box.scan, box.ident  # type: ignore[attr-defined]
        await obox.append(message(9), frozenset(), None)  # type: ignore[attr-defined]
        await obox.store([2], "add", frozenset({"\\Flagged"}))  # type: ignore[attr-defined]
        data = box.file.read(scan.entries[1], 0, None, expected)  # type: ignore[attr-defined]
        assert data == message(2)
        await other.close()
        await store.close()

    async def test_an_append_after_another_writers_append_takes_the_next_uid(self) -> None:
        store, box, other, obox = await self.stale()
        scan, expected = box.scan, box.ident  # type: ignore[attr-defined]
        assert await obox.append(message(9), frozenset(), None) == 4  # type: ignore[attr-defined]
        meta = box.metas[1]  # type: ignore[attr-defined]
        done = box.file.append(scan, expected, [(message(5), frozenset(), meta)],  # type: ignore[attr-defined]
                               scan.uidvalidity, 4)
        assert done is not None and done.first == 5
        assert done.before is not None and [e.uid for e in done.before[0].entries] == [1, 2, 3, 4]
        assert [e.uid for e in done.after[0].entries] == [1, 2, 3, 4, 5]
        await other.close()
        await store.close()
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [s.uid for s in snap.messages] == [1, 2, 3, 4, 5]
        assert await box.read(4) == message(9) and await box.read(5) == message(5)  # type: ignore[attr-defined]
        await store.close()

    async def test_another_writers_flags_read_by_our_rewrite_are_not_undone(self) -> None:
        """A STORE whose write finds the file changed rewrites it from a
        fresh scan; the other writer's flags that scan holds must enter our
        log, or our next STORE writes the old flags back over them."""
        store, box, other, obox = await self.stale()
        await obox.store([1], "add", frozenset({"$X"}))  # type: ignore[attr-defined]
        # box has not synced: its write finds the file changed
        await box.store([2], "add", frozenset({"\\Flagged"}))  # type: ignore[attr-defined]
        assert box.log.get(1).flags == {"$X"}  # type: ignore[attr-defined]
        await box.store([3], "add", frozenset({"\\Seen"}))  # type: ignore[attr-defined]
        await other.close()
        await store.close()
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert {s.uid: s.flags for s in snap.messages} == {
            1: {"$X"}, 2: {"\\Flagged"}, 3: {"\\Seen"}}
        await store.close()

    async def test_a_scan_during_our_expunge_does_not_bring_messages_back(self) -> None:
        store, box, other, obox = await self.stale()
        await obox.append(message(9), frozenset(), None)  # type: ignore[attr-defined]
        # the expunge's log change is made, then a sync reads the file first
        box._dropping.add(2)  # type: ignore[attr-defined]
        box.log.expunge([2])  # type: ignore[attr-defined]
        await box.sync()  # type: ignore[attr-defined]
        assert 2 not in box.log  # type: ignore[attr-defined]
        assert 4 in box.log  # type: ignore[attr-defined]
        await box.drop_messages([2])  # type: ignore[attr-defined]
        box._dropping.discard(2)  # type: ignore[attr-defined]
        await other.close()
        await store.close()

    async def test_a_rewrite_keeps_flags_changed_within_the_same_clock_tick(self) -> None:
        """Another writer's in-place flag change that leaves size and mtime
        as they were (both within one tick of the file clock) is still
        read before a rewrite, not overwritten from our older scan."""
        store, box = await self.open()
        for i in range(1, 4):
            await box.append(message(i), frozenset(), None)  # type: ignore[attr-defined]
        e = box.scan.entries[2]  # type: ignore[attr-defined]
        st = os.stat(self.inbox)
        with open(self.inbox, "r+b") as f:  # as Dovecot or mutt would, in place
            f.seek(e.flagspan[0])
            f.write(fmt.flag_block({"\\Answered"}, pad_to=e.flagspan[1]))
        os.utime(self.inbox, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(self.inbox).st_mtime_ns == st.st_mtime_ns
        await box.expunge_uids([2])  # type: ignore[attr-defined]
        assert box.log.get(3).flags == {"\\Answered"}  # type: ignore[attr-defined]
        await store.close()
        store, box = await self.open()
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert {s.uid: s.flags for s in snap.messages} == {1: frozenset(), 3: {"\\Answered"}}
        await store.close()


FILL = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("LOCKED", flush=True)
sys.stdin.readline()
os.write(fd, b"From mda@example.org Mon Dec  7 04:00:00 2026\nSubject: delivered\n\nhello\n\n")
"""


class EmptyFileFilledMeanwhile(Base):
    async def test_a_message_delivered_while_we_wait_to_give_the_base_header_is_numbered(
            self) -> None:
        """An empty INBOX gets its pseudo-message (its UIDVALIDITY) under
        the write lock; an MDA holding the lock fills the file meanwhile
        with a message without X-UID: that message is numbered (UID 1),
        never taken in with UID 0."""
        from twisted.internet import reactor, task, threads

        os.makedirs(os.path.dirname(self.inbox))
        open(self.inbox, "wb").close()
        mda = subprocess.Popen([sys.executable, "-c", FILL, self.inbox],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert mda.stdout is not None and mda.stdout.readline() == b"LOCKED\n"
        store, box = await self.open()
        status = box.status()  # type: ignore[attr-defined]
        # (the sync's thread has seen the empty file and waits for the lock)
        await task.deferLater(reactor, 0.5, lambda: None)
        assert mda.stdin is not None
        mda.stdin.write(b"go\n")
        mda.stdin.close()
        await threads.deferToThread(mda.wait)
        await status
        snap = await box.snapshot()  # type: ignore[attr-defined]
        assert [m.uid for m in snap.messages] == [1], snap
        assert await box.read(1) == b"Subject: delivered\r\n\r\nhello\r\n"  # type: ignore[attr-defined]
        with open(self.inbox, "rb") as f:
            data = f.read()
        assert b"\nX-UID: 1\n" in data and data.count(b"\nX-IMAP") == 1, data
        await store.close()
