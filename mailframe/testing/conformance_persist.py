"""Conformance tests for backends that keep mail across restarts.

DESIGN.md: uidvalidity, uidnext and highestmodseq "all three persist across
restarts"; UIDs are never reused within one UIDVALIDITY (RFC 3501
§2.3.1.1), and tombstones must outlive a restart for VANISHED (RFC 7162
§3.2.5).  A backend opts in by providing :meth:`reopen_store`.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from mailframe.testing._base import AWKWARD, AWKWARD_STORED, DATE, BackendFixture, message


class PersistenceConformance(BackendFixture):
    """State that must survive closing the store and opening it again."""

    def reopen_store(self) -> Any:
        """Return a new IMailStore over the same data as the store that
        :meth:`make_store` made (called after that one is closed)."""
        raise NotImplementedError("a persistent backend's test case must define reopen_store()")

    async def restart(self) -> None:
        """Close the current store and reopen it (the test's store from now on)."""
        await self.store()
        old, self._store = self._store, None
        await defer.maybeDeferred(self.cleanup_store, old)
        store = await defer.maybeDeferred(self.reopen_store)
        self._store = store

    async def test_messages_and_counters_survive(self) -> None:
        box = await self.mailbox()
        a = await self.append(box, AWKWARD, {"\\Seen", "$Tag"}, DATE)
        b = await self.append(box, message(2), {"\\Flagged"})
        await box.store([b], "add", frozenset({"\\Answered"}))
        before = await box.status()
        records = await box.records([a, b])
        await self.restart()
        box = await self.mailbox()
        after = await box.status()
        self.assertEqual(
            (after.uidvalidity, after.uidnext, after.highestmodseq, after.messages),
            (before.uidvalidity, before.uidnext, before.highestmodseq, before.messages),
        )
        again = await box.records([a, b])
        self.assertEqual(
            [(r.uid, r.flags, r.modseq, r.size, r.internaldate) for r in again],
            [(r.uid, r.flags, r.modseq, r.size, r.internaldate) for r in records],
        )
        self.assertEqual(await self.read(box, a), AWKWARD_STORED)

    async def test_uids_not_reused_after_restart(self) -> None:
        box = await self.mailbox()
        a, b = await self.append_many(box, 2)
        await box.store([b], "add", frozenset({"\\Deleted"}))
        await box.expunge()
        await self.restart()
        box = await self.mailbox()
        c = await self.append(box, message(5))
        assert c > b, (b, c)

    async def test_modseqs_keep_rising_after_restart(self) -> None:
        box = await self.mailbox()
        uid = await self.append(box)
        high = (await box.status()).highestmodseq
        await self.restart()
        box = await self.mailbox()
        await box.store([uid], "add", frozenset({"\\Seen"}))
        assert (await box.status()).highestmodseq > high

    async def test_tombstones_survive_restart(self) -> None:
        box = await self.mailbox()
        a, b = await self.append_many(box, 2)
        mark = (await box.status()).highestmodseq
        await box.store([a], "add", frozenset({"\\Deleted"}))
        await box.expunge()
        await self.restart()
        box = await self.mailbox()
        self.assertEqual((await box.changes_since(mark)).expunged, (a,))

    async def test_mailbox_tree_and_subscriptions_survive(self) -> None:
        account = await self.account()
        await account.create_mailbox("Lists/python")
        await account.create_mailbox("Sent", frozenset({"\\Sent"}))
        await account.create_mailbox("gone/child")
        await account.delete_mailbox("gone")
        await account.subscribe("Lists/python")
        validity = await self.uidvalidity(await account.mailbox("Lists/python"))
        names = await self.names()
        await self.restart()
        self.assertEqual(await self.names(), names)
        account = await self.account()
        self.assertEqual(await account.subscriptions(), {"Lists/python"})
        self.assertEqual(await self.uidvalidity(await account.mailbox("Lists/python")), validity)

    async def test_recreated_mailbox_after_restart_gets_new_uidvalidity(self) -> None:
        account = await self.account()
        await account.create_mailbox("Again")
        validity = await self.uidvalidity(await account.mailbox("Again"))
        await account.delete_mailbox("Again")
        await self.restart()
        account = await self.account()
        await account.create_mailbox("Again")
        assert await self.uidvalidity(await account.mailbox("Again")) != validity
