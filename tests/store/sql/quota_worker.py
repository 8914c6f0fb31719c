"""One process of the concurrent QUOTA usage test (tests/store/sql/test_quota.py):
opens the store given on the command line and, seeded, APPENDs (one or
several at once, RFC 3502), COPYs, MOVEs (RFC 6851) and EXPUNGEs (RFC 3501
§6.4.3, RFC 4315 UID EXPUNGE) in INBOX and Work of user alice, while
another process does the same on the same database.

    python -m tests.store.sql.quota_worker sqlite:PATH|postgresql:CONNINFO SEED OPS
"""

from __future__ import annotations

import random
import sys
from typing import Any

from twisted.internet import defer, task

from mailframe.records import NewMessage
from mailframe.store.sql import open_postgresql, open_sqlite


def _open(url: str) -> Any:
    if url.startswith("sqlite:"):
        return open_sqlite(url[len("sqlite:") :])
    return open_postgresql(url[len("postgresql:") :], listen=False)


def _message(rng: random.Random, seed: int, i: int) -> bytes:
    body = b"x" * rng.randint(10, 4000)
    return b"From: w%d@example.org\r\nSubject: %d/%d\r\n\r\n%s\r\n" % (seed, seed, i, body)


async def _run(url: str, seed: int, ops: int) -> None:
    rng = random.Random(seed)
    store = _open(url)
    try:
        account = await store.account("alice")
        boxes = [await account.mailbox("INBOX"), await account.mailbox("Work")]
        for i in range(ops):
            box = rng.choice(boxes)
            other = boxes[1] if box is boxes[0] else boxes[0]
            op = rng.random()
            if op < 0.4:
                count = rng.randint(1, 3)
                await box.append_many(
                    [
                        NewMessage(_message(rng, seed, i * 10 + k), frozenset(), None)
                        for k in range(count)
                    ]
                )
                continue
            uids = [s.uid for s in (await box.snapshot()).messages]
            if not uids:
                continue
            some = sorted(rng.sample(uids, min(len(uids), rng.randint(1, 4))))
            if op < 0.6:
                await box.copy(some, other)
            elif op < 0.75:
                await box.move(some, other)
            elif op < 0.9:
                await box.store(some, "add", frozenset({"\\Deleted"}))
                await box.expunge()
            else:
                await box.store(some, "add", frozenset({"\\Deleted"}))
                await box.expunge(some[:1])
    finally:
        await store.close()


def main(reactor: Any, url: str, seed: str, ops: str) -> defer.Deferred[None]:
    return defer.Deferred.fromCoroutine(_run(url, int(seed), int(ops)))


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
