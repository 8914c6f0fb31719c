"""OBJECTID (RFC 8474): golden transcript on every store
(tests/transcripts/objectid), ids equal where the RFC wants them equal
(after RENAME, COPY, MOVE, a restart), new where it wants them new (DELETE
and CREATE), nothing offered on an unwrapped store, and a real client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.imap.commands.objectid import email_id, mailbox_id
from mailframe.imap.driver import SessionDriver
from mailframe.interfaces import IObjectIdAccount
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.objectid import ObjectIdStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import run_transcript
from tests.support.server import ServerProcess

HERE = Path(__file__).resolve().parent.parent / "transcripts" / "objectid"
MSG = b"Subject: x\r\n\r\nhello\r\n"


class _Transcripts(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def play(self, path: Path) -> None:
        store = ObjectIdStore(self.make_store())
        try:
            await run_transcript(path.read_text(encoding="utf-8"), store)
        finally:
            await defer.maybeDeferred(store.close)

    async def test_ids_stable_across_restart_rename_copy(self) -> None:
        url = self.url()
        if url is None:
            return  # the memory store keeps nothing across a restart
        store = ObjectIdStore(self.open(url))
        account = await store.account("alice")
        self.assertTrue(IObjectIdAccount.providedBy(account))
        await account.create_mailbox("Box")
        box = await account.mailbox("Box")
        before = mailbox_id("alice", (await box.status()).uidvalidity)
        uid = await box.append(MSG)
        eid = await email_id(box, uid, len(MSG))
        await store.close()
        again = ObjectIdStore(self.open(url))
        account = await again.account("alice")
        await account.rename_mailbox("Box", "Moved")
        moved = await account.mailbox("Moved")
        self.assertEqual(mailbox_id("alice", (await moved.status()).uidvalidity), before)
        self.assertEqual(await email_id(moved, uid, len(MSG)), eid)
        inbox = await account.mailbox("INBOX")
        result = await moved.copy([uid], inbox)
        self.assertEqual(await email_id(inbox, result.pairs[0][1], len(MSG)), eid)
        await account.delete_mailbox("Moved")
        await account.create_mailbox("Moved")
        fresh = await account.mailbox("Moved")
        self.assertNotEqual(mailbox_id("alice", (await fresh.status()).uidvalidity), before)
        await again.close()

    def url(self) -> str | None:
        return None

    def open(self, url: str) -> Any:
        raise NotImplementedError


def _test_for(path: Path) -> Callable[[Any], Any]:
    async def test(self: Any) -> None:
        await self.play(path)

    test.__name__ = "test_" + path.stem
    return test


for _path in sorted(HERE.glob("*.imap")):
    setattr(_Transcripts, "test_" + _path.stem, _test_for(_path))


class Memory(_Transcripts):
    def make_store(self) -> Any:
        return MemoryStore()


class Maildir(_Transcripts):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")

    def url(self) -> str:
        return f"maildir:{self.mktemp()}/%u"

    def open(self, url: str) -> Any:
        return maildir_from_url(url)


class Mbox(_Transcripts):
    def make_store(self) -> Any:
        return mbox_from_url(f"mbox:{self.mktemp()}/mail/%u:DIRNAME=mBoX-MeSsAgEs")

    def url(self) -> str:
        return f"mbox:{self.mktemp()}/%u:DIRNAME=mBoX-MeSsAgEs"

    def open(self, url: str) -> Any:
        return mbox_from_url(url)


class Sqlite(_Transcripts):
    def make_store(self) -> Any:
        return sqlite_from_url(f"sqlite:{self.mktemp()}.db")

    def url(self) -> str:
        return f"sqlite:{self.mktemp()}.db"

    def open(self, url: str) -> Any:
        return sqlite_from_url(url)


del _Transcripts


def test_not_offered_on_an_unwrapped_store() -> None:
    out = SessionDriver(MemoryStore()).send(
        b"a LOGIN alice secret\r\nb STATUS INBOX (MAILBOXID)\r\nc SELECT INBOX\r\n")
    assert b"OBJECTID" not in out
    assert b"b BAD Unknown status item MAILBOXID" in out
    assert b"MAILBOXID (" not in out


def test_imapclient(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "srv") as proc:
        c = IMAPClient("127.0.0.1", port=proc.imap_port, ssl=False, timeout=10)
        c.login("alice", "secret")
        try:
            assert b"OBJECTID" in c.capabilities()
            c.append("INBOX", MSG)
            c.create_folder("Other")
            c.select_folder("INBOX")
            c.copy([1], "Other")
            first = c.fetch([1], ["EMAILID", "THREADID"])[1]
            c.select_folder("Other")
            copied = c.fetch([1], ["EMAILID"])[1]
            assert first[b"EMAILID"] == copied[b"EMAILID"] == (b"M090bcbd4edc487bcb38faf9e",)
            assert first[b"THREADID"] is None
            status: dict[bytes, Any] = c.folder_status("Other", ["MAILBOXID"])
            assert status[b"MAILBOXID"][0].startswith(b"F")
        finally:
            c.logout()
