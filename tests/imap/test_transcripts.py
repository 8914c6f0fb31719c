"""Golden transcripts (tests/transcripts/*.imap) through the real Twisted
protocol, against every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import TranscriptMismatch, run_transcript

HERE = Path(__file__).resolve().parent.parent / "transcripts"
TRANSCRIPTS = sorted(HERE.glob("*.imap"))


class _TranscriptTests(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def play(self, path: Path) -> None:
        store = self.make_store()
        try:
            await run_transcript(path.read_text(encoding="utf-8"), store)
        finally:
            await defer.maybeDeferred(store.close)


def _test_for(path: Path) -> Callable[[Any], Any]:
    async def test(self: Any) -> None:
        await self.play(path)

    test.__name__ = "test_" + path.stem
    test.__doc__ = f"tests/transcripts/{path.name}"
    return test


for _path in TRANSCRIPTS:
    setattr(_TranscriptTests, "test_" + _path.stem, _test_for(_path))


class MemoryTranscripts(_TranscriptTests):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirTranscripts(_TranscriptTests):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


class MboxTranscripts(_TranscriptTests):
    def make_store(self) -> Any:
        return mbox_from_url(f"mbox:{self.mktemp()}/mail/%u:DIRNAME=mBoX-MeSsAgEs")


class SqliteTranscripts(_TranscriptTests):
    def make_store(self) -> Any:
        return sqlite_from_url(f"sqlite:{self.mktemp()}.db")


del _TranscriptTests  # only the concrete classes are collected


class RunnerTests(TestCase):
    async def test_a_wrong_line_is_reported(self) -> None:
        """The runner fails on a difference, so a passing transcript means
        something."""
        script = "S~ \\* OK \\[CAPABILITY .*\nC: a1 NOOP\nS: a1 OK nope\n"
        with self.assertRaisesRegex(TranscriptMismatch, "expected 'a1 OK nope'"):
            await run_transcript(script, MemoryStore())

    async def test_unexpected_output_is_reported(self) -> None:
        script = "S~ \\* OK \\[CAPABILITY .*\nC: a1 CAPABILITY\nS~ \\* CAPABILITY .*\n"
        with self.assertRaisesRegex(TranscriptMismatch, "said more than expected"):
            await run_transcript(script, MemoryStore())
