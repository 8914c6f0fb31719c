"""Conformance tests for IAccount: the mailbox tree and subscriptions.

CREATE RFC 3501 §6.3.3, DELETE §6.3.4, RENAME §6.3.5, SUBSCRIBE §6.3.6,
INBOX naming §5.1, UIDVALIDITY on re-creation §2.3.1.1, special-use
attributes RFC 6154.
"""

from __future__ import annotations

from mailframe.errors import (
    CommandFailed,
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    NonexistentMailbox,
)
from mailframe.records import MailboxEntry
from mailframe.testing._base import AWKWARD, AWKWARD_STORED, BackendFixture, message

NOSELECT = "\\Noselect"

#: Names every backend must refuse with InvalidMailboxName.
INVALID_NAMES = ("", "a//b", "/a", "a/", "/", "a\x00b", "a\nb", "tab\there", "del\x7f")


class AccountConformance(BackendFixture):
    """Mailbox creation, deletion, renaming, listing and subscriptions."""

    async def test_inbox_always_exists_in_capitals(self) -> None:
        account = await self.account()
        entries = await account.list_mailboxes()
        assert all(isinstance(e, MailboxEntry) for e in entries)
        self.assertEqual([e.name for e in entries], ["INBOX"])
        for spelling in ("INBOX", "inbox", "InBoX"):
            box = await account.mailbox(spelling)
            self.assertEqual(box.name, "INBOX")
        await self.fails(MailboxExists, account.create_mailbox("inbox"))

    async def test_unknown_mailbox_fails(self) -> None:
        account = await self.account()
        await self.fails(NonexistentMailbox, account.mailbox("Nope"))

    async def test_create_and_list(self) -> None:
        account = await self.account()
        await account.create_mailbox("Work")
        await account.create_mailbox("Entwürfe")
        await account.create_mailbox("日本語")
        self.assertEqual(set(await self.names()), {"INBOX", "Work", "Entwürfe", "日本語"})
        box = await account.mailbox("Entwürfe")
        self.assertEqual(box.name, "Entwürfe")
        await self.fails(MailboxExists, account.create_mailbox("Work"))

    async def test_create_makes_parents(self) -> None:
        account = await self.account()
        await account.create_mailbox("a/b/c")
        names = await self.names()
        assert {"a", "a/b", "a/b/c"} <= set(names), names
        await account.mailbox("a/b/c")
        await account.create_mailbox("INBOX/Sub")
        assert "INBOX/Sub" in await self.names()

    async def test_invalid_names_are_refused(self) -> None:
        account = await self.account()
        for name in INVALID_NAMES:
            await self.fails(InvalidMailboxName, account.create_mailbox(name))
        self.assertEqual(set(await self.names()), {"INBOX"})

    async def test_special_use_attributes_are_listed(self) -> None:
        account = await self.account()
        await account.create_mailbox("Sent Items", frozenset({"\\Sent"}))
        await account.create_mailbox("Plain")
        names = await self.names()
        assert "\\Sent" in names["Sent Items"], names
        assert "\\Sent" not in names["Plain"], names

    async def test_every_special_use_attribute_is_accepted(self) -> None:
        """Every attribute of RFC 6154 §2 and ``\\Important`` (RFC 8457):
        mailframe.vocabulary.SPECIAL_USE, the one list."""
        from mailframe.vocabulary import SPECIAL_USE

        account = await self.account()
        for i, use in enumerate(sorted(SPECIAL_USE)):
            await account.create_mailbox(f"Use{i}", frozenset({use}))
        names = await self.names()
        for i, use in enumerate(sorted(SPECIAL_USE)):
            assert use in names[f"Use{i}"], (use, names[f"Use{i}"])

    async def test_delete_leaf(self) -> None:
        account = await self.account()
        await account.create_mailbox("Old")
        await account.delete_mailbox("Old")
        self.assertEqual(set(await self.names()), {"INBOX"})
        await self.fails(NonexistentMailbox, account.mailbox("Old"))
        await self.fails(NonexistentMailbox, account.delete_mailbox("Old"))

    async def test_inbox_cannot_be_deleted(self) -> None:
        account = await self.account()
        await self.fails(CommandFailed, account.delete_mailbox("INBOX"))
        assert "INBOX" in await self.names()

    async def test_delete_with_children_leaves_noselect(self) -> None:
        """RFC 3501 §6.3.4: the parent's messages go, it stays \\Noselect;
        deleting it again while it has children fails."""
        account = await self.account()
        await account.create_mailbox("p/child")
        parent = await account.mailbox("p")
        await self.append(parent, message(1))
        await account.delete_mailbox("p")
        names = await self.names()
        assert NOSELECT in names["p"], names
        assert "p/child" in names
        self.assertEqual((await parent.status()).messages, 0)
        await self.fails(MailboxHasChildren, account.delete_mailbox("p"))
        await account.delete_mailbox("p/child")
        await account.delete_mailbox("p")
        self.assertEqual(set(await self.names()), {"INBOX"})

    async def test_recreated_name_gets_new_uidvalidity(self) -> None:
        account = await self.account()
        await account.create_mailbox("Again")
        first = await account.mailbox("Again")
        uid = await self.append(first, message(1))
        validity = await self.uidvalidity(first)
        await account.delete_mailbox("Again")
        await account.create_mailbox("Again")
        second = await account.mailbox("Again")
        assert (await self.uidvalidity(second)) != validity, "UIDVALIDITY must change (RFC 3501 §2.3.1.1)"
        self.assertEqual((await second.status()).messages, 0)
        new_uid = await self.append(second, message(2))
        assert (await self.uidvalidity(second)) != validity or new_uid > uid

    async def test_noselect_placeholder_can_be_created_again(self) -> None:
        account = await self.account()
        await account.create_mailbox("q/child")
        old = await self.uidvalidity(await account.mailbox("q"))
        await account.delete_mailbox("q")
        await account.create_mailbox("q")
        box = await account.mailbox("q")
        assert NOSELECT not in (await self.names())["q"]
        assert (await self.uidvalidity(box)) != old

    async def test_rename_keeps_messages(self) -> None:
        account = await self.account()
        await account.create_mailbox("Before")
        box = await account.mailbox("Before")
        uid = await self.append(box, AWKWARD, {"\\Seen"})
        await account.rename_mailbox("Before", "After")
        names = await self.names()
        assert "After" in names and "Before" not in names, names
        renamed = await account.mailbox("After")
        self.assertEqual(renamed.name, "After")
        (record,) = await renamed.records([uid])
        self.assertEqual(record.flags, frozenset({"\\Seen"}))
        self.assertEqual(await self.read(renamed, uid), AWKWARD_STORED)
        await self.fails(NonexistentMailbox, account.mailbox("Before"))

    async def test_rename_moves_children_and_makes_parents(self) -> None:
        account = await self.account()
        await account.create_mailbox("top/mid/leaf")
        leaf = await account.mailbox("top/mid/leaf")
        await self.append(leaf, message(3))
        await account.rename_mailbox("top/mid", "new/place")
        names = set(await self.names())
        assert {"top", "new", "new/place", "new/place/leaf"} <= names, names
        assert not {"top/mid", "top/mid/leaf"} & names, names
        moved = await account.mailbox("new/place/leaf")
        self.assertEqual((await moved.status()).messages, 1)

    async def test_rename_errors(self) -> None:
        account = await self.account()
        await account.create_mailbox("x")
        await account.create_mailbox("y")
        await self.fails(MailboxExists, account.rename_mailbox("x", "y"))
        await self.fails(MailboxExists, account.rename_mailbox("x", "INBOX"))
        await self.fails(NonexistentMailbox, account.rename_mailbox("nope", "z"))
        await self.fails(InvalidMailboxName, account.rename_mailbox("x", "a//b"))
        await self.fails(CommandFailed, account.rename_mailbox("x", "x/inside"))
        self.assertEqual(set(await self.names()), {"INBOX", "x", "y"})

    async def test_rename_inbox_moves_messages_and_empties_inbox(self) -> None:
        """RFC 3501 §6.3.5: INBOX's messages move to the new name; INBOX
        stays, empty; INBOX's inferiors are unaffected."""
        account = await self.account()
        await account.create_mailbox("INBOX/keep")
        inbox = await account.mailbox("INBOX")
        await self.append(inbox, message(1), {"\\Flagged"})
        last = await self.append(inbox, AWKWARD)
        validity = (await self.uidvalidity(inbox))
        await account.rename_mailbox("INBOX", "Old Mail")
        names = set(await self.names())
        assert {"INBOX", "INBOX/keep", "Old Mail"} <= names, names
        inbox = await account.mailbox("INBOX")
        self.assertEqual((await inbox.status()).messages, 0)
        self.assertEqual((await self.uidvalidity(inbox)), validity)
        old = await account.mailbox("Old Mail")
        snap = await old.snapshot()
        self.assertEqual(len(snap.messages), 2)
        self.assertEqual(snap.messages[0].flags, frozenset({"\\Flagged"}))
        self.assertEqual(await self.read(old, snap.messages[1].uid), AWKWARD_STORED)
        uid = await self.append(inbox, message(3))
        assert uid > last, "INBOX keeps its UIDVALIDITY, so UIDs are not reused"
        self.assertEqual((await inbox.status()).messages, 1)

    async def test_delete_child_keeps_parent(self) -> None:
        account = await self.account()
        await account.create_mailbox("r/s")
        parent = await account.mailbox("r")
        uid = await self.append(parent, message(1))
        await account.delete_mailbox("r/s")
        self.assertEqual(set(await self.names()), {"INBOX", "r"})
        self.assertEqual(await self.read(await account.mailbox("r"), uid), message(1))

    async def test_rename_noselect_parent_moves_children(self) -> None:
        account = await self.account()
        await account.create_mailbox("n/kid")
        await account.delete_mailbox("n")
        await account.rename_mailbox("n", "m")
        names = await self.names()
        assert NOSELECT in names["m"] and "m/kid" in names and "n" not in names, names
        await account.mailbox("m/kid")

    async def test_mailbox_names_are_per_account(self) -> None:
        alice = await self.account("alice")
        await alice.create_mailbox("Private")
        self.assertEqual(set(await self.names("bob")), {"INBOX"})
        bob = await self.account("bob")
        await self.fails(NonexistentMailbox, bob.mailbox("Private"))

    async def test_subscriptions(self) -> None:
        account = await self.account()
        self.assertEqual(await account.subscriptions(), set())
        await account.create_mailbox("News")
        await account.subscribe("News")
        await account.subscribe("INBOX")
        self.assertEqual(await account.subscriptions(), {"News", "INBOX"})
        await account.unsubscribe("INBOX")
        self.assertEqual(await account.subscriptions(), {"News"})
        # RFC 3501 §6.3.6: a deleted mailbox is not removed from the list.
        await account.delete_mailbox("News")
        self.assertEqual(await account.subscriptions(), {"News"})
        other = await self.account("bob")
        self.assertEqual(await other.subscriptions(), set())
        await self.fails(InvalidMailboxName, account.subscribe("a//b"))
