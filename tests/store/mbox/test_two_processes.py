"""Two mailframe processes on the same mbox files (``--workers``, or
mailframe beside Dovecot): each is a :class:`MboxStore` of its own on the
same ROOT, as each worker process has, with no mocks.  Found by imaptest's
scripted groups on ``--workers 2``."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import TestCase

from mailframe.errors import NonexistentMailbox
from mailframe.records import StoreMode
from mailframe.store.mbox import MboxStore

MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


class TwoProcesses(TestCase):
    dirname: str | None = "mBoX-MeSsAgEs"

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def store(self) -> MboxStore:
        store = MboxStore(os.path.join(self.root, "%u"), dirname=self.dirname)
        self.addCleanup(store.close)
        return store

    async def accounts(self) -> tuple[object, object]:
        a = await self.store().account("u")
        b = await self.store().account("u")
        return a, b

    async def test_a_mailbox_the_other_created_can_be_selected_and_listed(self) -> None:
        a, b = await self.accounts()
        await b.list_mailboxes()  # type: ignore[attr-defined]
        await a.create_mailbox("box")  # type: ignore[attr-defined]
        box = await (await a.mailbox("box")).append(MSG, frozenset())  # type: ignore[attr-defined]
        assert box == 1
        names = [e.name for e in await b.list_mailboxes()]  # type: ignore[attr-defined]
        assert "box" in names
        status = await (await b.mailbox("box")).status()  # type: ignore[attr-defined]
        assert status.messages == 1

    async def test_a_mailbox_the_other_deleted_is_gone_and_delete_is_clean(self) -> None:
        a, b = await self.accounts()
        await a.create_mailbox("box")  # type: ignore[attr-defined]
        await (await a.mailbox("box")).append(MSG, frozenset())  # type: ignore[attr-defined]
        await (await b.mailbox("box")).status()  # type: ignore[attr-defined]
        await a.delete_mailbox("box")  # type: ignore[attr-defined]
        # b still held the mailbox: it must notice, not rewrite a vanished file
        with self.assertRaises(NonexistentMailbox):
            await b.delete_mailbox("box")  # type: ignore[attr-defined]
        with self.assertRaises(NonexistentMailbox):
            await b.mailbox("box")  # type: ignore[attr-defined]
        assert "box" not in [e.name for e in await b.list_mailboxes()]  # type: ignore[attr-defined]
        # and created again by b, a sees the new one (no message 1 of the old)
        await b.create_mailbox("box")  # type: ignore[attr-defined]
        status = await (await a.mailbox("box")).status()  # type: ignore[attr-defined]
        assert status.messages == 0

    async def test_subscriptions_of_both_are_kept(self) -> None:
        a, b = await self.accounts()
        await b.subscriptions()  # type: ignore[attr-defined]
        await a.subscribe("one")  # type: ignore[attr-defined]
        await b.subscribe("two")  # type: ignore[attr-defined]
        assert await a.subscriptions() == {"one", "two"}  # type: ignore[attr-defined]

    async def test_concurrent_stores_to_one_message_both_apply(self) -> None:
        """RFC 3501 §6.4.6: +FLAGS / -FLAGS change only the flags named;
        imaptest's store group: 1 +\\Answered and 2 -\\Seen at once."""
        a, b = await self.accounts()
        box_a = await a.mailbox("INBOX")  # type: ignore[attr-defined]
        await box_a.append(MSG, frozenset({"\\Seen"}))
        box_b = await b.mailbox("INBOX")  # type: ignore[attr-defined]
        await box_b.status()
        await box_a.status()
        # both know the message as \Seen; neither has seen the other's STORE
        await box_a.store([1], StoreMode.ADD, frozenset({"\\Answered"}))
        await box_b.store([1], StoreMode.REMOVE, frozenset({"\\Seen"}))
        await box_a.status()
        await box_b.status()
        fresh = await (await self.store().account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        for box in (fresh, box_a, box_b):
            snap = await box.snapshot()
            assert [m.flags - {"\\Recent"} for m in snap.messages] == [
                frozenset({"\\Answered"})], box


class TwoProcessesPlain(TwoProcesses):
    """The same in Dovecot's plain layout (no DIRNAME=)."""

    dirname = None


class TwoProcessesMore(TestCase):
    """\\Recent and a mailbox replaced behind our back (``DIRNAME=``)."""

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def store(self) -> MboxStore:
        store = MboxStore(os.path.join(self.root, "%u"), dirname="mBoX-MeSsAgEs")
        self.addCleanup(store.close)
        return store

    async def test_recent_is_claimed_once_across_processes(self) -> None:
        """RFC 3501 §2.3.2: \\Recent in exactly one session."""
        a = await self.store().account("u")
        b = await self.store().account("u")
        await a.create_mailbox("box")  # type: ignore[attr-defined]
        box_a = await a.mailbox("box")  # type: ignore[attr-defined]
        box_b = await b.mailbox("box")  # type: ignore[attr-defined]
        await box_b.status()
        await box_a.append(MSG, frozenset())
        await box_b.status()
        assert await box_a.claim_recent() == (1, 2)
        # the other process's sessions: nothing recent, and STATUS says so
        assert (await box_b.status()).recent == 0
        lo, hi = await box_b.claim_recent()
        assert lo >= hi
        assert await box_b.peek_recent() == (2, 2)

    async def test_a_mailbox_deleted_and_created_again_elsewhere_is_the_new_one(self) -> None:
        a = await self.store().account("u")
        b = await self.store().account("u")
        await a.create_mailbox("box")  # type: ignore[attr-defined]
        await (await a.mailbox("box")).append(MSG, frozenset({"\\Flagged"}))  # type: ignore[attr-defined]
        old = await b.mailbox("box")  # type: ignore[attr-defined]
        old_validity = (await old.status()).uidvalidity
        await a.delete_mailbox("box")  # type: ignore[attr-defined]
        await a.create_mailbox("box")  # type: ignore[attr-defined]
        await (await a.mailbox("box")).append(MSG, frozenset({"\\Seen"}))  # type: ignore[attr-defined]
        new = await b.mailbox("box")  # type: ignore[attr-defined]
        assert new is not old
        status = await new.status()
        assert status.uidvalidity != old_validity and status.messages == 1
        snap = await new.snapshot()
        assert [m.flags - {"\\Recent"} for m in snap.messages] == [frozenset({"\\Seen"})]
        assert old.deleted


class FileAndDirectory(TestCase):
    """Dovecot's plain layout: a name another process turned from a file
    into a directory (or the reverse) gets a NO with a reason, never an
    IsADirectoryError (as Dovecot: "Mailbox isn't selectable", "Mailbox
    doesn't allow inferior mailboxes")."""

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def store(self) -> MboxStore:
        store = MboxStore(os.path.join(self.root, "%u"))
        self.addCleanup(store.close)
        return store

    async def test_a_file_become_a_directory(self) -> None:
        from mailframe.errors import CommandFailed

        a = await self.store().account("u")
        b = await self.store().account("u")
        await a.create_mailbox("x")  # type: ignore[attr-defined]
        await (await b.mailbox("x")).status()  # type: ignore[attr-defined]
        await a.delete_mailbox("x")  # type: ignore[attr-defined]
        await a.create_mailbox("x/y")  # type: ignore[attr-defined]
        for op in (lambda: b.mailbox("x"),  # type: ignore[attr-defined]
                   lambda: b.create_mailbox("x"),  # type: ignore[attr-defined]
                   lambda: b.delete_mailbox("x")):  # type: ignore[attr-defined]
            with self.assertRaises(CommandFailed):
                await op()
        entries = {e.name: e.attributes for e in await b.list_mailboxes()}  # type: ignore[attr-defined]
        assert "\\Noselect" in entries["x"] and "x/y" in entries

    async def test_a_directory_become_a_file(self) -> None:
        from mailframe.errors import CannotDo

        a = await self.store().account("u")
        b = await self.store().account("u")
        await a.create_mailbox("x/y")  # type: ignore[attr-defined]
        await b.list_mailboxes()  # type: ignore[attr-defined]
        await a.delete_mailbox("x/y")  # type: ignore[attr-defined]
        await a.delete_mailbox("x")  # type: ignore[attr-defined]
        await a.create_mailbox("x")  # type: ignore[attr-defined]
        with self.assertRaises(CannotDo):
            await b.create_mailbox("x/z")  # type: ignore[attr-defined]
        assert (await (await b.mailbox("x")).status()).messages == 0  # type: ignore[attr-defined]


class SharedStateFiles(TestCase):
    """The files every process rewrites (the last UIDVALIDITY given,
    subscriptions, special-use, indexes) go through a temporary file of
    this process's own: another process's temporary file, in flight, is
    neither written into nor renamed away (under ``--workers`` that made
    LOGIN fail with FileNotFoundError in imaptest's stress run)."""

    async def test_another_writers_temporary_files_are_left_alone(self) -> None:
        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        user = os.path.join(root, "u")
        state = os.path.join(user, ".mailframe")
        os.makedirs(os.path.join(state, "mailboxes"))
        theirs = [os.path.join(state, "last-uidvalidity.tmp"),
                  os.path.join(state, "special-use.json.tmp"),
                  os.path.join(state, "mailboxes", "box.json.tmp"),
                  os.path.join(user, ".subscriptions.tmp")]
        for path in theirs:
            with open(path, "w") as f:
                f.write("another process's\n")
        store = MboxStore(os.path.join(root, "%u"))
        account = await store.account("u")
        await account.create_mailbox("box", frozenset({"\\Archive"}))  # type: ignore[attr-defined]
        await account.subscribe("box")  # type: ignore[attr-defined]
        box = await account.mailbox("box")  # type: ignore[attr-defined]
        await box.append(MSG, frozenset())
        await store.close()
        for path in theirs:
            with open(path) as f:
                assert f.read() == "another process's\n", path
        assert await (await MboxStore(os.path.join(root, "%u")).account("u")).subscriptions() \
            == {"box"}  # type: ignore[attr-defined]


class StoreRebased(TestCase):
    """A STORE not yet written when a sync reads another process's STORE to
    the same message: ours is applied to theirs, not theirs overwritten
    (imaptest's store group, flaky under --workers before)."""

    async def test_our_unwritten_store_is_rebased_on_theirs(self) -> None:
        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        stores = [MboxStore(os.path.join(root, "%u")) for _ in range(2)]
        for s in stores:
            self.addCleanup(s.close)
        box_a = await (await stores[0].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        box_b = await (await stores[1].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        await box_a.append(MSG, frozenset({"\\Seen"}))
        await box_b.status()
        await box_a.store([1], StoreMode.ADD, frozenset({"\\Answered"}))
        # b's -\Seen reaches its log; a sync (another command, the IDLE
        # poll) reads a's change before b's write runs
        box_b.log.store([1], StoreMode.REMOVE, frozenset({"\\Seen"}), None)
        await box_b.sync()
        await box_b.log_changed()
        await box_a.status()
        for box in (box_a, box_b):
            snap = await box.snapshot()
            assert [m.flags - {"\\Recent"} for m in snap.messages] == [
                frozenset({"\\Answered"})], box


class UidvalidityAcrossProcesses(TestCase):
    async def test_a_name_created_again_by_another_process_gets_a_new_uidvalidity(self) -> None:
        """RFC 3501 §2.3.1.1: a UIDVALIDITY is never reused for a name, when
        two processes take turns deleting and creating it (imaptest's
        select group saw \\Recent lost to a reused one before)."""
        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        stores = [MboxStore(os.path.join(root, "%u")) for _ in range(2)]
        for s in stores:
            self.addCleanup(s.close)
        a = await stores[0].account("u")
        b = await stores[1].account("u")
        seen = []
        for i in range(6):
            account = (a, b)[i % 2]
            await account.create_mailbox("box")  # type: ignore[attr-defined]
            seen.append((await (await account.mailbox("box")).status()).uidvalidity)  # type: ignore[attr-defined]
            await account.delete_mailbox("box")  # type: ignore[attr-defined]
        assert len(set(seen)) == len(seen) and seen == sorted(seen), seen


class FlagsChangedInPlaceElsewhere(TestCase):
    async def test_a_change_to_an_earlier_message_is_known_exactly(self) -> None:
        """Another process changes message 1's flags in place, the last
        message untouched: what we know of message 1 follows, so a later
        -FLAGS of theirs is not undone by us."""
        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        stores = [MboxStore(os.path.join(root, "%u")) for _ in range(2)]
        for s in stores:
            self.addCleanup(s.close)
        box_a = await (await stores[0].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        box_b = await (await stores[1].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        await box_a.append(MSG, frozenset({"\\Seen"}))
        await box_a.append(MSG, frozenset())
        await box_b.status()
        await box_a.store([1], StoreMode.ADD, frozenset({"\\Answered"}))
        await box_b.status()
        await box_a.store([1], StoreMode.REMOVE, frozenset({"\\Answered"}))
        await box_b.status()
        await box_b.store([2], StoreMode.ADD, frozenset({"\\Flagged"}))
        await box_a.status()
        fresh = await (await MboxStore(os.path.join(root, "%u")).account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        for box in (box_a, box_b, fresh):
            snap = await box.snapshot()
            assert [m.flags - {"\\Recent"} for m in snap.messages] == [
                frozenset({"\\Seen"}), frozenset({"\\Flagged"})], box


class FreshInboxInTwoProcesses(TestCase):
    """Both worker processes open a user's INBOX before it has a file (the
    first logins after a start): each allocated a UIDVALIDITY of its own in
    memory, and whichever appended first wrote its value, so the other's
    clients saw UIDVALIDITY change (imaptest stress on ``--workers 2``).
    The value is decided once on disk, under the file's write lock."""

    async def test_both_see_one_uidvalidity_that_never_changes(self) -> None:
        from twisted.internet import defer

        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        stores = [MboxStore(os.path.join(root, "%u"), dirname="mBoX-MeSsAgEs")
                  for _ in range(2)]
        for s in stores:
            self.addCleanup(s.close)
        a = await (await stores[0].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        b = await (await stores[1].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        first = await defer.gatherResults([a.snapshot(), b.snapshot()])
        uv = {snap.uidvalidity for snap in first}
        assert len(uv) == 1, uv
        await b.append(MSG, frozenset())
        await a.append(MSG, frozenset())
        for box in (a, b):
            snap = await box.snapshot()
            assert snap.uidvalidity in uv
            assert [m.uid for m in snap.messages] == [1, 2]
        with open(os.path.join(root, "u", "inbox"), "rb") as f:
            data = f.read()
        assert data.count(b"\nX-IMAP: %d " % uv.pop()) == 1, data[:400]


class ModseqsAcrossProcesses(TestCase):
    """RFC 7162 §3.1: each process counted modseqs on its own, so a client
    moving between worker processes saw HIGHESTMODSEQ go backwards and
    CHANGEDSINCE missed the other process's changes.  The mailbox's
    HIGHESTMODSEQ is claimed on disk (:mod:`mailframe.store._mbox_modseq`)."""

    async def test_changedsince_in_either_process_sees_every_change(self) -> None:
        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        stores = [MboxStore(os.path.join(root, "%u")) for _ in range(2)]
        for s in stores:
            self.addCleanup(s.close)
        box_a = await (await stores[0].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        box_b = await (await stores[1].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        for _ in range(4):
            await box_a.append(MSG, frozenset())
        for i in range(10):  # a's counter runs ahead of b's
            mode = StoreMode.ADD if i % 2 == 0 else StoreMode.REMOVE
            await box_a.store([2], mode, frozenset({"\\Seen"}))
        seen = (await box_a.status()).highestmodseq
        highest = [seen]
        by_b = await box_b.store([1], StoreMode.ADD, frozenset({"\\Flagged"}))
        by_a = await box_a.store([3], StoreMode.ADD, frozenset({"\\Answered"}))
        assert by_b.changed[0].modseq > seen and by_a.changed[0].modseq > seen
        assert by_a.changed[0].modseq != by_b.changed[0].modseq
        await box_b.store([4], StoreMode.ADD, frozenset({"\\Deleted"}))
        assert await box_b.expunge([4]) == [4]
        for box in (box_b, box_a, box_b, box_a):
            changes = await box.changes_since(seen)
            assert {1, 3} <= {st.uid for st in changes.changed}, (box, changes)
            assert list(changes.expunged) == [4], changes
            highest.append(changes.highestmodseq)
            highest.append((await box.status()).highestmodseq)
        assert highest == sorted(highest), highest

    async def test_a_change_made_after_a_client_saw_the_other_process_is_reported(self) -> None:
        """A client reads HIGHESTMODSEQ from b, then the change it did not
        see is made by a: CHANGEDSINCE in a, and in b, reports it."""
        root = tempfile.mkdtemp(prefix="mf-mbox-two-")
        self.addCleanup(shutil.rmtree, root, True)
        stores = [MboxStore(os.path.join(root, "%u")) for _ in range(2)]
        for s in stores:
            self.addCleanup(s.close)
        box_a = await (await stores[0].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        box_b = await (await stores[1].account("u")).mailbox("INBOX")  # type: ignore[attr-defined]
        await box_a.append(MSG, frozenset())
        await box_a.append(MSG, frozenset())
        for i in range(6):  # b's counter runs ahead of a's
            mode = StoreMode.ADD if i % 2 == 0 else StoreMode.REMOVE
            await box_b.store([1], mode, frozenset({"\\Draft"}))
        seen = (await box_b.snapshot()).highestmodseq
        await box_a.store([2], StoreMode.ADD, frozenset({"\\Seen"}))
        for box in (box_a, box_b):
            changes = await box.changes_since(seen)
            assert [st.uid for st in changes.changed] == [2], (box, changes)
