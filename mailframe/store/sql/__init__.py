"""The database store: SQLite (``sqlite:PATH``) and PostgreSQL
(``postgresql://user@host/db``), one schema (:mod:`mailframe.store.sql.schema`), the engine
differences in :mod:`mailframe.store.sql.dialect`.  See docs/architecture.md, "The database
store"."""

from __future__ import annotations

from mailframe.store.sql import restore as _restore  # noqa: F401  (installs the UID-keeping importer)
from mailframe.store.sql.db import Database
from mailframe.store.sql.store import SqlAccount, SqlMailbox, SqlStore

__all__ = [
    "SqlStore",
    "SqlAccount",
    "SqlMailbox",
    "sqlite_from_url",
    "open_sqlite",
    "postgresql_from_url",
    "open_postgresql",
    "database_from_url",
]


def open_sqlite(path: str) -> SqlStore:
    """A store in the SQLite file ``path`` (created with its schema)."""
    from mailframe.store.sql.sqlite import SqliteDatabase

    return SqlStore(SqliteDatabase(path))


def _sqlite_path(url: str) -> str:
    scheme, _, path = url.partition(":")
    if scheme.strip().lower() != "sqlite" or not path.strip():
        raise ValueError(f"give the database file: sqlite:PATH (got {url!r})")
    path = path.strip()
    if path.startswith("//"):  # sqlite:///abs/path
        path = path[2:]
    return path


def sqlite_from_url(url: str) -> SqlStore:
    """Entry point ``mailframe.stores: sqlite``: ``sqlite:PATH``."""
    return open_sqlite(_sqlite_path(url))


def database_from_url(url: str) -> Database:
    """The database of a store URL (``sqlite:PATH``, ``postgresql://...``)
    without opening the store on it (nothing created or migrated): for
    ``mailframe db``.  A SQLite file must exist."""
    import os

    scheme = url.partition(":")[0].strip().lower()
    if scheme == "sqlite":
        from mailframe.store.sql.sqlite import SqliteDatabase

        path = _sqlite_path(url)
        if not os.path.exists(path):
            raise ValueError(f"no database at {path}")
        return SqliteDatabase(path)
    if scheme in ("postgresql", "postgres"):
        from mailframe.store.sql.postgres import PostgresDatabase, split_options

        conninfo, pool = split_options(url.strip())
        return PostgresDatabase(conninfo, 1)
    raise ValueError(f"not a database store URL (sqlite:PATH or postgresql://...): {url!r}")


def open_postgresql(conninfo: str, pool: int = 4, listen: bool = True) -> SqlStore:
    """A store in the PostgreSQL database ``conninfo`` (a libpq URL or
    key=value string); ``listen``: hear other frontends' changes."""
    from mailframe.store.sql.notify import Listener
    from mailframe.store.sql.postgres import CHANNEL, PostgresDatabase

    store = SqlStore(PostgresDatabase(conninfo, pool))
    if listen:
        store.listener = Listener(conninfo, CHANNEL, store.changed)
    return store


def postgresql_from_url(url: str) -> SqlStore:
    """Entry point ``mailframe.stores: postgresql`` (and ``postgres``):
    ``postgresql://user:password@host:port/db?pool=4``."""
    from mailframe.store.sql.postgres import split_options

    conninfo, pool = split_options(url.strip())
    return open_postgresql(conninfo, pool)
