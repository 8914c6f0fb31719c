"""SAVEDATE (RFC 8514): every built-in store tells when a message was
saved into its mailbox: the append time in memory, the delivery time a
Maildir unique name starts with (kept across flag renames)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore

MSG = b"Subject: x\r\n\r\nbody\r\n"
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


class _SaveDate:
    def make_store(self) -> Any:
        raise NotImplementedError

    async def test_appended_now_whatever_the_internal_date(self) -> None:
        account = await self.make_store().account("u")
        box = await account.mailbox("INBOX")
        before = int(time.time())
        uid = await box.append(MSG, frozenset(), LONG_AGO)
        await box.store([uid], "add", frozenset({"\\Seen"}))  # a Maildir rename
        (record,) = await box.records([uid])
        self.assertEqual(record.internaldate, LONG_AGO)
        self.assertIsNotNone(record.savedate)
        self.assertTrue(before <= record.savedate.timestamp() <= time.time() + 1)

    async def test_copy_is_saved_anew(self) -> None:
        account = await self.make_store().account("u")
        await account.create_mailbox("Other")
        box, other = await account.mailbox("INBOX"), await account.mailbox("Other")
        uid = await box.append(MSG, frozenset(), LONG_AGO)
        ((_, new),) = await box.copy([uid], other)
        (record,) = await other.records([new])
        self.assertGreater(record.savedate, LONG_AGO)


class MemorySaveDate(_SaveDate, TestCase):
    def make_store(self) -> Any:
        if not hasattr(self, "store"):
            self.store = MemoryStore()
        return self.store


class MaildirSaveDate(_SaveDate, TestCase):
    def setUp(self) -> None:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-")
        self.addCleanup(shutil.rmtree, self.path, True)

    def make_store(self) -> Any:
        if not hasattr(self, "store"):
            self.store = MaildirStore(self.path)
            self.addCleanup(self.store.close)
        return self.store

    async def test_delivered_file_dates_from_its_name(self) -> None:
        """A message an MDA left in ``new/``: its name's leading seconds."""
        account = await self.make_store().account("u")
        path = os.path.join(self.path, "u", "new", "1600000000.M1P2.example")
        with open(path, "wb") as f:
            f.write(MSG)
        box = await account.mailbox("INBOX")
        (uid,) = [m.uid for m in (await box.snapshot()).messages]
        (record,) = await box.records([uid])
        self.assertEqual(record.savedate, datetime.fromtimestamp(1600000000, UTC))
