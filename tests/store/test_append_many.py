"""MULTIAPPEND's store side (RFC 3502, issue 11 defect 10): ``append_many``
stores every message of a batch or none, on every built-in store."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.errors import CannotDo, TryCreate
from mailframe.store import _maildir_writes
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore

MSG = b"Subject: %d\r\n\r\nbody\r\n"


def batch(n: int) -> list[tuple[bytes, frozenset[str], Any]]:
    return [(MSG % i, frozenset({"$k%d" % i}), None) for i in range(n)]


class _AppendMany:
    def make_store(self) -> Any:
        raise NotImplementedError

    async def inbox(self) -> Any:
        return await (await self.make_store().account("u")).mailbox("INBOX")

    async def test_all_stored_with_ascending_uids_and_one_notification(self) -> None:
        box = await self.inbox()
        await box.append(MSG % 9, frozenset(), None)
        heard: list[None] = []
        unwatch = box.watch(lambda: heard.append(None))
        self.addCleanup(unwatch)
        result = await box.append_many(batch(3))
        uids = list(result.uids)
        self.assertEqual(uids, [2, 3, 4])
        self.assertEqual(result.uidvalidity, (await box.status()).uidvalidity)
        records = await box.records(uids)
        self.assertEqual([r.flags for r in records], [frozenset({"$k%d" % i}) for i in range(3)])
        self.assertLessEqual(len(heard), 1)

    async def test_deleted_mailbox_stores_none(self) -> None:
        account = await self.make_store().account("u")
        await account.create_mailbox("Temp")
        box = await account.mailbox("Temp")
        await account.delete_mailbox("Temp")
        with self.assertRaises(TryCreate):
            await box.append_many(batch(3))


class MemoryAppendMany(_AppendMany, TestCase):
    def make_store(self) -> Any:
        if not hasattr(self, "store"):
            self.store = MemoryStore()
        return self.store


class MaildirAppendMany(_AppendMany, TestCase):
    def setUp(self) -> None:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-")
        self.addCleanup(shutil.rmtree, self.path, True)

    def make_store(self) -> Any:
        if not hasattr(self, "store"):
            self.store = MaildirStore(self.path)
            self.addCleanup(self.store.close)
        return self.store

    def visible(self) -> list[str]:
        """Message files a scan would find (cur/ and new/ of INBOX)."""
        root = os.path.join(self.path, "u")
        found = []
        for sub in ("cur", "new"):
            d = os.path.join(root, sub)
            if os.path.isdir(d):
                found += os.listdir(d)
        return found

    async def test_invalid_flag_in_the_last_message_stores_none(self) -> None:
        box = await self.inbox()
        items = batch(2) + [(MSG % 3, frozenset({"bad flag"}), None)]
        with self.assertRaises(CannotDo):
            await box.append_many(items)
        self.assertEqual(self.visible(), [])
        self.assertEqual((await box.status()).messages, 0)

    async def test_a_rename_failing_part_way_leaves_nothing_visible(self) -> None:
        """The third rename into cur/ fails (a full or broken disk): the
        two already renamed are taken back, no UID is assigned, and a
        fresh store (a rescan) finds no message."""
        box = await self.inbox()
        real = os.rename
        calls = []

        def failing(src: str, dst: str) -> None:
            if os.sep + "cur" + os.sep in dst:
                calls.append(dst)
                if len(calls) == 3:
                    raise OSError(28, "No space left on device")
            real(src, dst)

        self.patch(_maildir_writes.os, "rename", failing)
        with self.assertRaises(OSError):
            await box.append_many(batch(3))
        self.patch(_maildir_writes.os, "rename", real)
        self.assertEqual(len(calls), 3)
        self.assertEqual(self.visible(), [])
        self.assertEqual(os.listdir(os.path.join(self.path, "u", "tmp")), [])
        fresh = await (await MaildirStore(self.path).account("u")).mailbox("INBOX")
        self.assertEqual((await fresh.status()).messages, 0)
        result = await box.append_many(batch(2))
        self.assertEqual(result.uids, (1, 2))


del _AppendMany
