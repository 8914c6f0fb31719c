"""The Maildir backend: the whole conformance suite, restarts included."""

from __future__ import annotations

import shutil
import tempfile

from twisted.trial.unittest import TestCase

from mailframe.errors import CannotDo, TryCreate
from mailframe.message import parse
from mailframe.store.maildir import MaildirStore
from mailframe.testing import SIMPLE, PersistentBackendConformance


class MaildirConformance(PersistentBackendConformance, TestCase):
    def make_store(self) -> MaildirStore:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-")
        self.addCleanup(shutil.rmtree, self.path, True)
        return MaildirStore(self.path)

    def reopen_store(self) -> MaildirStore:
        return MaildirStore(self.path)


class MaildirThreadedConformance(PersistentBackendConformance, TestCase):
    """The same suite with every folder's disk work in the reactor's thread
    pool (what the server does): results identical, in order."""

    def make_store(self) -> MaildirStore:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-")
        self.addCleanup(shutil.rmtree, self.path, True)
        return MaildirStore(self.path, threads=True)

    def reopen_store(self) -> MaildirStore:
        return MaildirStore(self.path, threads=True)


class MaildirSpecific(TestCase):
    def setUp(self) -> None:
        self.path = tempfile.mkdtemp(prefix="mf-maildir-")
        self.addCleanup(shutil.rmtree, self.path, True)

    async def test_records_carry_the_parsed_message(self) -> None:
        box = await (await MaildirStore(self.path).account("u")).mailbox("INBOX")
        uid = await box.append(SIMPLE, frozenset(), None)
        (record,) = await box.records([uid])
        self.assertEqual(record.info, parse(SIMPLE))
        (again,) = await (
            await (await MaildirStore(self.path).account("u")).mailbox("INBOX")
        ).records([uid])
        self.assertEqual(again.info, parse(SIMPLE))  # from mailframe-cache

    async def test_deleted_mailbox_object_refuses_appends(self) -> None:
        account = await MaildirStore(self.path).account("u")
        await account.create_mailbox("Temp")
        box = await account.mailbox("Temp")
        await box.append(SIMPLE, frozenset(), None)
        await account.delete_mailbox("Temp")
        self.assertEqual((await box.changes_since(0)).expunged, (1,))
        with self.assertRaises(TryCreate):
            await box.append(SIMPLE, frozenset(), None)

    async def test_special_use_is_kept_and_unknown_refused(self) -> None:
        account = await MaildirStore(self.path).account("u")
        await account.create_mailbox("Sent", frozenset({"\\Sent"}))
        entries = {e.name: e.attributes for e in await account.list_mailboxes()}
        self.assertEqual(entries["Sent"], frozenset({"\\Sent"}))
        with self.assertRaises(CannotDo) as cm:
            await account.create_mailbox("X", frozenset({"\\Bogus"}))
        self.assertEqual(cm.exception.code, "USEATTR")
