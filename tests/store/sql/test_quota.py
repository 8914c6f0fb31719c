"""QUOTA usage of the database store (RFC 9208 §5.1, §5.2): the running
totals of the account's selectable mailboxes (schema 6) equal the generic
sum of their STATUS counters (:func:`mailframe.store.quota.mailbox_usage`),
stay exact while two processes APPEND, COPY, MOVE and EXPUNGE on one
database at once (both engines), are filled by the 5 -> 6 migration from
the rows already there, and a wrong one is found and recounted by
``mailframe db check --repair``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.quota import QuotaUsage
from mailframe.store.quota import IQuotaUsage, mailbox_usage
from mailframe.store.sql import SqlStore, open_postgresql, open_sqlite
from mailframe.store.sql.account import usage_of
from mailframe.store.sql.check import check, repair
from mailframe.store.sql.db import Tx
from mailframe.store.sql.rows import Prepared, append_rows, create_row, move_rows
from mailframe.store.sql.schema import SCHEMA_VERSION
from tests.store.sql.pgcluster import new_database

MESSAGE = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"


class _Usage:
    def make_store(self) -> SqlStore:
        raise NotImplementedError

    @defer.inlineCallbacks
    def test_usage_equals_status_sums(
        self,
    ) -> defer.Generator[defer.Deferred[object], object, None]:
        store = self.make_store()
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        account = yield store.account("alice")
        assert IQuotaUsage.providedBy(account)
        empty = yield account.quota_usage()
        assert empty == QuotaUsage(0, 0)
        yield account.create_mailbox("Work/Reports")
        yield account.create_mailbox("Gone")
        inbox = yield account.mailbox("INBOX")
        work = yield account.mailbox("Work/Reports")
        gone = yield account.mailbox("Gone")
        for i in range(5):
            yield inbox.append(MESSAGE % (i, i), frozenset(), None)
        for i in range(3):
            yield work.append(MESSAGE % (i, i), frozenset(), None)  # same bodies: shared rows
        yield gone.append(MESSAGE % (9, 9), frozenset(), None)
        yield account.delete_mailbox("Gone")  # a deleted mailbox counts no more
        yield inbox.store([1], "add", frozenset({"\\Deleted"}))
        yield inbox.expunge()
        usage = yield account.quota_usage()
        generic = yield defer.Deferred.fromCoroutine(mailbox_usage(account))
        assert usage == generic
        assert usage.messages == 7


class SqliteUsage(_Usage, TestCase):
    def make_store(self) -> SqlStore:
        return open_sqlite(self.mktemp() + ".db")


class PostgresUsage(_Usage, TestCase):
    def make_store(self) -> SqlStore:
        return open_postgresql(new_database(), listen=False)


ROOT = Path(__file__).resolve().parents[3]


def _engine(engine: str) -> tuple[str, Any]:
    """A new empty database: (URL for the worker, opener)."""
    if engine == "sqlite":
        path = tempfile.mkdtemp(prefix="sql-quota-") + "/mail.db"
        return f"sqlite:{path}", lambda: open_sqlite(path)
    conninfo = new_database()
    return f"postgresql:{conninfo}", lambda: open_postgresql(conninfo, listen=False)


def _recounted(tx: Tx, account_id: int) -> tuple[int, int]:
    """The account's usage summed from its rows (what the totals replace)."""
    storage, messages = tx.one(
        "SELECT COALESCE(sum(m.size), 0), count(mm.uid) FROM mailboxes mb "
        "JOIN mailbox_messages mm ON mm.mailbox_id = mb.id "
        "JOIN messages m ON m.id = mm.message_id "
        "WHERE mb.account_id = ? AND mb.deleted = 0 AND mb.noselect = 0",
        (account_id,),
    )
    return int(storage), int(messages)


