"""Conformance tests for IMailbox: the mailbox as a log (DESIGN.md).

UIDs and UIDVALIDITY follow RFC 3501 §2.3.1.1, modseqs RFC 7162 §3.1,
\\Recent RFC 3501 §2.3.2, STORE §6.4.6 with UNCHANGEDSINCE RFC 7162 §3.1.3,
EXPUNGE §6.4.3 / UID EXPUNGE RFC 4315, COPY §6.4.7 (COPYUID RFC 4315 §3),
MOVE RFC 6851.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from mailframe.errors import CommandFailed, ExpungeIssued
from mailframe.records import Changes, MailboxStatus, NewMessage, Snapshot, StoreResult
from mailframe.testing._base import AWKWARD, AWKWARD_STORED, DATE, SIMPLE, BackendFixture, message

SEEN, DELETED, FLAGGED, ANSWERED, RECENT = (
    "\\Seen",
    "\\Deleted",
    "\\Flagged",
    "\\Answered",
    "\\Recent",
)


class MailboxLogConformance(BackendFixture):
    """UIDs, modseqs, snapshot, changes_since, status, content."""

    async def test_new_inbox_is_empty(self) -> None:
        box = await self.mailbox()
        self.assertEqual(box.name, "INBOX")
        status = await box.status()
        assert isinstance(status, MailboxStatus)
        assert 0 < status.uidvalidity < 2**32, status
        assert status.uidnext >= 1
        assert status.highestmodseq > 0, "mod-sequence values are positive (RFC 7162 §7)"
        self.assertEqual((status.messages, status.unseen, status.recent), (0, 0, 0))
        snap = await box.snapshot()
        assert isinstance(snap, Snapshot)
        self.assertEqual(snap.messages, ())
        self.assertEqual(snap.uidnext, status.uidnext)

    async def test_append_assigns_ascending_uids_and_moves_uidnext(self) -> None:
        box = await self.mailbox()
        before = (await box.status()).uidnext
        uids = await self.append_many(box, 5)
        assert uids[0] >= before
        assert uids == sorted(set(uids)), uids
        status = await box.status()
        assert status.uidnext > uids[-1]
        self.assertEqual(status.messages, 5)

    async def test_each_append_raises_highestmodseq(self) -> None:
        box = await self.mailbox()
        seen = [(await box.status()).highestmodseq]
        for i in range(3):
            uid = await self.append(box, message(i))
            status = await box.status()
            assert status.highestmodseq > seen[-1]
            (record,) = await box.records([uid])
            assert seen[-1] < record.modseq <= status.highestmodseq
            seen.append(status.highestmodseq)

    async def test_uids_never_reused_after_expunging_the_last(self) -> None:
        box = await self.mailbox()
        a, b = await self.append_many(box, 2)
        await box.store([b], "add", frozenset({DELETED}))
        self.assertEqual(await box.expunge(), [b])
        c = await self.append(box, message(9))
        assert c > b, (b, c)
        self.assertEqual((await box.status()).uidnext > c, True)

    async def test_read_returns_exact_bytes_and_ranges(self) -> None:
        box = await self.mailbox()
        big = message(1, size=300_000)
        for content, stored in (
            (SIMPLE, SIMPLE),
            (AWKWARD, AWKWARD_STORED),
            (big, big),
            (b"X: y\r\n\r\n", b"X: y\r\n\r\n"),
        ):
            uid = await self.append(box, content)
            self.assertEqual(await self.read(box, uid), stored)
            content = stored
            self.assertEqual(await box.read(uid, 5, 15), content[5:15])
            self.assertEqual(await box.read(uid, 5), content[5:])
            self.assertEqual(await box.read(uid, 0, len(content)), content)

    async def test_bare_lf_is_stored_as_crlf(self) -> None:
        """A message with bare LF line ends (or some of them) is kept and
        served with CRLF, and its size and structure count those octets
        (RFC 3501 §2.3.3 and §2.3.4; Dovecot converts when it saves)."""
        box = await self.mailbox()
        lf = b"Subject: lf\nContent-Type: text/plain\n\nline 1\nline 2\r\nline 3\n"
        crlf = lf.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        uid = await self.append(box, lf)
        self.assertEqual(await self.read(box, uid), crlf)
        (record,) = await box.records([uid])
        self.assertEqual(record.size, len(crlf))
        self.assertEqual(record.info.size, len(crlf))
        self.assertEqual(record.info.header, b"Subject: lf\r\nContent-Type: text/plain\r\n\r\n")
        assert b'"7bit" 24 3 ' in record.info.bodystructure_wire, record.info.bodystructure_wire
        pairs = await box.copy([uid], box)
        self.assertEqual(await self.read(box, pairs[0][1]), crlf)

    async def test_read_expunged_fails(self) -> None:
        box = await self.mailbox()
        uid = await self.append(box, flags={DELETED})
        await box.expunge()
        await self.fails(ExpungeIssued, box.read(uid))

    async def test_states_are_records_without_structure(self) -> None:
        box = await self.mailbox()
        date = datetime(2020, 2, 29, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5)))
        a = await self.append(box, SIMPLE, {SEEN}, date)
        b = await self.append(box, AWKWARD)
        states = await box.states([a, b, b + 5])
        records = await box.records([a, b])
        self.assertEqual(
            [(s.uid, s.flags, s.modseq, s.size, s.internaldate) for s in states],
            [(r.uid, r.flags, r.modseq, r.size, r.internaldate) for r in records],
        )
        self.assertEqual(states[0].size, len(SIMPLE))
        self.assertEqual(states[0].internaldate, date)

    async def test_append_many_returns_uidvalidity_and_uids(self) -> None:
        box = await self.mailbox()
        calls: list[int] = []
        box.watch(lambda: calls.append(1))
        before = await box.status()
        result = await box.append_many(
            [NewMessage(SIMPLE), NewMessage(AWKWARD, frozenset({SEEN}), DATE), NewMessage(message(3))]
        )
        self.assertEqual(result.uidvalidity, before.uidvalidity)
        self.assertEqual(len(result.uids), 3)
        assert list(result.uids) == sorted(result.uids) and result.uids[0] >= before.uidnext
        self.assertEqual(await self.read(box, result.uids[1]), AWKWARD_STORED)
        self.assertEqual(await self.flags(box, result.uids[1]), frozenset({SEEN}))
        self.assertEqual((await box.status()).messages, before.messages + 3)
        await self.eventually(lambda: bool(calls), "watcher after append_many")

    async def test_copy_result_names_the_destination_uidvalidity(self) -> None:
        src = await self.mailbox()
        dst = await self.new_mailbox("Dest")
        a = await self.append(src)
        result = await src.copy([a], dst)
        self.assertEqual(result.uidvalidity, await self.uidvalidity(dst))
        moved = await src.move([a], dst)
        self.assertEqual(moved.uidvalidity, await self.uidvalidity(dst))

    async def test_records_fields(self) -> None:
        box = await self.mailbox()
        date = datetime(2020, 2, 29, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5)))
        uid = await self.append(box, SIMPLE, {SEEN, "$Label1"}, date)
        (rec,) = await box.records([uid])
        self.assertEqual(rec.uid, uid)
        self.assertEqual(rec.flags, frozenset({SEEN, "$Label1"}))
        self.assertEqual(rec.size, len(SIMPLE))
        self.assertEqual(rec.internaldate, date)
        assert rec.internaldate.utcoffset() is not None, "internal dates carry a zone"
        assert rec.info is not None
        self.assertEqual(rec.modseq, (await box.status()).highestmodseq)

    async def test_records_skip_missing_and_keep_uid_order(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 4)
        await box.store([uids[1]], "add", frozenset({DELETED}))
        await box.expunge()
        asked = [uids[0], uids[1], uids[2], uids[3] + 100]
        got = await box.records(asked)
        self.assertEqual([r.uid for r in got], [uids[0], uids[2]])
        self.assertEqual(await box.records([]), [])

    async def test_append_never_stores_recent(self) -> None:
        box = await self.mailbox()
        uid = await self.append(box, flags={RECENT, FLAGGED})
        self.assertEqual(await self.flags(box, uid), frozenset({FLAGGED}))

    async def test_snapshot_matches_records_and_status(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 3)
        await box.store([uids[1]], "add", frozenset({SEEN}))
        snap = await box.snapshot()
        status = await box.status()
        self.assertEqual([m.uid for m in snap.messages], uids)
        self.assertEqual(
            (snap.uidvalidity, snap.uidnext, snap.highestmodseq),
            (status.uidvalidity, status.uidnext, status.highestmodseq),
        )
        records = await box.records(uids)
        self.assertEqual(
            [(m.uid, m.flags, m.modseq) for m in snap.messages],
            [(r.uid, r.flags, r.modseq) for r in records],
        )
        self.assertEqual(snap.messages[1].flags, frozenset({SEEN}))

    async def test_status_counts(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 4)
        await box.store(uids[:2], "add", frozenset({SEEN}))
        await box.store(uids[3:], "add", frozenset({DELETED}))
        status = await box.status()
        self.assertEqual((status.messages, status.unseen, status.deleted), (4, 2, 1))
        self.assertEqual(status.size, sum(len(message(i)) for i in range(4)))

    async def test_changes_since_reports_appends(self) -> None:
        box = await self.mailbox()
        start = (await box.status()).highestmodseq
        uids = await self.append_many(box, 2)
        changes = await box.changes_since(start)
        assert isinstance(changes, Changes)
        self.assertEqual([c.uid for c in changes.changed], uids)
        self.assertEqual(changes.expunged, ())
        status = await box.status()
        self.assertEqual(
            (changes.highestmodseq, changes.uidnext), (status.highestmodseq, status.uidnext)
        )
        nothing = await box.changes_since(changes.highestmodseq)
        self.assertEqual((nothing.changed, nothing.expunged), ((), ()))
        self.assertEqual(nothing.highestmodseq, changes.highestmodseq)

    async def test_changes_since_reports_only_changed_flags(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 3)
        mark = (await box.status()).highestmodseq
        await box.store([uids[2], uids[0]], "add", frozenset({FLAGGED}))
        changes = await box.changes_since(mark)
        self.assertEqual([c.uid for c in changes.changed], [uids[0], uids[2]])
        assert all(c.flags == frozenset({FLAGGED}) and c.modseq > mark for c in changes.changed)
        # An older modseq sees those changes and the appends, each once.
        everything = await box.changes_since(0)
        self.assertEqual([c.uid for c in everything.changed], uids)

    async def test_changes_since_reports_expunges_as_tombstones(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 4)
        mark = (await box.status()).highestmodseq
        await box.store([uids[1], uids[3]], "add", frozenset({DELETED}))
        self.assertEqual(await box.expunge(), [uids[1], uids[3]])
        changes = await box.changes_since(mark)
        self.assertEqual(changes.expunged, (uids[1], uids[3]))
        self.assertEqual(changes.changed, ())
        after = await box.changes_since(changes.highestmodseq)
        self.assertEqual(after.expunged, ())
        # The flag change before the expunge is not reported for a gone UID.
        self.assertEqual([c.uid for c in (await box.changes_since(0)).changed], [uids[0], uids[2]])

    async def test_expunge_history_agrees_with_changes_since(self) -> None:
        """A mailbox providing IExpungeHistory (RFC 7162 §3.2.5.2) answers
        ``expunged_since`` like ``changes_since(...).expunged`` while it
        still has the tombstones (never None for a fresh mailbox)."""
        from mailframe.interfaces import IExpungeHistory

        box = await self.mailbox()
        provided = IExpungeHistory.providedBy(box)
        if not provided:
            return
        uids = await self.append_many(box, 3)
        mark = (await box.status()).highestmodseq
        await box.store([uids[0], uids[2]], "add", frozenset({DELETED}))
        await box.expunge()
        self.assertEqual(await box.expunged_since(mark), [uids[0], uids[2]])
        self.assertEqual(await box.expunged_since(0), [uids[0], uids[2]])
        self.assertEqual(await box.expunged_since((await box.status()).highestmodseq), [])

    async def test_changes_since_mixed_sequence(self) -> None:
        box = await self.mailbox()
        a = await self.append(box, message(1))
        m1 = (await box.status()).highestmodseq
        b = await self.append(box, message(2))
        await box.store([a], "add", frozenset({SEEN}))
        m2 = (await box.status()).highestmodseq
        await box.store([b], "add", frozenset({DELETED}))
        await box.expunge([b])
        c = await self.append(box, message(3))
        ch1 = await box.changes_since(m1)
        self.assertEqual([x.uid for x in ch1.changed], [a, c])
        self.assertEqual(ch1.expunged, (b,))
        ch2 = await box.changes_since(m2)
        self.assertEqual([x.uid for x in ch2.changed], [c])
        self.assertEqual(ch2.expunged, (b,))


class StoreConformance(BackendFixture):
    """STORE modes, UNCHANGEDSINCE, EXPUNGE."""

    async def test_store_modes(self) -> None:
        box = await self.mailbox()
        uid = await self.append(box, flags={SEEN})
        await box.store([uid], "add", frozenset({FLAGGED, "$Work"}))
        self.assertEqual(await self.flags(box, uid), frozenset({SEEN, FLAGGED, "$Work"}))
        await box.store([uid], "remove", frozenset({SEEN, "$Absent"}))
        self.assertEqual(await self.flags(box, uid), frozenset({FLAGGED, "$Work"}))
        result = await box.store([uid], "set", frozenset({ANSWERED}))
        assert isinstance(result, StoreResult)
        self.assertEqual(await self.flags(box, uid), frozenset({ANSWERED}))
        self.assertEqual([s.uid for s in result.changed], [uid])
        self.assertEqual(result.changed[0].flags, frozenset({ANSWERED}))
        await box.store([uid], "set", frozenset())
        self.assertEqual(await self.flags(box, uid), frozenset())

    async def test_store_never_stores_recent(self) -> None:
        box = await self.mailbox()
        uid = await self.append(box)
        await box.store([uid], "set", frozenset({RECENT, SEEN}))
        await box.store([uid], "add", frozenset({RECENT}))
        self.assertEqual(await self.flags(box, uid), frozenset({SEEN}))

    async def test_store_gives_changed_messages_a_new_modseq(self) -> None:
        box = await self.mailbox()
        a, b = await self.append_many(box, 2)
        before = (await box.status()).highestmodseq
        result = await box.store([a, b], "add", frozenset({SEEN}))
        after = (await box.status()).highestmodseq
        assert after > before
        self.assertEqual([s.uid for s in result.changed], [a, b])
        for state in result.changed:
            assert before < state.modseq <= after
        records = await box.records([a, b])
        self.assertEqual([r.modseq for r in records], [s.modseq for s in result.changed])

    async def test_unchanged_flags_keep_their_modseq(self) -> None:
        box = await self.mailbox()
        a, b = await self.append_many(box, 2)
        await box.store([a], "add", frozenset({SEEN}))
        (rec_a,) = await box.records([a])
        high = (await box.status()).highestmodseq
        result = await box.store([a], "add", frozenset({SEEN}))
        self.assertEqual(result.changed, ())
        result = await box.store([a, b], "remove", frozenset({FLAGGED}))
        self.assertEqual(result.changed, ())
        (again,) = await box.records([a])
        self.assertEqual(again.modseq, rec_a.modseq)
        self.assertEqual((await box.status()).highestmodseq, high)
        self.assertEqual((await box.changes_since(high)).changed, ())

    async def test_store_ignores_missing_uids(self) -> None:
        box = await self.mailbox()
        uid = await self.append(box)
        result = await box.store([uid, uid + 1, uid + 50], "add", frozenset({SEEN}))
        self.assertEqual([s.uid for s in result.changed], [uid])
        self.assertEqual(result.failed, ())

    async def test_unchangedsince(self) -> None:
        box = await self.mailbox()
        a, b, c = await self.append_many(box, 3)
        mark = (await box.status()).highestmodseq
        await box.store([b], "add", frozenset({"$Other"}))
        result = await box.store([a, b, c], "add", frozenset({FLAGGED}), unchangedsince=mark)
        self.assertEqual(result.failed, (b,))
        self.assertEqual([s.uid for s in result.changed], [a, c])
        self.assertEqual(await self.flags(box, b), frozenset({"$Other"}))
        self.assertEqual(await self.flags(box, a), frozenset({FLAGGED}))

    async def test_unchangedsince_zero_always_fails(self) -> None:
        """RFC 7162 §3.1.3: UNCHANGEDSINCE 0 fails for every message."""
        box = await self.mailbox()
        a, b = await self.append_many(box, 2)
        high = (await box.status()).highestmodseq
        result = await box.store([a, b], "set", frozenset({SEEN}), unchangedsince=0)
        self.assertEqual((result.changed, result.failed), ((), (a, b)))
        self.assertEqual((await box.status()).highestmodseq, high)

    async def test_expunge_removes_only_deleted(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 5)
        await box.store([uids[0], uids[2], uids[4]], "add", frozenset({DELETED}))
        self.assertEqual(await box.expunge([uids[2], uids[3], uids[4]]), [uids[2], uids[4]])
        self.assertEqual([m.uid for m in (await box.snapshot()).messages], uids[:2] + [uids[3]])
        self.assertEqual(await box.expunge(), [uids[0]])
        self.assertEqual((await box.status()).messages, 2)

    async def test_expunge_of_nothing_changes_nothing(self) -> None:
        box = await self.mailbox()
        await self.append_many(box, 2)
        high = (await box.status()).highestmodseq
        self.assertEqual(await box.expunge(), [])
        self.assertEqual((await box.status()).highestmodseq, high)


class RecentCopyWatchConformance(BackendFixture):
    """\\Recent claiming, COPY/MOVE, watchers, account isolation."""

    async def test_claim_recent_for_exactly_one_caller(self) -> None:
        box = await self.mailbox()
        uids = await self.append_many(box, 2)
        self.assertEqual((await box.status()).recent, 2)
        lo, hi = await box.claim_recent()
        self.assertEqual([u for u in uids if lo <= u < hi], uids)
        lo2, hi2 = await box.claim_recent()
        self.assertEqual(list(range(lo2, hi2)), [])
        self.assertEqual((await box.status()).recent, 0)
        new = await self.append(box, message(7))
        other = await self.mailbox()  # a second session's view of the mailbox
        lo3, hi3 = await other.claim_recent()
        self.assertEqual([u for u in [*uids, new] if lo3 <= u < hi3], [new])
        lo4, hi4 = await box.claim_recent()
        self.assertEqual(list(range(lo4, hi4)), [])

    async def test_copy_keeps_flags_date_and_bytes(self) -> None:
        src = await self.mailbox()
        dst = await self.new_mailbox("Archive")
        date = datetime(2001, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
        a = await self.append(src, AWKWARD, {SEEN, "$Keep"}, date)
        b = await self.append(src, SIMPLE, {FLAGGED})
        await self.append(dst, message(5))
        dst_next = (await dst.status()).uidnext
        pairs = await src.copy([a, b, b + 10], dst)
        self.assertEqual([p[0] for p in pairs], [a, b])
        new = [p[1] for p in pairs]
        assert new[0] >= dst_next and new[0] < new[1], pairs
        recs = await dst.records(new)
        self.assertEqual(
            [r.flags for r in recs], [frozenset({SEEN, "$Keep"}), frozenset({FLAGGED})]
        )
        self.assertEqual(recs[0].internaldate, date)
        self.assertEqual(await self.read(dst, new[0]), AWKWARD_STORED)
        self.assertEqual((await src.status()).messages, 2)
        self.assertEqual((await dst.status()).messages, 3)

    async def test_copy_into_the_same_mailbox(self) -> None:
        box = await self.mailbox()
        a = await self.append(box, AWKWARD, {SEEN})
        pairs = await box.copy([a], box)
        self.assertEqual(len(pairs), 1)
        src, new = pairs[0]
        assert src == a and new > a, pairs
        self.assertEqual(await self.flags(box, new), frozenset({SEEN}))
        self.assertEqual(await self.read(box, new), AWKWARD_STORED)
        self.assertEqual((await box.status()).messages, 2)

    async def test_copy_or_move_into_a_deleted_mailbox_loses_nothing(self) -> None:
        account = await self.account()
        src = await self.mailbox()
        a = await self.append(src, SIMPLE)
        gone = await self.new_mailbox("Gone")
        await account.delete_mailbox("Gone")
        for action in (src.copy, src.move):
            try:
                pairs = await action([a], gone)
            except CommandFailed:
                pass
            else:
                raise AssertionError(f"{action.__name__} into a deleted mailbox gave {pairs!r}")
        self.assertEqual(await self.read(src, a), SIMPLE)
        assert "Gone" not in await self.names()

    async def test_two_objects_for_one_mailbox_share_state(self) -> None:
        first = await self.mailbox()
        second = await self.mailbox()
        uid = await self.append(first)
        await second.store([uid], "add", frozenset({FLAGGED}))
        self.assertEqual(await self.flags(first, uid), frozenset({FLAGGED}))
        self.assertEqual(await first.snapshot(), await second.snapshot())
        await first.store([uid], "add", frozenset({DELETED}))
        self.assertEqual(await second.expunge(), [uid])
        self.assertEqual((await first.status()).messages, 0)

    async def test_move_expunges_sources(self) -> None:
        src = await self.mailbox()
        dst = await self.new_mailbox("Trash")
        a, b, c = await self.append_many(src, 3)
        await src.store([b], "add", frozenset({SEEN}))
        mark = (await src.status()).highestmodseq
        pairs = await src.move([b, c], dst)
        self.assertEqual([p[0] for p in pairs], [b, c])
        self.assertEqual([m.uid for m in (await src.snapshot()).messages], [a])
        self.assertEqual((await src.changes_since(mark)).expunged, (b, c))
        self.assertEqual(await self.flags(dst, pairs[0][1]), frozenset({SEEN}))
        self.assertEqual(await self.read(dst, pairs[1][1]), message(2))

    async def test_watchers_hear_every_change(self) -> None:
        box = await self.mailbox()
        other = await self.new_mailbox("Other")
        calls: list[str] = []
        unregister = box.watch(lambda: calls.append("box"))
        other.watch(lambda: calls.append("other"))

        async def expect(action: Callable[[], Any], who: str) -> None:
            before = calls.count(who)
            await action()
            await self.eventually(lambda: calls.count(who) > before, f"{who} watcher")

        uid = (await box.status()).uidnext
        await expect(lambda: box.append(SIMPLE, frozenset(), DATE), "box")
        await expect(lambda: box.store([uid], "add", frozenset({DELETED})), "box")
        await expect(lambda: box.copy([uid], other), "other")
        await expect(lambda: box.expunge(), "box")
        unregister()
        unregister()  # unregistering twice is harmless
        count = calls.count("box")
        await self.append(box)
        await self.eventually(lambda: calls.count("other") >= 1, "other")
        self.assertEqual(calls.count("box"), count)

    async def test_failing_watcher_does_not_stop_the_change(self) -> None:
        box = await self.mailbox()
        calls: list[int] = []

        def broken() -> None:
            raise ZeroDivisionError("a broken watcher")

        box.watch(broken)
        box.watch(lambda: calls.append(1))
        uid = await self.append(box)
        await self.eventually(lambda: bool(calls), "the watcher after a broken one")
        self.assertEqual(await self.read(box, uid), SIMPLE)
        self.flushLoggedErrors(ZeroDivisionError)  # logged, as it should be

    async def test_watch_sees_changes_made_through_another_object(self) -> None:
        first = await self.mailbox()
        second = await self.mailbox()
        calls: list[int] = []
        first.watch(lambda: calls.append(1))
        uid = await self.append(second)
        await self.eventually(lambda: bool(calls), "watcher of another mailbox object")
        self.assertEqual([c.uid for c in (await first.changes_since(0)).changed], [uid])

    async def test_accounts_are_isolated(self) -> None:
        alice = await self.mailbox(username="alice")
        await self.append(alice)
        bob = await self.mailbox(username="bob")
        self.assertEqual((await bob.status()).messages, 0)
        account = await self.account("bob")
        self.assertEqual(account.username, "bob")
        self.assertEqual(
            await self.uidvalidity(await self.mailbox(username="alice")),
            await self.uidvalidity(alice),
        )
