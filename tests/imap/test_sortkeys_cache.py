"""The sort-key cache (mailframe/imap/commands/sortkeys_cache.py): keys
are computed once per message, shared by every session of a mailbox, and
bounded overall."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.imap.commands import sortkeys_cache
from mailframe.store.memory import MemoryStore


class _IO:
    async def pause(self) -> None:
        return None


def session(box: Any, uids: list[int]) -> Any:
    view = SimpleNamespace(uidvalidity=box.uidvalidity, uids=uids)
    return SimpleNamespace(mailbox=box, view=view, io=_IO())


class SortKeyCacheTests(TestCase):
    async def box_with(self, account: Any, name: str, n: int) -> Any:
        if name != "INBOX":
            await account.create_mailbox(name)
        box = await account.mailbox(name)
        for i in range(n):
            await box.append(b"Subject: Re: m%d\r\n\r\nx\r\n" % i, frozenset(), None)
        calls: list[list[int]] = []
        records = box.records

        def counting(uids: Any) -> Any:
            calls.append(list(uids))
            return records(uids)

        box.records = counting
        box.calls = calls
        return box

    async def test_computed_once_for_every_session(self) -> None:
        account = await MemoryStore().account("u")
        box = await self.box_with(account, "INBOX", 3)
        first = await sortkeys_cache.keys_for(session(box, [1, 2, 3]), [3, 1])
        self.assertEqual([k.subject for k in first if k], ["M2", "M0"])
        self.assertEqual(box.calls, [[3, 1]])
        again = await sortkeys_cache.keys_for(session(box, [1, 2, 3]), [1, 2, 3])
        self.assertEqual(box.calls, [[3, 1], [2]])  # only the one not seen yet
        self.assertIs(again[0], first[1])
        gone = await sortkeys_cache.keys_for(session(box, [1, 2, 3]), [9])
        self.assertEqual(gone, [None])

    async def test_bounded_over_all_mailboxes(self) -> None:
        self.patch(sortkeys_cache, "MAX_CACHED", 4)
        account = await MemoryStore().account("u")
        a = await self.box_with(account, "INBOX", 3)
        b = await self.box_with(account, "B", 3)
        await sortkeys_cache.keys_for(session(a, [1, 2, 3]), [1, 2, 3])
        await sortkeys_cache.keys_for(session(b, [1, 2, 3]), [1, 2, 3])  # 6 > 4: a's go
        await sortkeys_cache.keys_for(session(a, [1, 2, 3]), [1, 2, 3])
        self.assertEqual(a.calls, [[1, 2, 3], [1, 2, 3]])
        self.assertEqual(b.calls, [[1, 2, 3]])
