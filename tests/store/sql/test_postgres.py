"""The PostgreSQL store on a private cluster (tests/store/sql/pgcluster.py):
the whole conformance suite, restarts included, and the golden transcripts."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.sql import SqlStore, open_postgresql
from mailframe.testing import PersistentBackendConformance
from mailframe.testing.transcript import run_transcript
from tests.store.sql.pgcluster import new_database

TRANSCRIPTS = sorted((Path(__file__).resolve().parents[2] / "transcripts").glob("*.imap"))


class PostgresConformance(PersistentBackendConformance, TestCase):
    def make_store(self) -> SqlStore:
        self.conninfo = new_database()
        return open_postgresql(self.conninfo)

    def reopen_store(self) -> SqlStore:
        return open_postgresql(self.conninfo)


class PostgresTranscripts(TestCase):
    async def test_every_transcript(self) -> None:
        for path in TRANSCRIPTS:
            # One connection: the transcripts fix which of two sessions asks
            # first, and so which one gets \Recent (RFC 3501 §2.3.2 leaves the
            # winner to the server); a pool lets a later query finish first.
            store = open_postgresql(new_database(), pool=1)
            try:
                await run_transcript(path.read_text(encoding="utf-8"), store)
            except Exception as exc:
                raise AssertionError(f"{path.name}: {exc}") from exc
            finally:
                await defer.maybeDeferred(store.close)
