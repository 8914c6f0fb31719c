"""The delivery API on its own: the folder rule, hooks, lookups."""

from __future__ import annotations

from dataclasses import replace

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from mailframe.smtp import (
    DeliveredMessage,
    Delivery,
    DeliveryHook,
    DeliveryRefused,
    DeliveryRequest,
    parse_recipient,
)
from mailframe.smtp.addressing import detail_mailbox
from mailframe.store.memory import MemoryStore
from tests.smtp._support import Users, read_mailbox

MSG = b"From: a@b\r\nSubject: =?utf-8?b?w6k=?=\r\n\r\nx\r\n"


def test_parse_recipient() -> None:
    r = parse_recipient("Alice+Lists/Python", "Example.ORG.")
    assert (r.local, r.detail, r.domain, r.mailbox) == (
        "Alice",
        "Lists/Python",
        "example.org",
        "Lists/Python",
    )
    assert r.address == "Alice+Lists/Python@example.org"
    assert parse_recipient("bob", "x").mailbox == "INBOX"
    assert parse_recipient("+bob", "x").local == "+bob"
    assert parse_recipient('"b\\"o b"+x', "x").local == 'b"o b'
    assert parse_recipient("a-b", "x", delimiter="-").detail == "b"
    assert parse_recipient("a+b", "x", delimiter="").local == "a+b"


def test_detail_mailbox_rules() -> None:
    assert detail_mailbox(None) == "INBOX"
    assert detail_mailbox("") == "INBOX"
    assert detail_mailbox("inbox") == "INBOX"
    assert detail_mailbox("inbox/sub") == "INBOX/sub"
    for bad in ("a*", "b%", "/x", "x/", "a//b", "t\x01"):
        assert detail_mailbox(bad) == "INBOX", bad
    assert detail_mailbox("Work") == "Work"


class Recorder(DeliveryHook):
    def __init__(self) -> None:
        self.seen: list[DeliveredMessage] = []

    def delivered(self, message: DeliveredMessage) -> None:
        self.seen.append(message)


class Broken(DeliveryHook):
    def delivered(self, message: DeliveredMessage) -> None:
        raise RuntimeError("notification backend down")


class ToArchive(DeliveryHook):
    def before_delivery(self, request: DeliveryRequest) -> Deferred[DeliveryRequest]:
        from twisted.internet.defer import succeed

        return succeed(replace(request, mailbox="Archive", flags=request.flags | {"\\Seen"}))


class DeliveryTests(unittest.TestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.rec = Recorder()

    async def _fallback(self) -> None:
        d = Delivery(self.store, Users("alice"), [Broken(), self.rec])
        self.assertEqual(await d.deliver("alice", MSG, "NoSuch"), 1)
        self.assertEqual(
            await d.deliver("alice", MSG, "inbox", frozenset({"\\Recent", "\\Flagged"})), 2
        )
        self.assertEqual([m.mailbox for m in self.rec.seen], ["INBOX", "INBOX"])
        self.assertEqual(self.rec.seen[0].subject, "é")
        self.assertEqual(self.rec.seen[0].from_, "a@b")
        account = await self.store.account("alice")
        box = await account.mailbox("INBOX")
        states = (await box.snapshot()).messages
        self.assertEqual([s.flags for s in states], [frozenset(), frozenset({"\\Flagged"})])
        self.assertEqual(await read_mailbox(self.store, "alice"), [MSG, MSG])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)  # logged, not raised

    def test_missing_folder_falls_back_to_inbox_and_hook_errors_are_contained(
        self,
    ) -> Deferred[None]:
        return Deferred.fromCoroutine(self._fallback())

    async def _create(self) -> None:
        d = Delivery(self.store, Users("alice"), [self.rec], create_folders=True)
        await d.deliver("alice", MSG, "lists/twisted")
        self.assertEqual(await read_mailbox(self.store, "alice", "lists/twisted"), [MSG])
        await d.deliver("alice", MSG, "bad*name")  # invalid names still fall back
        self.assertEqual([m.mailbox for m in self.rec.seen], ["lists/twisted", "INBOX"])

    def test_create_folders(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._create())

    async def _noselect(self) -> None:
        account = await self.store.account("alice")
        await account.create_mailbox("parent/child")
        await account.delete_mailbox("parent")  # becomes \\Noselect
        d = Delivery(self.store, Users("alice"), [self.rec])
        await d.deliver("alice", MSG, "parent")
        self.assertEqual([m.mailbox for m in self.rec.seen], ["INBOX"])

    def test_noselect_folder_falls_back(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._noselect())

    async def _hooks(self) -> None:
        account = await self.store.account("alice")
        await account.create_mailbox("Archive")
        d = Delivery(self.store, Users("alice"), [ToArchive(), self.rec])
        await d.deliver("alice", MSG)
        self.assertEqual(self.rec.seen[0].mailbox, "Archive")
        box = await account.mailbox("Archive")
        [state] = (await box.snapshot()).messages
        self.assertEqual(state.flags, frozenset({"\\Seen"}))

        class No(DeliveryHook):
            def before_delivery(self, request: DeliveryRequest) -> DeliveryRequest:
                raise DeliveryRefused(450, "4.2.0", "try later")

        d.add_hook(No())
        with self.assertRaises(DeliveryRefused):
            await d.deliver("alice", MSG)
        self.assertEqual(len(self.rec.seen), 1)

    def test_before_delivery_hooks_redirect_and_refuse(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._hooks())

    async def _lookup(self) -> None:
        d = Delivery(self.store, Users("alice", "bob@example.org"), aliases={"root": "alice"})
        self.assertEqual(await d.lookup("Alice", "example.org"), "alice")
        self.assertEqual(await d.lookup("ROOT"), "alice")
        self.assertEqual(await d.lookup("Bob", "Example.org"), "bob@example.org")
        self.assertIsNone(await d.lookup("carol", "example.org"))

    def test_lookup(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._lookup())
