"""``python -m mailframe.testing module.path:factory``: run the conformance
suite against any store and say, in plain words, what to fix.

``factory()`` must return a new, empty IMailStore each time it is called
(``--read-only``: a store that already holds mail for ``--user``).  Exit
status 0 when every check passes, 1 otherwise, 2 for a wrong command line.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import traceback
import unittest
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TextIO

from twisted.trial.unittest import TestCase

from mailframe.loading import load_factory, looks_like_factory

__all__ = ["main", "build_suite"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]

#: Advice for the failures newcomers meet first.
_HINTS: list[tuple[str, str]] = [
    (r"NotImplementedError", "a storage primitive is missing: implement it in your subclass "
     "(put_messages, message_meta, read_range, drop_messages; make_mailbox; make_account)"),
    (r"has no attribute '(\w+)'", "your object lacks {0}: see its docstring in "
     "mailframe.interfaces (IMailStore, IAccount, IMailbox)"),
    (r"not an (IMailStore|IAccount|IMailbox)", "decorate the class with "
     "@zope.interface.implementer({0}) and implement its methods"),
    (r"expected a Deferred", "return a Deferred (defer.succeed(value), or an async def "
     "wrapped with Deferred.fromCoroutine), never a plain value"),
    (r"InvalidMailboxName|NonexistentMailbox|MailboxExists|MailboxHasChildren|TryCreate",
     "raise the typed errors of mailframe.errors named in the IAccount contract"),
    (r"did not fire|watcher", "call every callback given to watch() after each change, "
     "soon, even for changes made through another mailbox object"),
]


def _words(name: str) -> str:
    return name.removeprefix("test_").replace("_", " ")


def _hint(text: str) -> str | None:
    for pattern, advice in _HINTS:
        found = re.search(pattern, text)
        if found:
            return advice.format(*found.groups())
    return None


class _PlainResult(unittest.TestResult):
    """Collects outcomes and writes one line per check, then the details."""

    def __init__(self, out: TextIO, own_file: str | None) -> None:
        super().__init__()
        self.out = out
        self.own_file = own_file
        self.problems: list[tuple[unittest.TestCase, str, _ExcInfo]] = []

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self.out.write(f"  ok    {_words(test._testMethodName)}\n")

    def _problem(self, test: unittest.TestCase, kind: str, err: Any) -> None:
        self.problems.append((test, kind, err))
        self.out.write(f"  FAIL  {_words(test._testMethodName)}\n")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._problem(test, "check failed", err)

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self._problem(test, "error", err)

    def report(self) -> None:
        for test, kind, (etype, value, tb) in self.problems:
            method = getattr(test, test._testMethodName)
            doc = inspect.getdoc(method) or ""
            self.out.write(f"\n✗ {_words(test._testMethodName)} ({kind})\n")
            if doc:
                self.out.write("  the rule: " + " ".join(doc.split()) + "\n")
            message = "".join(traceback.format_exception_only(etype, value)).strip()
            self.out.write("  what happened: " + message.replace("\n", "\n    ") + "\n")
            yours = [
                f for f in traceback.extract_tb(tb) if self.own_file and f.filename == self.own_file
            ]
            if yours:
                frame = yours[-1]
                self.out.write(f"  in your code: {frame.filename}:{frame.lineno} ({frame.name})\n")
            hint = _hint(message)
            if hint:
                self.out.write(f"  what to do: {hint}\n")
        total = self.testsRun
        bad = len(self.problems)
        self.out.write(f"\n{total - bad} of {total} checks passed.\n")


def build_suite(factory: Callable[[], Any], read_only: bool, user: str) -> unittest.TestSuite:
    """The trial test cases over ``factory``."""
    from mailframe.testing import BackendConformance, ReadOnlyConformance

    base: type = ReadOnlyConformance if read_only else BackendConformance

    class Conformance(base, TestCase):  # type: ignore[misc]
        readonly_username = user

        def make_store(self) -> Any:
            return factory()

    return unittest.TestLoader().loadTestsFromTestCase(Conformance)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m mailframe.testing",
        description="Run mailframe's store conformance suite against module.path:factory.",
    )
    parser.add_argument("factory", help="module.path:callable returning a new IMailStore")
    parser.add_argument("--read-only", action="store_true",
                        help="only the checks that need no writes (the store holds mail already)")
    parser.add_argument("--user", default="alice", help="the user whose mail --read-only reads")
    parser.add_argument("-k", dest="pattern", default=None,
                        help="run only checks whose name contains this text")
    args = parser.parse_args(argv)
    if not looks_like_factory(args.factory):
        parser.error(f"{args.factory!r} is not module.path:factory")
    try:
        factory = load_factory(args.factory)
    except Exception as e:
        out.write(f"cannot load {args.factory}: {' '.join(str(e).split()) or type(e).__name__}\n")
        return 1
    suite = build_suite(factory, args.read_only, args.user)
    if args.pattern:
        suite = unittest.TestSuite(
            t
            for t in suite
            if isinstance(t, unittest.TestCase) and args.pattern in t._testMethodName
        )
    module = sys.modules.get(getattr(factory, "__module__", ""))
    own = getattr(module, "__file__", None)
    out.write(f"Checking {args.factory} against the IMailStore contract"
              f"{' (read-only subset)' if args.read_only else ''}:\n")
    result = _PlainResult(out, own)
    # Errors the checks provoke on purpose (a broken watcher) are logged;
    # the checks judge them, so keep them off the newcomer's terminal.
    from twisted.logger import globalLogBeginner

    globalLogBeginner.beginLoggingTo([], redirectStandardIO=False)
    suite.run(result)
    result.report()
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
