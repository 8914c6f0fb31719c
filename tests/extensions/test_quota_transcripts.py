"""QUOTA (RFC 9208) golden transcripts (tests/transcripts/quota/*.imap),
through the real Twisted protocol, on every store wrapped by
:class:`mailframe.store.quota.QuotaStore`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.quota import UNLIMITED, QuotaLimits
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.quota import QuotaStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import run_transcript

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


def _test_for(path: Path) -> Callable[[Any], Any]:
    async def test(self: Any) -> None:
        await self.play(path)

    test.__name__ = "test_" + path.stem
    test.__doc__ = f"tests/transcripts/quota/{path.name}"
    return test


for _path in sorted(HERE.glob("*.imap")):
    setattr(_QuotaTranscripts, "test_" + _path.stem, _test_for(_path))


class MemoryQuotaTranscripts(_QuotaTranscripts):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirQuotaTranscripts(_QuotaTranscripts):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


class MboxQuotaTranscripts(_QuotaTranscripts):
    def make_store(self) -> Any:
        return mbox_from_url(f"mbox:{self.mktemp()}/mail/%u:DIRNAME=mBoX-MeSsAgEs")


class SqliteQuotaTranscripts(_QuotaTranscripts):
    def make_store(self) -> Any:
        return sqlite_from_url(f"sqlite:{self.mktemp()}.db")


del _QuotaTranscripts
