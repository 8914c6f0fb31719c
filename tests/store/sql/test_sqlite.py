"""The SQLite store: the whole conformance suite, restarts included."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from mailframe.store.sql import SqlStore, open_sqlite
from mailframe.testing import PersistentBackendConformance


class SqliteConformance(PersistentBackendConformance, TestCase):
    def make_store(self) -> SqlStore:
        self.path = self.mktemp() + ".db"
        return open_sqlite(self.path)

    def reopen_store(self) -> SqlStore:
        return open_sqlite(self.path)