def _account(tx: Tx) -> int:
    return int(tx.one("SELECT id FROM accounts WHERE username = 'alice'")[0])


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_totals_exact_under_two_processes(engine: str) -> None:
    """Two processes write the same two mailboxes at once; afterwards the
    running totals equal the sums over the rows, and ``db check`` finds
    nothing wrong."""
    url, opener = _engine(engine)
    store = opener()

    def setup(tx: Tx) -> None:
        account = int(tx.one("INSERT INTO accounts (username) VALUES ('alice') RETURNING id")[0])
        create_row(tx, account, "INBOX")
        create_row(tx, account, "Work")

    store.db.run_sync(setup, write=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.sql.quota_worker", url, str(seed), "60"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        for seed in (1, 2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode(errors="replace")[-3000:]
    try:

        def look(tx: Tx) -> tuple[Any, tuple[int, int], list[str]]:
            account = _account(tx)
            return usage_of(tx, account), _recounted(tx, account), check(tx).problems

        usage, summed, problems = store.db.run_sync(look, write=False)[0]
        assert summed[1] > 0  # the workers left messages behind
        assert (usage.storage, usage.messages) == summed
        assert problems == []
    finally:
        store.db.stop_now()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_version_5_gets_its_usage_totals(engine: str) -> None:
    """5 -> 6: the usage columns are added at start and filled from the
    rows (a message COPYed counts in each mailbox)."""
    url, opener = _engine(engine)
    store = opener()
    bodies = [b"Subject: %d\r\n\r\n%s\r\n" % (i, b"y" * (i * 100)) for i in range(1, 6)]

    def fill(tx: Tx) -> None:
        account = int(tx.one("INSERT INTO accounts (username) VALUES ('alice') RETURNING id")[0])
        inbox = create_row(tx, account, "INBOX")
        work = create_row(tx, account, "Work")
        append_rows(tx, inbox, [Prepared(b, frozenset(), None) for b in bodies])
        move_rows(tx, inbox, work, [1, 2], expunge_source=False)

    store.db.run_sync(fill, write=True)
    store.db.stop_now()
    statements = [
        "ALTER TABLE mailboxes DROP COLUMN used_messages",
        "ALTER TABLE mailboxes DROP COLUMN used_bytes",
        "UPDATE schema_version SET version = 5",
    ]
    if engine == "sqlite":
        conn = sqlite3.connect(url[len("sqlite:") :], isolation_level=None)
        for statement in statements:
            conn.execute(statement)
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url[len("postgresql:") :], autocommit=True) as pg:
            for statement in statements:
                pg.execute(statement)
    store = opener()
    try:

        def look(tx: Tx) -> tuple[int, Any, tuple[int, int]]:
            account = _account(tx)
            version = int(tx.one("SELECT version FROM schema_version")[0])
            return version, usage_of(tx, account), _recounted(tx, account)

        version, usage, summed = store.db.run_sync(look, write=False)[0]
        assert version == SCHEMA_VERSION
        assert summed[1] == 7
        assert (usage.storage, usage.messages) == summed
    finally:
        store.db.stop_now()


def test_check_finds_and_repair_recounts_a_wrong_total() -> None:
    url, opener = _engine("sqlite")
    store = opener()
    try:

        def fill(tx: Tx) -> None:
            account = int(
                tx.one("INSERT INTO accounts (username) VALUES ('alice') RETURNING id")[0]
            )
            inbox = create_row(tx, account, "INBOX")
            append_rows(
                tx, inbox, [Prepared(MESSAGE % (i, i), frozenset(), None) for i in range(3)]
            )
            tx.execute("UPDATE mailboxes SET used_bytes = used_bytes + 5 WHERE id = ?", (inbox,))

        store.db.run_sync(fill, write=True)
        problems = store.db.run_sync(lambda tx: check(tx).problems, write=False)[0]
        assert any("QUOTA usage differs" in p for p in problems)
        assert store.db.run_sync(repair, write=True)[0] == 1

        def look(tx: Tx) -> tuple[Any, tuple[int, int], list[str]]:
            account = _account(tx)
            return usage_of(tx, account), _recounted(tx, account), check(tx).problems

        usage, summed, problems = store.db.run_sync(look, write=False)[0]
        assert (usage.storage, usage.messages) == summed and summed[1] == 3
        assert problems == []
    finally:
        store.db.stop_now()
