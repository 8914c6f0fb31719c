"""A seeded random walk through IMailbox, checked against a plain model.

Many small operations in a random order (appends, the three STORE modes
with and without UNCHANGEDSINCE, EXPUNGE, UID EXPUNGE, COPY, MOVE, \\Recent
claims) catch bookkeeping slips that the focused tests miss.  After every
step the backend's snapshot and counters must equal the model, and
``changes_since`` from every earlier point must cover exactly what changed
since then (DESIGN.md, "the mailbox is a log").  Persistent backends are
restarted at random points of the walk too.  Deterministic: the seed is
fixed, so a failure reproduces.
"""

from __future__ import annotations

import random
from typing import Any

from mailframe.testing._base import BackendFixture, message

_FLAGS = ("\\Seen", "\\Deleted", "\\Flagged", "\\Answered", "\\Draft", "$Work", "$Later")


class RandomWalkConformance(BackendFixture):
    """One long seeded sequence of operations against a model."""

    #: Operations per walk; keep a disk backend's run short.
    random_walk_steps: int = 120
    random_walk_seed: int = 3501

    async def _check(
        self,
        box: Any,
        model: dict[int, frozenset[str]],
        history: list[tuple[int, dict[int, frozenset[str]]]],
        ever: set[int],
    ) -> None:
        snap = await box.snapshot()
        self.assertEqual({m.uid: frozenset(m.flags) for m in snap.messages}, model)
        self.assertEqual([m.uid for m in snap.messages], sorted(model))
        status = await box.status()
        self.assertEqual(status.messages, len(model))
        self.assertEqual(status.unseen, sum("\\Seen" not in f for f in model.values()))
        self.assertEqual(status.highestmodseq, snap.highestmodseq)
        assert all(m.modseq <= snap.highestmodseq for m in snap.messages)
        for mark, then in history[-12:]:
            changes = await box.changes_since(mark)
            changed = {s.uid: frozenset(s.flags) for s in changes.changed}
            self.assertEqual([s.uid for s in changes.changed], sorted(changed))
            # Everything new or different since ``mark`` is reported ...
            differ = {u for u, f in model.items() if then.get(u) != f}
            assert differ <= set(changed), (mark, differ - set(changed))
            # ... with its current flags, and nothing that is gone.
            assert all(model.get(u) == f for u, f in changed.items()), (mark, changed)
            expunged = set(changes.expunged)
            assert set(then) - set(model) <= expunged, (mark, set(then) - set(model))
            assert not expunged & set(model), (mark, expunged & set(model))
            assert expunged <= ever, (mark, expunged - ever)
            # Nothing unchanged since ``mark`` has a newer modseq.
            for state in snap.messages:
                if state.modseq <= mark:
                    self.assertEqual(then.get(state.uid), frozenset(state.flags))

    async def test_random_walk_agrees_with_model(self) -> None:
        rng = random.Random(self.random_walk_seed)
        box = await self.mailbox()
        other = await self.new_mailbox("Walk/Other")
        model: dict[int, frozenset[str]] = {}
        other_count = 0
        ever: set[int] = set()
        history: list[tuple[int, dict[int, frozenset[str]]]] = []
        n = 0
        # A persistent backend (PersistenceConformance) is also restarted now
        # and then: the log must carry on exactly where it was.
        restartable = callable(getattr(self, "restart", None))
        for _step in range(self.random_walk_steps):
            history.append(((await box.status()).highestmodseq, dict(model)))
            kind = rng.choices(
                ["append", "store", "expunge", "copy", "move", "recent", "restart"],
                weights=[5, 6, 2, 1, 1, 1, 1 if restartable else 0],
            )[0]
            if kind == "restart":
                await self.restart()  # type: ignore[attr-defined]
                box = await self.mailbox()
                other = await self.mailbox("Walk/Other")
                await self._check(box, model, history, ever)
                continue
            flags = frozenset(rng.sample(_FLAGS, rng.randint(0, 3)))
            some = rng.sample(sorted(model), min(len(model), rng.randint(1, 4))) if model else []
            gone = sorted(ever - set(model))
            absent = rng.choice(gone) if gone and rng.random() < 0.5 else max(ever, default=0) + 2
            asked = sorted({*some, absent})  # plus one UID that does not exist
            if kind == "append" or not model:
                n += 1
                uid = await self.append(box, message(n), flags)
                assert uid not in ever and uid > max(ever, default=0), uid
                ever.add(uid)
                model[uid] = flags
            elif kind == "store":
                mode = rng.choice(["set", "add", "remove"])
                since = None
                if rng.random() < 0.3:
                    since = history[rng.randrange(len(history))][0]
                before = {u: (await box.records([u]))[0].modseq for u in some}
                result = await box.store(asked, mode, flags, since)
                for u in some:
                    if since is not None and before[u] > since:
                        assert u in result.failed, (u, result)
                        continue
                    old = model[u]
                    model[u] = (
                        flags if mode == "set" else old | flags if mode == "add" else old - flags
                    )
                    self.assertEqual(u in {s.uid for s in result.changed}, model[u] != old)
            elif kind == "expunge":
                want = [u for u in model if "\\Deleted" in model[u]]
                if rng.random() < 0.5:
                    want = [u for u in want if u in asked]
                    got = await box.expunge(asked)
                else:
                    got = await box.expunge()
                self.assertEqual(got, sorted(want))
                for u in got:
                    del model[u]
            elif kind in ("copy", "move"):
                pairs = await getattr(box, kind)(asked, other)
                self.assertEqual([p[0] for p in pairs], sorted(some))
                other_count += len(pairs)
                if kind == "move":
                    for u in some:
                        del model[u]
            else:
                lo, hi = await box.claim_recent()
                assert lo <= hi
            await self._check(box, model, history, ever)
        self.assertEqual((await other.status()).messages, other_count)
