"""PostgreSQL through psycopg 3 (``postgresql://user@host/db``).

Why psycopg's synchronous API in a thread pool rather than its asyncio
API: ``twistd`` installs the default (epoll) reactor before any plugin
code runs, and psycopg's async connections need an asyncio loop, i.e.
Twisted's asyncio reactor installed before anything imports
``twisted.internet.reactor`` — a requirement every embedding application
would inherit.  A transaction here is a few short statements, so a worker
thread per connection costs little, and the store's code is the same for
SQLite and PostgreSQL (:mod:`mailframe.store.sql.db`).  Each worker thread keeps one
connection (in autocommit mode, transactions opened explicitly) and
reconnects after a failure; ``pool`` in the URL's query sets how many.

Write transactions ``NOTIFY mailframe_changes`` with ``mailbox:modseq``
(delivered at commit); :mod:`mailframe.store.sql.notify` listens on a connection of its own.
LISTEN/NOTIFY does not pass through PgBouncer in transaction pooling mode:
point frontends at PostgreSQL itself or at a session-pooling bouncer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mailframe.store.sql.db import Database
from mailframe.store.sql.dialect import POSTGRESQL

__all__ = ["PostgresDatabase", "CHANNEL", "split_options"]

CHANNEL = "mailframe_changes"


def split_options(url: str) -> tuple[str, int]:
    """(libpq URL without our ``pool=N`` option, pool size)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    pool = 4
    kept = []
    for key, value in query:
        if key == "pool":
            pool = int(value)
            if not 1 <= pool <= 256:
                raise ValueError("pool must be 1..256")
        else:
            kept.append((key, value))
    out = urlunsplit(parts._replace(query=urlencode(kept)))
    if not parts.netloc and url.startswith(f"{parts.scheme}://"):
        # urlunsplit drops the empty authority of postgresql:///db?host=/run/x
        out = f"{parts.scheme}://" + out[len(parts.scheme) + 1 :]
    return out, pool


class PostgresDatabase(Database):
    dialect = POSTGRESQL

    def __init__(self, conninfo: str, pool: int = 4, connect_timeout: int = 10) -> None:
        import psycopg  # noqa: F401  (fail here, with a clear message, if missing)

        self.conninfo = conninfo
        self.connect_timeout = connect_timeout
        super().__init__(pool)

    def connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=self.connect_timeout
        )
        # JIT compiles a query the planner thinks costly (statistics not
        # yet gathered on a freshly filled mailbox say so) for tens of
        # milliseconds: never worth it for the short queries of a mail store
        conn.execute("SET jit = off")
        return conn

    def retryable(self, exc: BaseException) -> bool:
        from psycopg import errors

        # A lost lock race, or two frontends inserting the same account,
        # INBOX or body at once: the transaction rolled back whole, so
        # running it again cannot duplicate anything.
        return isinstance(
            exc, (errors.SerializationFailure, errors.DeadlockDetected, errors.UniqueViolation)
        )

    def unavailable(self, exc: BaseException) -> bool:
        import psycopg

        # OperationalError: refused, lost, timed out, shut down (57P01...);
        # InterfaceError: the connection is already closed.
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))

    def notify(self, cursor: Any, mailbox_id: int, modseq: int) -> None:
        cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{mailbox_id}:{modseq}"))

    def own_backend(self, pid: int) -> bool:
        """Whether ``pid`` (a notification's sender) is one of this
        store's own connections: its changes were told in this process at
        commit already (:meth:`Database.run`), and told again by the
        listener they could wake another session of this process before
        the writer had seen its own result (then ``\\Recent``, RFC 3501
        §2.3.2, went to the idler rather than the appending session,
        depending on thread timing)."""
        with self._lock:
            return any(_backend_pid(conn) == pid for conn in self._connections)


def _backend_pid(conn: Any) -> int | None:
    try:
        return int(conn.info.backend_pid)
    except Exception:  # closed meanwhile
        return None
