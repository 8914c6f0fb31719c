"""Golden transcripts (tests/transcripts/*.imap) through the real Twisted
protocol, against every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import TranscriptMismatch, run_transcript
from tests.support.transcripts import per_store, with_transcripts

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


per_store(globals(), with_transcripts(_TranscriptTests, TRANSCRIPTS), "Transcripts")
del _TranscriptTests  # only the per-store classes are collected


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
