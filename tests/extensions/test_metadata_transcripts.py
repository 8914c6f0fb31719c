"""METADATA (RFC 5464) golden transcripts (tests/transcripts/metadata),
through the real Twisted protocol, on every store that keeps entries
(wrapped by :class:`mailframe.store.metadata.MetadataStore`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.metadata import MetadataLimits, MetadataStore
from mailframe.testing.transcript import run_transcript
from tests.support.transcripts import per_store, with_transcripts

HERE = Path(__file__).resolve().parent.parent / "transcripts" / "metadata"
LIMITS = MetadataLimits(max_size=1024, max_entries=10)


class _MetadataTranscripts(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def play(self, path: Path) -> None:
        store = MetadataStore(self.make_store(), LIMITS)
        try:
            await run_transcript(path.read_text(encoding="utf-8"), store)
        finally:
            await defer.maybeDeferred(store.close)


per_store(globals(), with_transcripts(_MetadataTranscripts, sorted(HERE.glob("*.imap"))),
          "MetadataTranscripts")
del _MetadataTranscripts  # only the per-store classes are collected
