"""Running transactions off the reactor.

:class:`Database` runs a function inside one transaction in a worker
thread and gives a Deferred of its result; the reactor never waits on the
database.  SQLite: one thread holding the one connection (one writer,
``BEGIN IMMEDIATE``).  PostgreSQL: psycopg 3's synchronous API in a small
thread pool, one connection per thread (see :mod:`mailframe.store.sql.postgres` for why).

Write transactions record which mailboxes they changed (:meth:`Tx.touched`);
after the commit the store's ``on_change`` hears of them in the reactor
thread, so watchers are told only of durable changes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool

from mailframe.errors import CommandFailed
from mailframe.store.sql.dialect import Dialect

__all__ = ["Database", "Tx", "Rollback", "DatabaseUnavailable"]

T = TypeVar("T")

#: attempts for a transaction that lost a lock race (busy, deadlock,
#: serialization failure) before the error reaches the client.
RETRIES = 8


class DatabaseUnavailable(CommandFailed):
    """The database cannot be reached: ``NO [UNAVAILABLE]`` (RFC 5530
    §3: "temporary failure ... try again later"), never a hang.  The
    next transaction connects afresh, so the server recovers by itself
    when the database is back."""

    code = "UNAVAILABLE"


class Rollback(Exception, Generic[T]):
    """Raised by a transaction function to roll back yet return ``value``."""

    def __init__(self, value: T) -> None:
        super().__init__()
        self.value = value


class Tx:
    """One transaction: statements in the store's placeholder style."""

    def __init__(
        self, cursor: Any, dialect: Dialect, notify: Callable[[Any, int, int], None]
    ) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self.changed: dict[int, int] = {}
        self._notify = notify

    def execute(
        self, statement: str, params: tuple[Any, ...] | list[Any] = (), binary: bool = False
    ) -> Tx:
        """``binary``: results in the engine's binary format where it has
        one (PostgreSQL: a ``bytea`` travels as its bytes, not as hex text
        twice its size that both ends must encode and decode -- message
        bodies)."""
        if binary and self.dialect.binary_results:
            self.cursor.execute(self.dialect.sql(statement), tuple(params), binary=True)
        else:
            self.cursor.execute(self.dialect.sql(statement), tuple(params))
        return self

    def execute_many(self, statement: str, rows: list[tuple[Any, ...]]) -> Tx:
        """``statement`` once per parameter row, in one driver call
        (psycopg pipelines them: one round trip, not one per row)."""
        if rows:
            self.cursor.executemany(self.dialect.sql(statement), rows)
        return self

    def one(
        self, statement: str, params: tuple[Any, ...] | list[Any] = (), binary: bool = False
    ) -> Any:
        self.execute(statement, params, binary)
        return self.cursor.fetchone()

    def all(
        self, statement: str, params: tuple[Any, ...] | list[Any] = (), binary: bool = False
    ) -> list[Any]:
        self.execute(statement, params, binary)
        return list(self.cursor.fetchall())

    def touched(self, mailbox_id: int, modseq: int) -> None:
        """Mailbox ``mailbox_id`` changed at ``modseq`` (told after commit;
        PostgreSQL also NOTIFYs the other frontends, delivered at commit)."""
        self.changed[mailbox_id] = max(modseq, self.changed.get(mailbox_id, 0))
        self._notify(self.cursor, mailbox_id, modseq)


