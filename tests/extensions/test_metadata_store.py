"""METADATA (RFC 5464) entries persist with the store (Maildir, mbox:
reopened from disk), take binary values, and the wrappers stack: a
QuotaStore over a MetadataStore gives accounts with both interfaces; a
store that cannot keep entries is not given METADATA."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.errors import CommandFailed
from mailframe.imap.session import SERVED_OPTIONAL
from mailframe.interfaces import IAccount, IMetadataAccount, IQuotaAccount, optional_capabilities
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.metadata import MetadataLimits, MetadataStore
from mailframe.store.quota import QuotaStore
from mailframe.store.sql import sqlite_from_url


class PersistTests(TestCase):
    async def _roundtrip(self, url: str) -> None:
        store = MetadataStore(maildir_from_url(url) if url.startswith("maildir") else
                              mbox_from_url(url))
        account = await store.account("alice")
        await account.create_mailbox("Lists")
        await account.set_metadata("Lists", {"/private/comment": b"mine", "/shared/x": b"a\x00b"})
        await account.set_metadata("", {"/shared/comment": b"server"})
        await store.close()
        again = MetadataStore(maildir_from_url(url) if url.startswith("maildir") else
                              mbox_from_url(url))
        account = await again.account("alice")
        self.assertEqual(await account.get_metadata("Lists"),
                         {"/private/comment": b"mine", "/shared/x": b"a\x00b"})
        self.assertEqual(await account.get_metadata(""), {"/shared/comment": b"server"})
        await account.rename_mailbox("Lists", "Old")
        self.assertEqual(await account.get_metadata("Old"),
                         {"/private/comment": b"mine", "/shared/x": b"a\x00b"})
        await account.delete_mailbox("Old")
        await account.create_mailbox("Old")
        self.assertEqual(await account.get_metadata("Old"), {})
        await again.close()

    async def test_maildir(self) -> None:
        await self._roundtrip(f"maildir:{self.mktemp()}/%u")

    async def test_mbox(self) -> None:
        await self._roundtrip(f"mbox:{self.mktemp()}/%u:DIRNAME=mBoX-MeSsAgEs")

    async def test_all_or_none(self) -> None:
        store = MetadataStore(MemoryStore(), MetadataLimits(1024, 10))
        account = await store.account("alice")
        with self.assertRaises(CommandFailed) as caught:
            await account.set_metadata("INBOX", {"/private/a": b"1", "/private/b": b"x" * 1025})
        self.assertEqual(caught.exception.code, "METADATA MAXSIZE 1024")
        self.assertEqual(await account.get_metadata("INBOX"), {})


class WrapperTests(TestCase):
    async def test_stacked_wrappers_keep_both_interfaces(self) -> None:
        store: Any = QuotaStore(MetadataStore(MemoryStore()))
        account = await store.account("alice")
        self.assertTrue(IAccount.providedBy(account))
        self.assertTrue(IQuotaAccount.providedBy(account))
        self.assertTrue(IMetadataAccount.providedBy(account))
        caps = optional_capabilities(account, SERVED_OPTIONAL)
        self.assertEqual(caps, ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "METADATA",
                                "METADATA-SERVER"])
        # DELETE through both wrappers drops the entries
        await account.create_mailbox("X")
        await account.set_metadata("X", {"/private/comment": b"c"})
        await account.delete_mailbox("X")
        await account.create_mailbox("X")
        self.assertEqual(await account.get_metadata("X"), {})

    async def test_sqlite(self) -> None:
        url = f"sqlite:{self.mktemp()}.db"
        store = MetadataStore(sqlite_from_url(url))
        self.addCleanup(store.close)
        account = await store.account("alice")
        self.assertTrue(IMetadataAccount.providedBy(account))
        await account.create_mailbox("A/B")
        await account.set_metadata("A/B", {"/private/comment": b"ab", "/shared/x": b"\x00"})
        await account.set_metadata("INBOX", {"/private/comment": b"inbox"})
        await account.rename_mailbox("A", "C")
        # (the SQL store's own RENAME INBOX fails at this commit, so the
        # entries' side of it is run alone)
        await account.create_mailbox("Old")
        await account._backend.rename("INBOX", "Old")
        again = MetadataStore(sqlite_from_url(url))
        self.addCleanup(again.close)
        account = await again.account("alice")
        self.assertEqual(await account.get_metadata("C/B"),
                         {"/private/comment": b"ab", "/shared/x": b"\x00"})
        self.assertEqual(await account.get_metadata("Old"), {"/private/comment": b"inbox"})
        self.assertEqual(await account.get_metadata("INBOX"), {"/private/comment": b"inbox"})
        bob = await again.account("bob")
        self.assertEqual(await bob.get_metadata("INBOX"), {})
        await account.delete_mailbox("C/B")
        await account.create_mailbox("C/B")
        self.assertEqual(await account.get_metadata("C/B"), {})

    async def test_store_without_a_place_for_entries_is_not_given_metadata(self) -> None:
        class Other(MemoryStore):
            def make_account(self, username: str) -> Any:
                from mailframe.store.logaccount import LogAccount
                from mailframe.store.memory import MemoryMailbox

                class Plain(LogAccount):
                    def make_mailbox(self, name: str, uidvalidity: int) -> Any:
                        return MemoryMailbox(self, name, uidvalidity)  # type: ignore[arg-type]

                return Plain(self, username)

        account = await MetadataStore(Other()).account("alice")
        self.assertFalse(IMetadataAccount.providedBy(account))
