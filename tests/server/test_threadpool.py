"""The reactor's lighter thread pool (mailframe.server.threadpool): the
same contract as Twisted's, used through deferToThread."""

from __future__ import annotations

import threading

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.threads import deferToThreadPool
from twisted.trial.unittest import TestCase

from mailframe.server.threadpool import FastThreadPool


class FastThreadPoolTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.pool = FastThreadPool(0, 4)
        self.pool.start()
        self.addCleanup(self.pool.stop)

    def run_in(self, f, *args):  # type: ignore[no-untyped-def]
        return deferToThreadPool(reactor, self.pool, f, *args)

    @inlineCallbacks
    def test_results_and_failures_come_back(self):  # type: ignore[no-untyped-def]
        self.assertEqual((yield self.run_in(lambda a, b: a + b, 2, 3)), 5)
        with self.assertRaises(ZeroDivisionError):
            yield self.run_in(lambda: 1 // 0)
        self.assertNotEqual((yield self.run_in(threading.get_ident)), threading.get_ident())

    @inlineCallbacks
    def test_jobs_run_in_parallel_up_to_the_limit(self):  # type: ignore[no-untyped-def]
        """Four jobs that each wait for all four to have started finish:
        they ran at once; a fifth waits for a free thread and runs too."""
        barrier = threading.Barrier(4, timeout=30)
        results = yield gatherResults([self.run_in(barrier.wait) for _ in range(4)]
                                      + [self.run_in(lambda: "fifth")])
        self.assertEqual(sorted(results[:4]), [0, 1, 2, 3])
        self.assertEqual(results[4], "fifth")
        self.assertLessEqual(len(self.pool.threads), 4)

    @inlineCallbacks
    def test_idle_threads_are_reused(self):  # type: ignore[no-untyped-def]
        idents = set()
        for _ in range(20):
            idents.add((yield self.run_in(threading.get_ident)))
        self.assertEqual(len(idents), 1)

    def test_stop_finishes_queued_jobs_then_refuses(self) -> None:
        done: list[int] = []
        pool = FastThreadPool(0, 2)
        for i in range(10):
            pool.callInThread(done.append, i)
        pool.stop()
        self.assertEqual(sorted(done), list(range(10)))
        self.assertEqual(pool.threads, [])
        with self.assertRaises(RuntimeError):
            pool.callInThread(done.append, 99)

    def test_reactor_uses_it_once_installed(self) -> None:
        """The running server installs it (mailframe.server.service); here
        the global reactor already has it or gets it."""
        from mailframe.server.threadpool import install

        pool = install(reactor)
        self.assertIs(reactor.getThreadPool(), pool)
        self.assertIs(install(reactor), pool)


class SwitchInterval(TestCase):
    """``--switch-interval``: how long a pool thread computing in Python
    keeps the GIL from the reactor thread (issue 16: NOOP during a 50 MB
    APPEND).  The server sets it where it installs the pool."""

    def setUp(self) -> None:
        import sys

        self.addCleanup(sys.setswitchinterval, sys.getswitchinterval())

    def test_install_sets_it(self) -> None:
        import sys

        from mailframe.server.threadpool import SWITCH_INTERVAL, install

        install(reactor)
        self.assertAlmostEqual(sys.getswitchinterval(), SWITCH_INTERVAL)
        install(reactor, switch_interval=0.002)
        self.assertAlmostEqual(sys.getswitchinterval(), 0.002)
        install(reactor, switch_interval=None)  # left as it is
        self.assertAlmostEqual(sys.getswitchinterval(), 0.002)

    def test_option(self) -> None:
        from mailframe.server.options import Options

        o = Options()
        o.parseOptions(["--data-dir", "/tmp/d"])  # type: ignore[no-untyped-call]
        self.assertEqual(o["switch-interval"], 1)
        o = Options()
        o.parseOptions(["--data-dir", "/tmp/d", "--switch-interval", "0"])  # type: ignore[no-untyped-call]
        self.assertEqual(o["switch-interval"], 0)
        from twisted.python import usage

        with self.assertRaises(usage.UsageError):
            Options().parseOptions(["--data-dir", "/tmp/d", "--switch-interval", "-1"])  # type: ignore[no-untyped-call]
