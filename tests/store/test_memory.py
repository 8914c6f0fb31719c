"""The memory backend: the whole conformance suite, plus what only it has."""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.errors import TryCreate
from mailframe.message import parse
from mailframe.store.memory import MemoryStore
from mailframe.testing import SIMPLE, BackendConformance


class MemoryConformance(BackendConformance, TestCase):
    def make_store(self) -> MemoryStore:
        return MemoryStore()


class MemorySpecific(TestCase):
    async def test_records_carry_the_parsed_message(self) -> None:
        box = await (await MemoryStore().account("u")).mailbox("INBOX")
        uid = await box.append(SIMPLE, frozenset(), None)
        (record,) = await box.records([uid])
        self.assertEqual(record.info, parse(SIMPLE))

    async def test_default_internaldate_is_now_utc(self) -> None:
        box = await (await MemoryStore().account("u")).mailbox("INBOX")
        before = datetime.now(UTC).replace(microsecond=0)
        uid = await box.append(SIMPLE, frozenset(), None)
        (record,) = await box.records([uid])
        assert before <= record.internaldate <= datetime.now(UTC), record.internaldate

    async def test_naive_internaldate_is_taken_as_utc(self) -> None:
        box = await (await MemoryStore().account("u")).mailbox("INBOX")
        uid = await box.append(SIMPLE, frozenset(), datetime(2020, 1, 2, 3, 4, 5))
        (record,) = await box.records([uid])
        self.assertEqual(record.internaldate, datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))

    def test_every_method_returns_a_deferred_even_on_failure(self) -> None:
        store = MemoryStore()
        d = store.account("u")
        self.assertIsInstance(d, defer.Deferred)
        account = self.successResultOf(d)
        for result in (
            account.mailbox("missing"),
            account.create_mailbox("a//b"),
            account.delete_mailbox("INBOX"),
            account.rename_mailbox("x", "y"),
            account.list_mailboxes(),
            account.subscriptions(),
        ):
            self.assertIsInstance(result, defer.Deferred)
            result.addErrback(lambda f: None)
        box = self.successResultOf(account.mailbox("INBOX"))
        opened = box.read(99)
        self.assertIsInstance(opened, defer.Deferred)
        self.failureResultOf(opened)
        self.assertIsInstance(box.claim_recent(), defer.Deferred)

    async def test_deleted_mailbox_object_refuses_appends(self) -> None:
        account = await MemoryStore().account("u")
        await account.create_mailbox("Temp")
        box = await account.mailbox("Temp")
        await box.append(SIMPLE, frozenset(), None)
        heard: list[int] = []
        box.watch(lambda: heard.append(1))
        await account.delete_mailbox("Temp")
        self.assertEqual(heard, [1])  # selected sessions hear of the expunge
        self.assertEqual((await box.changes_since(0)).expunged, (1,))
        with self.assertRaises(TryCreate):
            await box.append(SIMPLE, frozenset(), None)

    async def test_unknown_special_use_is_refused(self) -> None:
        account = await MemoryStore().account("u")
        try:
            await account.create_mailbox("X", frozenset({"\\Bogus"}))
        except Exception as exc:
            self.assertEqual(getattr(exc, "code", None), "USEATTR")
        else:
            self.fail("expected USEATTR")

    async def test_copy_notifies_the_destination_once(self) -> None:
        account = await MemoryStore().account("u")
        inbox = await account.mailbox("INBOX")
        for _ in range(5):
            await inbox.append(SIMPLE, frozenset(), None)
        await account.create_mailbox("Dst")
        dst = await account.mailbox("Dst")
        heard: list[int] = []
        dst.watch(lambda: heard.append(1))
        pairs = await inbox.copy([1, 2, 3, 4, 5], dst)
        self.assertEqual(list(pairs), [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)])
        self.assertEqual(pairs.uidvalidity, (await dst.status()).uidvalidity)
        self.assertEqual(heard, [1])

    async def test_copy_and_move_into_another_backend(self) -> None:
        """COPY/MOVE into a mailbox of another IMailStore go through the
        public methods of both (here into a real Maildir store)."""
        from mailframe.crossstore import copy_messages, move_messages
        from mailframe.store import open_store

        maildir = open_store("maildir:" + self.mktemp() + "/%u")
        self.addCleanup(maildir.close)
        dst = await (await maildir.account("u")).mailbox("INBOX")
        box = await (await MemoryStore().account("u")).mailbox("INBOX")
        date = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
        a = await box.append(SIMPLE, frozenset({"\\Seen"}), date)
        b = await box.append(b"Subject: two\r\n\r\nx\r\n", frozenset(), date)
        assert not box.can_copy_to(dst) and not dst.can_copy_to(box)
        pairs = await copy_messages(box, [a, 99], dst)
        self.assertEqual(pairs.uidvalidity, (await dst.status()).uidvalidity)
        self.assertEqual([src for src, _ in pairs], [a])
        (record,) = await dst.records([pairs[0][1]])
        self.assertEqual((record.flags, record.internaldate), (frozenset({"\\Seen"}), date))
        moved = await move_messages(box, [b], dst)
        self.assertEqual([src for src, _ in moved], [b])
        self.assertEqual([m.uid for m in (await box.snapshot()).messages], [a])
        self.assertEqual(await dst.read(moved[0][1]), b"Subject: two\r\n\r\nx\r\n")


class ForeignDestination(TestCase):
    async def test_copy_to_a_foreign_mailbox_is_a_clean_no(self) -> None:
        """A direct copy() into another store's mailbox fails with CannotDo
        (the framework uses mailframe.crossstore there), not a crash."""
        from mailframe.errors import CannotDo
        from mailframe.store import open_store

        maildir = open_store("maildir:" + self.mktemp() + "/%u")
        self.addCleanup(maildir.close)
        dst = await (await maildir.account("u")).mailbox("INBOX")
        box = await (await MemoryStore().account("u")).mailbox("INBOX")
        uid = await box.append(SIMPLE, frozenset(), None)
        for action in (box.copy, box.move):
            with self.assertRaises(CannotDo):
                await action([uid], dst)
        self.assertEqual((await box.status()).messages, 1)