class Database:
    """Transactions in worker threads.  Subclasses say how to connect and
    which errors are worth a retry."""

    dialect: Dialect

    def __init__(self, threads_: int, readers: int = 0) -> None:
        """``threads_`` workers; with ``readers``, read transactions run
        in a pool of their own (SQLite: its one writer thread is never
        queued behind by a read, nor a read behind a long write)."""
        self.pool = ThreadPool(1, threads_, name=f"mailframe-{self.dialect.name}")
        self.pool.start()
        self.read_pool = self.pool
        if readers:
            self.read_pool = ThreadPool(1, readers, name=f"mailframe-{self.dialect.name}-read")
            self.read_pool.start()
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self.on_change: Callable[[dict[int, int]], None] = lambda changed: None

    # ----------------------------------------------------------- subclasses

    def connect(self) -> Any:
        raise NotImplementedError

    def retryable(self, exc: BaseException) -> bool:
        return False

    def unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the database cannot be reached (its
        connection lost, refused or timed out)."""
        return False

    def notify(self, cursor: Any, mailbox_id: int, modseq: int) -> None:
        """Tell other processes (PostgreSQL NOTIFY); nothing for SQLite."""

    def durability(self, conn: Any, durable: bool) -> None:
        """Before a write transaction on ``conn``: whether its COMMIT must
        reach the disk before it returns (SQLite: ``synchronous``)."""

    # -------------------------------------------------------------- running

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._lock:
                self._connections.append(conn)
        return conn

    def _forget_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            try:
                conn.close()
            except Exception:
                pass

    def _down(self, exc: BaseException) -> DatabaseUnavailable:
        self._forget_connection()
        return DatabaseUnavailable(f"the database is unavailable ({_first_line(exc)}); try again")

    def run_sync(
        self, fn: Callable[[Tx], T], write: bool, single: bool = False, durable: bool = True
    ) -> tuple[T, dict[int, int]]:
        """Run ``fn`` in a transaction in this thread, retrying lock races.

        ``single`` (reads only): ``fn`` runs one statement, which is its
        own consistent snapshot in both engines (autocommit), so no
        ``BEGIN`` / ``COMMIT`` is sent: two round trips fewer on PostgreSQL.

        A lost connection (the database restarted: this thread's connection
        is stale) is retried once on a new one if the transaction had not
        reached COMMIT -- so it cannot have happened; if COMMIT was under
        way its outcome is unknown and the client hears UNAVAILABLE rather
        than risk doing it twice.  A database that cannot be reached gives
        :class:`DatabaseUnavailable`.

        ``durable`` (writes): the COMMIT is on disk when this returns;
        False lets an engine that can (SQLite) return before, keeping the
        database consistent -- for changes a power cut may undo without
        losing mail (flags, ``\\Recent``), as Dovecot's default
        ``mail_fsync = optimized`` does not sync its index for them."""
        reconnected = False
        for attempt in range(RETRIES):
            try:
                conn = self._connection()
            except Exception as exc:
                if self.unavailable(exc):
                    raise self._down(exc) from exc
                raise
            if write:
                self.durability(conn, durable)
            cursor = conn.cursor()
            committing = False
            bare = single and not write
            try:
                if not bare:
                    cursor.execute(self.dialect.begin_write if write else self.dialect.begin_read)
                tx = Tx(cursor, self.dialect, self.notify if write else lambda *a: None)
                try:
                    result = fn(tx)
                except Rollback as rollback:
                    if not bare:
                        cursor.execute("ROLLBACK")
                    return rollback.value, {}
                committing = True
                if not bare:
                    cursor.execute("COMMIT")
                return result, tx.changed
            except BaseException as exc:
                try:
                    if not bare:
                        cursor.execute("ROLLBACK")
                except Exception:
                    self._forget_connection()
                if attempt + 1 < RETRIES and self.retryable(exc):
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                if self.unavailable(exc):
                    if not committing and not reconnected:
                        reconnected = True
                        self._forget_connection()
                        continue
                    raise self._down(exc) from exc
                raise
            finally:
                try:
                    cursor.close()
                except Exception:
                    pass
        raise AssertionError("unreachable")  # pragma: no cover

    def run(
        self,
        fn: Callable[[Tx], T],
        write: bool = False,
        single: bool = False,
        durable: bool = True,
    ) -> defer.Deferred[T]:
        """``fn(tx)`` in one transaction in a worker thread; watchers of the
        mailboxes it changed hear after the commit (``single``,
        ``durable``: see :meth:`run_sync`)."""
        from twisted.internet import reactor

        def done(outcome: tuple[T, dict[int, int]]) -> T:
            result, changed = outcome
            if changed:
                self.on_change(changed)
            return result

        d: defer.Deferred[tuple[T, dict[int, int]]] = threads.deferToThreadPool(
            reactor,  # type: ignore[arg-type]
            self.pool if write else self.read_pool,
            self.run_sync,
            fn,
            write,
            single,
            durable,
        )
        return d.addCallback(done)

    def stop_now(self) -> None:
        """Stop the threads (they finish queued work) and close connections,
        blocking: for start-up failures and :meth:`close`."""
        self.pool.stop()
        if self.read_pool is not self.pool:
            self.read_pool.stop()
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> defer.Deferred[None]:
        """:meth:`stop_now` in a thread."""
        return threads.deferToThread(self.stop_now)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
