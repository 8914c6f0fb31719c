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


#: store options in the URL's query, beside PostgreSQL's ``pool``:
#: tombstone pruning (:mod:`mailframe.store.sql.prune`).
PRUNE_OPTIONS = ("expunge_days", "expunge_keep")


def _prune_options(url: str) -> tuple[str, float | None, int | None]:
    """(URL without the pruning options, max age in seconds, max count)."""
    from urllib.parse import parse_qsl, urlencode

    base, sep, query = url.partition("?")
    if not sep:
        return url, None, None
    kept, age, count = [], None, None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "expunge_days":
            age = float(value) * 86400
            if age <= 0:
                raise ValueError("expunge_days must be > 0")
        elif key == "expunge_keep":
            count = int(value)
            if count < 1:
                raise ValueError("expunge_keep must be >= 1")
        else:
            kept.append((key, value))
    return base + ("?" + urlencode(kept) if kept else ""), age, count


def _sqlite_path(url: str) -> str:
    scheme, _, path = url.partition(":")
    if scheme.strip().lower() != "sqlite" or not path.strip():
        raise ValueError(f"give the database file: sqlite:PATH (got {url!r})")
    path = path.strip()
    if path.startswith("//"):  # sqlite:///abs/path
        path = path[2:]
    return path


def sqlite_from_url(url: str) -> SqlStore:
    """Entry point ``mailframe.stores: sqlite``: ``sqlite:PATH``, options
    ``?expunge_days=N&expunge_keep=N`` (tombstone pruning)."""
    url, age, count = _prune_options(url)
    store = open_sqlite(_sqlite_path(url))
    store.keep_expunged(age, count)
    return store


def database_from_url(url: str) -> Database:
    """The database of a store URL (``sqlite:PATH``, ``postgresql://...``)
    without opening the store on it (nothing created or migrated): for
    ``mailframe db``.  A SQLite file must exist."""
    import os

    url = _prune_options(url.strip())[0]
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

    db = PostgresDatabase(conninfo, pool)
    store = SqlStore(db)
    if listen:
        store.listener = Listener(conninfo, CHANNEL, store.changed, own=db.own_backend)
    return store


def postgresql_from_url(url: str) -> SqlStore:
    """Entry point ``mailframe.stores: postgresql`` (and ``postgres``):
    ``postgresql://user:password@host:port/db?pool=4``, and the pruning
    options ``expunge_days=N``, ``expunge_keep=N``."""
    from mailframe.store.sql.postgres import split_options

    url, age, count = _prune_options(url.strip())
    conninfo, pool = split_options(url)
    store = open_postgresql(conninfo, pool)
    store.keep_expunged(age, count)
    return store
