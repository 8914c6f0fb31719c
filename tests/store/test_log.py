"""MailboxLog, the shared bookkeeping, checked against a naive model."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import TestCase

from mailframe.errors import InvalidMailboxName
from mailframe.records import FlagState
from mailframe.store._log import MailboxLog, apply_mode, new_uidvalidity
from mailframe.store._names import is_inferior, normalize_name, parents_of, rename_inferior

FLAGS = st.frozensets(st.sampled_from(["\\Seen", "\\Deleted", "\\Flagged", "\\Recent", "$A"]))
UIDS = st.lists(st.integers(min_value=1, max_value=25), max_size=6)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), FLAGS, st.integers(min_value=0, max_value=500)),
        st.tuples(
            st.just("store"),
            UIDS,
            st.sampled_from(["set", "add", "remove"]),
            FLAGS,
            st.one_of(st.none(), st.integers(min_value=0, max_value=40)),
        ),
        st.tuples(st.just("expunge"), UIDS),
        st.tuples(st.just("claim")),
    ),
    max_size=40,
)


class Model:
    """The obvious O(n) implementation of the same rules."""

    def __init__(self) -> None:
        self.live: dict[int, tuple[frozenset[str], int, int]] = {}
        self.tombs: list[tuple[int, int]] = []
        self.uidnext = 1
        self.high = 1
        self.floor = 1

    def changes_since(self, m: int) -> tuple[list[FlagState], list[int]]:
        changed = [FlagState(u, f, s) for u, (f, s, _) in sorted(self.live.items()) if s > m]
        return changed, sorted(u for s, u in self.tombs if s > m)


class ModelCheck(TestCase):
    @settings(max_examples=150, deadline=None)
    @given(OPS)
    def test_log_agrees_with_model(self, ops: list[tuple]) -> None:  # type: ignore[type-arg]
        log, model = MailboxLog(7), Model()
        heard: list[int] = []
        log.watch(lambda: heard.append(1))
        for op in ops:
            before = len(heard)
            if op[0] == "append":
                _, flags, size = op
                model.high += 1
                model.live[model.uidnext] = (flags - {"\\Recent"}, model.high, size)
                state = log.append(flags, size)
                self.assertEqual(state.uid, model.uidnext)
                model.uidnext += 1
                self.assertEqual(len(heard), before + 1)
            elif op[0] == "store":
                _, uids, mode, flags, since = op
                failed, todo = [], []
                for u in sorted(set(uids)):
                    if u not in model.live:
                        continue
                    old, s, size = model.live[u]
                    if since is not None and s > since:
                        failed.append(u)
                    elif apply_mode(old, mode, flags) != old:
                        todo.append(u)
                if todo:
                    model.high += 1
                    for u in todo:
                        old, _, size = model.live[u]
                        model.live[u] = (apply_mode(old, mode, flags), model.high, size)
                result = log.store(uids, mode, flags, since)
                self.assertEqual(list(result.failed), failed)
                self.assertEqual([s.uid for s in result.changed], todo)
                self.assertEqual(len(heard), before + (1 if todo else 0))
            elif op[0] == "expunge":
                gone = sorted(u for u in set(op[1]) if u in model.live)
                if gone:
                    model.high += 1
                    for u in gone:
                        del model.live[u]
                        model.tombs.append((model.high, u))
                self.assertEqual(log.expunge(op[1]), gone)
            else:
                lo, hi = log.claim_recent()
                self.assertEqual(
                    [u for u in model.live if lo <= u < hi],
                    [u for u in model.live if u >= model.floor],
                )
                model.floor = model.uidnext
            # Every observable agrees with the model.
            self.assertEqual(log.highestmodseq, model.high)
            self.assertEqual(log.uidnext, model.uidnext)
            for m in range(0, model.high + 1):
                changes = log.changes_since(m)
                changed, expunged = model.changes_since(m)
                self.assertEqual(list(changes.changed), changed)
                self.assertEqual(list(changes.expunged), expunged)
            snap = log.snapshot()
            self.assertEqual(
                [(s.uid, s.flags, s.modseq) for s in snap.messages],
                [(u, f, s) for u, (f, s, _) in sorted(model.live.items())],
            )
            status = log.status()
            self.assertEqual(status.messages, len(model.live))
            self.assertEqual(
                status.unseen, sum("\\Seen" not in f for f, _, _ in model.live.values())
            )
            self.assertEqual(
                status.deleted, sum("\\Deleted" in f for f, _, _ in model.live.values())
            )
            self.assertEqual(status.size, sum(z for _, _, z in model.live.values()))
            self.assertEqual(status.recent, sum(u >= model.floor for u in model.live))
        # The persisted form restores exactly the same log.
        again = MailboxLog.from_state(json.loads(json.dumps(log.to_state())))
        self.assertEqual(again.snapshot(), log.snapshot())
        self.assertEqual(again.changes_since(0), log.changes_since(0))
        self.assertEqual(again.status(), log.status())
        self.assertEqual(again.claim_recent(), log.claim_recent())


class LogDetails(TestCase):
    def test_batch_notifies_once(self) -> None:
        log, heard = MailboxLog(1), []
        log.watch(lambda: heard.append(1))
        with log.batch():
            with log.batch():
                log.append()
                log.append()
            self.assertEqual(heard, [])
            log.expunge([1])
        self.assertEqual(heard, [1])
        with log.batch():
            pass
        self.assertEqual(heard, [1])

    def test_unregister_and_failing_watchers(self) -> None:
        log, heard = MailboxLog(1), []

        def broken() -> None:
            raise KeyError("boom")

        log.watch(broken)
        unregister = log.watch(lambda: heard.append(1))
        log.append()
        self.assertEqual(heard, [1])
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        unregister()
        unregister()
        log.append()
        self.assertEqual(heard, [1])
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertEqual(log.watcher_count, 1)

    def test_watcher_may_unregister_itself(self) -> None:
        log, heard = MailboxLog(1), []
        unregister = log.watch(lambda: (heard.append(1), unregister()))
        log.watch(lambda: heard.append(2))
        log.append()
        log.append()
        self.assertEqual(heard, [1, 2, 2])

    def test_set_flags_and_reads(self) -> None:
        log = MailboxLog(3)
        for _ in range(5):
            log.append(["\\Seen"])
        high = log.highestmodseq
        self.assertEqual(log.set_flags(2, frozenset({"\\Seen"})), log.get(2))
        self.assertEqual(log.highestmodseq, high)
        state = log.set_flags(2, frozenset({"\\Recent", "x"}))
        self.assertEqual(state, FlagState(2, frozenset({"x"}), high + 1))
        self.assertIsNone(log.set_flags(99, frozenset()))
        log.expunge([3])
        self.assertEqual(log.uid_range(2, 4), [2, 4])
        self.assertEqual(log.uid_range(4, 2), [2, 4])
        self.assertEqual(log.largest_uid, 5)
        self.assertEqual(log.uids, (1, 2, 4, 5))
        self.assertEqual(len(log), 4)
        assert 4 in log and 3 not in log
        self.assertEqual([s.uid for s in log.states([5, 3, 1, 1])], [1, 5])
        self.assertEqual(log.expunged_since(0), [3])

    def test_huge_uid_ranges_cost_what_exists(self) -> None:
        log = MailboxLog(3)
        for _ in range(4):
            log.append()
        everything = range(1, 2**32)
        self.assertEqual(log.existing(everything), [1, 2, 3, 4])
        self.assertEqual(log.existing(range(3, 2)), [])
        self.assertEqual([s.uid for s in log.states(range(2, 4))], [2, 3])
        log.store(everything, "add", frozenset({"\\Deleted"}))
        self.assertEqual(log.deleted_uids(everything), [1, 2, 3, 4])
        self.assertEqual(log.expunge(everything), [1, 2, 3, 4])

    def test_claim_recent_empty_range_is_at_uidnext(self) -> None:
        log = MailboxLog(3)
        self.assertEqual(log.claim_recent(), (1, 1))
        log.append()
        log.append()
        self.assertEqual(log.claim_recent(), (1, 3))
        self.assertEqual(log.claim_recent(), (3, 3))

    def test_forget_tombstones(self) -> None:
        log = MailboxLog(3)
        log.append()
        log.append()
        log.expunge([1])
        mark = log.highestmodseq
        log.expunge([2])
        self.assertEqual(log.forget_tombstones(mark), 1)
        self.assertEqual(log.changes_since(0).expunged, (2,))

    def test_forgotten_tombstones_are_known_to_be_missing(self) -> None:
        """RFC 7162 §3.2.5.2: after pruning, the log says which modseqs it
        can no longer answer for, and that survives a save and restore."""
        log = MailboxLog(3)
        log.append()
        log.append()
        log.expunge([1])
        mark = log.highestmodseq
        log.expunge([2])
        self.assertTrue(log.complete_since(0))
        log.forget_tombstones(mark)
        self.assertFalse(log.complete_since(0))
        self.assertFalse(log.complete_since(mark - 1))
        self.assertTrue(log.complete_since(mark))
        again = MailboxLog.from_state(json.loads(json.dumps(log.to_state())))
        self.assertEqual(again.tombstone_floor, mark)
        self.assertFalse(again.complete_since(0))
        self.assertEqual(again.expunged_since(mark), [2])

    def test_bad_inputs(self) -> None:
        with self.assertRaises(ValueError):
            MailboxLog(0)
        with self.assertRaises(ValueError):
            MailboxLog(1).store([1], "toggle", frozenset())
        with self.assertRaises(ValueError):
            apply_mode(frozenset(), "toggle", frozenset())

    def test_new_uidvalidity_always_grows(self) -> None:
        a = new_uidvalidity()
        b = new_uidvalidity(a)
        c = new_uidvalidity(b + 1000)
        assert 0 < a < b < c < 2**32


class Names(TestCase):
    def test_normalize(self) -> None:
        self.assertEqual(normalize_name("inbox"), "INBOX")
        self.assertEqual(normalize_name("Inbox/Sub"), "INBOX/Sub")
        self.assertEqual(normalize_name("Inboxes"), "Inboxes")
        self.assertEqual(normalize_name("a/inbox"), "a/inbox")
        self.assertEqual(normalize_name("Entwürfe/日本"), "Entwürfe/日本")
        for bad in ("", "/", "/a", "a/", "a//b", "a\rb", "\x7f"):
            with self.assertRaises(InvalidMailboxName):
                normalize_name(bad)

    def test_hierarchy_helpers(self) -> None:
        self.assertEqual(parents_of("a/b/c"), ["a", "a/b"])
        self.assertEqual(parents_of("a"), [])
        assert is_inferior("a/b", "a") and not is_inferior("ab", "a") and not is_inferior("a", "a")
        self.assertEqual(rename_inferior("a/b/c", "a/b", "x"), "x/c")
        self.assertEqual(rename_inferior("a/b", "a/b", "x"), "x")
