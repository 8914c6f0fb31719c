"""The read-only subset of the conformance suite, for stores that serve
mail they cannot change (an archive, a remote API, a mail dump).

The store given by ``make_store()`` already holds mail for
``readonly_username``; nothing is appended, flagged, created or deleted.
What is checked: INBOX, names, the log's counters, and that the three
weights of reads (:meth:`mailframe.interfaces.IMailbox.states`,
``records``, ``read``) agree for every message (at most
``readonly_sample`` a mailbox).
"""

from __future__ import annotations

from mailframe.errors import CommandFailed, ExpungeIssued, NonexistentMailbox
from mailframe.records import MailboxEntry, MessageRecord, MessageState
from mailframe.testing._base import BackendFixture
from mailframe.testing.conformance_account import INVALID_NAMES

__all__ = ["ReadOnlyConformance"]


class ReadOnlyConformance(BackendFixture):
    """Checks that need no writes.  Set ``readonly_username``."""

    readonly_username = "alice"
    readonly_sample = 200

    async def _selectable(self) -> list[str]:
        account = await self.account(self.readonly_username)
        return [
            e.name for e in await account.list_mailboxes() if "\\Noselect" not in e.attributes
        ]

    async def test_inbox_is_listed_and_opens_in_any_case(self) -> None:
        """INBOX is always there, spelt in capitals, whatever case is asked."""
        account = await self.account(self.readonly_username)
        entries = await account.list_mailboxes()
        assert all(isinstance(e, MailboxEntry) for e in entries), entries
        assert "INBOX" in [e.name for e in entries], "list_mailboxes() must list INBOX"
        for spelling in ("INBOX", "inbox", "InBoX"):
            box = await account.mailbox(spelling)
            self.assertEqual(box.name, "INBOX")

    async def test_unknown_and_invalid_names_fail_cleanly(self) -> None:
        """mailbox() of a missing name fails with NonexistentMailbox; an
        invalid name fails with a CommandFailed (a NO, not a crash)."""
        account = await self.account(self.readonly_username)
        await self.fails(NonexistentMailbox, account.mailbox("no such mailbox 7f3a"))
        for name in INVALID_NAMES:
            await self.fails(CommandFailed, account.mailbox(name))

    async def test_status_agrees_with_snapshot(self) -> None:
        """status() and snapshot() tell the same counters; UIDs ascend and
        stay below UIDNEXT (RFC 3501 §2.3.1.1)."""
        for name in await self._selectable():
            box = await self.mailbox(name, self.readonly_username)
            status, snap = await box.status(), await box.snapshot()
            self.assertEqual(
                (status.uidvalidity, status.uidnext, status.highestmodseq, status.messages),
                (snap.uidvalidity, snap.uidnext, snap.highestmodseq, len(snap.messages)),
            )
            uids = [m.uid for m in snap.messages]
            self.assertEqual(uids, sorted(set(uids)))
            assert not uids or uids[-1] < snap.uidnext, (name, uids[-1], snap.uidnext)
            assert 0 < snap.uidvalidity < 2**32, snap.uidvalidity
            changes = await box.changes_since(0)
            self.assertEqual(sorted(c.uid for c in changes.changed), uids)

    async def test_states_records_and_bytes_agree(self) -> None:
        """For each message: states() and records() give the same uid,
        flags, modseq, size and internal date; read() gives ``size`` bytes,
        and a range of them equals that slice."""
        for name in await self._selectable():
            box = await self.mailbox(name, self.readonly_username)
            uids = [m.uid for m in (await box.snapshot()).messages][: self.readonly_sample]
            states = await box.states(uids)
            records = await box.records(uids)
            assert all(isinstance(s, MessageState) for s in states), states[:1]
            assert all(isinstance(r, MessageRecord) for r in records), records[:1]
            self.assertEqual(
                [(s.uid, s.flags, s.modseq, s.size, s.internaldate) for s in states],
                [(r.uid, r.flags, r.modseq, r.size, r.internaldate) for r in records],
            )
            for st in states:
                data = await self.read(box, st.uid)
                self.assertEqual(len(data), st.size)
                assert st.internaldate.utcoffset() is not None, "internal dates carry a zone"
                self.assertEqual(await box.read(st.uid, 1, 9), data[1:9])

    async def test_reading_a_missing_uid_fails_with_expungeissued(self) -> None:
        box = await self.mailbox("INBOX", self.readonly_username)
        status = await box.status()
        await self.fails(ExpungeIssued, box.read(status.uidnext + 10))

    async def test_watch_returns_an_unregister_function(self) -> None:
        box = await self.mailbox("INBOX", self.readonly_username)
        unregister = box.watch(lambda: None)
        assert callable(unregister), "watch() must return a function that unregisters"
        unregister()
        unregister()
