"""QUOTA (RFC 9208) golden transcripts (tests/transcripts/quota/*.imap),
through the real Twisted protocol, on every store wrapped by
:class:`mailframe.store.quota.QuotaStore`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.quota import UNLIMITED, QuotaLimits
from mailframe.store.quota import QuotaStore
from mailframe.testing.transcript import run_transcript
from tests.support.transcripts import per_store, with_transcripts

HERE = Path(__file__).resolve().parent.parent / "transcripts" / "quota"
USERS = {"alice": "secret", "bob": "hunter2", "carol": "secret"}
LIMITS = {"alice": QuotaLimits(1 << 20, 3), "bob": QuotaLimits(1024, None)}


def policy(username: str) -> QuotaLimits:
    return LIMITS.get(username, UNLIMITED)


class _QuotaTranscripts(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def play(self, path: Path) -> None:
        store = QuotaStore(self.make_store(), policy)
        try:
            await run_transcript(path.read_text(encoding="utf-8"), store, USERS)
        finally:
            await defer.maybeDeferred(store.close)


per_store(globals(), with_transcripts(_QuotaTranscripts, sorted(HERE.glob("*.imap"))), "QuotaTranscripts")
del _QuotaTranscripts  # only the per-store classes are collected
