"""Several frontends on one PostgreSQL database (issue 14, "change
notification across frontends"): two SqlStore instances, each with its own
connections and LISTEN thread, stand for two mailframe processes."""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from mailframe.records import NewMessage
from mailframe.store.sql import SqlStore, open_postgresql
from mailframe.testing import message
from tests.store.sql.pgcluster import new_database

#: how long the tests wait for a notification before failing (a bound,
#: not a timing assertion: the poll ends as soon as it is seen).
PATIENCE = 10.0


async def _until(condition: object, what: str) -> None:
    assert callable(condition)
    for _ in range(int(PATIENCE / 0.02)):
        if condition():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError(f"not seen within {PATIENCE}s: {what}")


class TwoFrontends(TestCase):
    def setUp(self) -> None:
        conninfo = new_database()
        self.a = open_postgresql(conninfo)
        self.b = open_postgresql(conninfo)

    async def tearDown(self) -> None:
        await self.a.close()
        await self.b.close()

    async def _listening(self, *stores: SqlStore) -> None:
        await _until(
            lambda: all(s.listener is not None and s.listener.listening.is_set() for s in stores),
            "the listeners connected",
        )

    async def test_append_on_one_wakes_a_watcher_on_the_other(self) -> None:
        await self._listening(self.a, self.b)
        box_a = await (await self.a.account("alice")).mailbox("INBOX")
        box_b = await (await self.b.account("alice")).mailbox("INBOX")
        before = (await box_b.status()).highestmodseq
        woken: list[int] = []
        box_b.watch(lambda: woken.append(1))
        uid = await box_a.append(message(1))
        await _until(lambda: woken, "frontend B's watcher woken by A's APPEND")
        changes = await box_b.changes_since(before)
        self.assertEqual([s.uid for s in changes.changed], [uid])

    async def test_own_change_wakes_this_frontend_once(self) -> None:
        """A frontend's own commit is told to its watchers at commit; the
        NOTIFY it sent must not wake them a second time through its own
        listener (the echo could reach an idling session before the
        writing one saw its result, and \\Recent then went to the idler)."""
        await self._listening(self.a, self.b)
        box_a = await (await self.a.account("carol")).mailbox("INBOX")
        box_b = await (await self.b.account("carol")).mailbox("INBOX")
        here: list[int] = []
        there: list[int] = []
        box_a.watch(lambda: here.append(1))
        box_b.watch(lambda: there.append(1))
        await box_a.append(message(1))
        self.assertEqual(here, [1])  # told at commit, before append() returned
        await _until(lambda: there, "frontend B's watcher woken by A's APPEND")
        # A's listener got the same NOTIFY as B's; give its thread a few
        # polls to (wrongly) deliver it before looking.
        await task.deferLater(reactor, 0.6, lambda: None)
        self.assertEqual(here, [1])

    async def test_concurrent_appenders_get_gapless_unique_uids(self) -> None:
        accounts = [await self.a.account("bob"), await self.b.account("bob")]
        boxes = [await acc.mailbox("INBOX") for acc in accounts]
        bodies = {i: message(100 + i) + b"x" * i for i in range(10)}
        results = await defer.gatherResults(
            [boxes[i % 2].append_many([NewMessage(bodies[i])]) for i in range(10)],
            consumeErrors=True,
        )
        uids = [uid for r in results for uid in r.uids]
        self.assertEqual(sorted(uids), list(range(1, 11)))  # no gap, no duplicate
        snapshot = await boxes[0].snapshot()
        self.assertEqual([m.uid for m in snapshot.messages], list(range(1, 11)))
        modseqs = [m.modseq for m in snapshot.messages]
        self.assertEqual(len(set(modseqs)), 10)  # each append its own modseq
        for i, result in enumerate(results):
            stored = await boxes[(i + 1) % 2].read(result.uids[0])
            self.assertEqual(stored, bodies[i].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
