"""Two processes serving one mbox tree (``--workers 2``, the default):
two :class:`MboxStore` objects on one tree stand in for the two worker
processes, each with its own cached scans, logs and mailbox lists.  Every
command must first notice what the other one changed (the file's flags
and messages, the tree's mailboxes and subscriptions, who has claimed
``\\Recent``), as it notices Dovecot's or mutt's changes."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.errors import NonexistentMailbox
from mailframe.imap.types import SearchAll, SearchFlag
from mailframe.records import StoreMode
from mailframe.store._mbox_file import MboxFile
from mailframe.store._mbox_io import ident
from mailframe.store.mbox import MboxStore

SEEN, DRAFT, DELETED = "\\Seen", "\\Draft", "\\Deleted"


def message(i: int) -> bytes:
    return b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)


class TwoProcesses(TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="mf-mbox-2p-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.stores: list[MboxStore] = []

    def store(self, dirname: str | None = "mBoX") -> MboxStore:
        store = MboxStore(os.path.join(self.root, "%u"), dirname=dirname)
        self.stores.append(store)
        self.addCleanup(store.close)
        return store

    async def inboxes(self, n: int = 0) -> tuple[Any, Any]:
        """INBOX in process A with ``n`` messages, then INBOX in process B
        (which has read the file as A left it)."""
        a = await (await self.store().account("u")).mailbox("INBOX")
        for i in range(1, n + 1):
            await a.append(message(i))
        b = await (await self.store().account("u")).mailbox("INBOX")
        assert [m.uid for m in (await b.snapshot()).messages] == list(range(1, n + 1))
        return a, b

    async def test_store_starts_from_the_flags_the_other_process_set(self) -> None:
        """mbsync's two connections: \\Seen set through one process, then
        \\Draft through the other must keep \\Seen (the file's flags are the
        truth, not the second process's cached scan)."""
        a, b = await self.inboxes(1)
        await a.store([1], StoreMode.ADD, frozenset({SEEN}))
        await b.store([1], StoreMode.ADD, frozenset({DRAFT}))
        for box in (a, b):
            (state,) = await box.states([1])
            assert state.flags == frozenset({SEEN, DRAFT}), (box, state.flags)
        fresh = await (await self.store().account("u")).mailbox("INBOX")
        assert (await fresh.states([1]))[0].flags == frozenset({SEEN, DRAFT})

    async def test_search_sees_the_other_process_flags_and_expunges(self) -> None:
        a, b = await self.inboxes(3)
        await a.store([1, 2, 3], StoreMode.ADD, frozenset({DELETED}))
        assert await b.search(SearchFlag(DELETED), [1, 2, 3]) == [1, 2, 3]
        assert await a.expunge() == [1, 2, 3]
        assert await b.search(SearchAll(), [1, 2, 3]) == []
        assert await b.search(SearchFlag(DELETED), [1, 2, 3]) == []
        assert [c.uid for c in (await b.snapshot()).messages] == []

    async def test_each_in_place_flag_write_changes_the_file_identity(self) -> None:
        """A flag change rewrites padded header lines in place: same inode,
        same size, and within the kernel clock's tick the same mtime.  The
        other process compares (inode, size, mtime) to notice a change, so
        every write must move the mtime on."""
        a, _ = await self.inboxes(1)
        f = MboxFile(a.path)
        seen = {ident(os.stat(a.path))}
        scan, now = a.scan, ident(os.stat(a.path))
        for i in range(20):
            scan, now = f.write_flags(scan, now, {1: frozenset({SEEN} if i % 2 else {DRAFT})},
                                      a.log.uidvalidity, a.log.uidnext)
            assert now == ident(os.stat(a.path))
            assert now not in seen, f"write {i} left the identity as an earlier one"
            seen.add(now)

    async def test_list_and_select_see_the_other_process_mailboxes(self) -> None:
        for dirname in ("mBoX", None):
            user = f"u-{dirname}"
            acc_a = await self.store(dirname).account(user)
            acc_b = await self.store(dirname).account(user)
            assert [e.name for e in await acc_b.list_mailboxes()] == ["INBOX"]
            await acc_a.create_mailbox("Résumé")
            await acc_a.subscribe("Résumé")
            assert [e.name for e in await acc_b.list_mailboxes()] == ["INBOX", "Résumé"]
            assert await acc_b.subscriptions() == {"Résumé"}
            box_b = await acc_b.mailbox("Résumé")
            box_a = await acc_a.mailbox("Résumé")
            await box_a.append(message(1))
            assert (await box_b.status()).messages == 1
            await acc_a.delete_mailbox("Résumé")
            assert [e.name for e in await acc_b.list_mailboxes()] == ["INBOX"]
            with self.assertRaises(NonexistentMailbox):
                await acc_b.mailbox("Résumé")
            assert box_b.deleted and len(box_b.log) == 0
            await acc_b.create_mailbox("Résumé")  # B may create it again
            assert [e.name for e in await acc_a.list_mailboxes()] == ["INBOX", "Résumé"]

    async def test_recent_is_claimed_by_one_session_across_processes(self) -> None:
        """RFC 3501 §2.3.2: a message is \\Recent in one session only."""
        a, b = await self.inboxes(2)
        assert (await b.status()).recent == 2
        assert await a.claim_recent() == (1, 3)
        assert await b.peek_recent() == (3, 3)
        assert await b.claim_recent() == (3, 3)
        assert (await b.status()).recent == 0
        await a.append(message(3))
        assert await b.claim_recent() == (3, 4)
        assert await a.claim_recent() == (4, 4)
        assert (await a.status()).recent == 0


class Notify(TestCase):
    """An IDLE session in one process hears a write by the other through
    inotify, not the one-second poll (turned off here)."""

    timeout = 20

    async def test_a_watcher_hears_the_other_process_write_without_the_poll(self) -> None:
        from twisted.internet import defer

        from mailframe.store import mbox

        self.patch(mbox, "POLL_INTERVAL", 3600.0)
        root = tempfile.mkdtemp(prefix="mf-mbox-2n-")
        self.addCleanup(shutil.rmtree, root, True)
        store_a, store_b = (MboxStore(os.path.join(root, "%u")) for _ in range(2))
        self.addCleanup(store_b.close)
        self.addCleanup(store_a.close)
        a = await (await store_a.account("u")).mailbox("INBOX")
        await a.append(message(1))
        b: Any = await (await store_b.account("u")).mailbox("INBOX")
        await b.snapshot()
        heard: defer.Deferred[None] = defer.Deferred()
        unwatch = b.watch(lambda: heard.called or heard.callback(None))
        self.addCleanup(unwatch)
        await a.store([1], StoreMode.ADD, frozenset({SEEN}))
        await heard
        assert b.log.get(1).flags == frozenset({SEEN})
        heard = defer.Deferred()
        await a.append(message(2))
        await heard
        assert list(b.log.uids) == [1, 2]
