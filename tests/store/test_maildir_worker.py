"""A folder's job queue (:class:`mailframe.store._maildir_worker.SerialWorker`)
in the reactor's real thread pool: writes one at a time in the order
submitted, reads beside each other between them, and a queue of jobs run
back to back by one thread (issue 16: jobs waited ~7 ms in the queue for
0.1-0.3 ms of work, each going back to the reactor before the next).

No timing is asserted: each test waits on events that must happen, and
a job that must not run yet would make the test time out, not pass."""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from mailframe.store._maildir_worker import MAX_READERS, SerialWorker

WAIT = 30.0


class Queue(TestCase):
    def setUp(self) -> None:
        self.worker = SerialWorker(reactor, always=True)
        self.order: list[str] = []

    def mark(self, name: str) -> str:
        self.order.append(name)
        return name

    async def test_reads_run_beside_each_other(self) -> None:
        """A read waits for another read submitted after it: it can only
        finish when both run at once."""
        second_ran = threading.Event()
        first = self.worker.submit_read(second_ran.wait, WAIT)
        second = self.worker.submit_read(second_ran.set)
        self.assertEqual(await first, True)
        await second

    async def test_no_more_reads_at_once_than_the_limit(self) -> None:
        gate = threading.Event()
        running = []
        lock = threading.Lock()

        def read(i: int) -> int:
            with lock:
                running.append(i)
                now = len(running)
            gate.wait(WAIT)
            with lock:
                running.remove(i)
            return now

        jobs = [self.worker.submit_read(read, i) for i in range(MAX_READERS + 2)]
        reactor.callLater(0.05, gate.set)
        seen = await defer.gatherResults(jobs)
        self.assertLessEqual(max(seen), MAX_READERS)

    async def test_a_write_waits_for_earlier_reads_and_later_reads_for_it(self) -> None:
        """RFC 3501 keeps a session's commands in order, and the index
        needs its writes alone: read, write, read submitted in that order
        run in that order although the first read blocks."""
        gate = threading.Event()

        def slow_read() -> str:
            gate.wait(WAIT)
            return self.mark("read 1")

        jobs = [
            self.worker.submit_read(slow_read),
            self.worker.submit(self.mark, "write"),
            self.worker.submit_read(self.mark, "read 2"),
            self.worker.submit(self.mark, "write 2"),
        ]
        self.assertEqual(self.order, [])  # nothing passed the blocked read
        gate.set()
        await defer.gatherResults(jobs)
        self.assertEqual(self.order, ["read 1", "write", "read 2", "write 2"])

    async def test_writes_keep_their_order(self) -> None:
        jobs = [self.worker.submit(self.mark, str(i)) for i in range(50)]
        self.assertEqual(await defer.gatherResults(jobs), [str(i) for i in range(50)])
        self.assertEqual(self.order, [str(i) for i in range(50)])

    async def test_queued_jobs_run_back_to_back_in_one_thread(self) -> None:
        """The thread that finishes a job takes the next from the queue
        itself, without a trip to the reactor thread between them."""
        gate = threading.Event()
        threads: list[int] = []

        def job(wait: bool) -> None:
            if wait:
                gate.wait(WAIT)
            threads.append(threading.get_ident())

        jobs = [self.worker.submit(job, True)] + [self.worker.submit(job, False) for _ in range(4)]
        gate.set()
        await defer.gatherResults(jobs)
        self.assertEqual(len(set(threads)), 1)

    async def test_results_and_posts_reach_the_reactor_in_order(self) -> None:
        """A write's result, then what it posted (its watchers), then the
        next job's result: the session that made a change carries on
        first, and watchers read the change after."""
        seen: list[str] = []
        on_reactor: list[bool] = []

        def write(name: str) -> str:
            self.worker.post(lambda: seen.append(f"posted by {name}"))
            return name

        def result(name: str) -> None:
            on_reactor.append(threading.current_thread() is threading.main_thread())
            seen.append(name)

        jobs = [self.worker.submit(write, f"w{i}").addCallback(result) for i in range(3)]
        await defer.gatherResults(jobs)
        await self.worker.submit(lambda: None)  # the last one's posts ran by then
        self.assertEqual(seen, ["w0", "posted by w0", "w1", "posted by w1", "w2", "posted by w2"])
        self.assertEqual(on_reactor, [True] * 3)

    async def test_a_failure_reaches_its_caller_and_the_queue_goes_on(self) -> None:
        def fail() -> None:
            raise ValueError("broken")

        failed = self.worker.submit(fail)
        after = self.worker.submit_read(self.mark, "after")
        with self.assertRaises(ValueError):
            await failed
        self.assertEqual(await after, "after")
        self.assertFalse(self.worker.busy)

    def test_synchronous_mode_runs_at_once(self) -> None:
        worker = SerialWorker(None)
        got: list[Any] = []
        worker.submit_read(self.mark, "r").addCallback(got.append)
        worker.submit(self.mark, "w").addCallback(got.append)
        self.assertEqual(got, ["r", "w"])
