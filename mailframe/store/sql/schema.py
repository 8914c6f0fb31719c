"""The schema, one for both engines (:mod:`mailframe.store.sql.dialect` spells the types).

- ``accounts``; ``mailboxes`` with UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ,
  the ``\\Recent`` floor, special-use, ``\\Noselect`` placeholders; a
  deleted mailbox keeps its row (``deleted = 1``) so a handed-out object
  still answers ``changes_since`` and a re-created name gets a new,
  store-wide larger UIDVALIDITY (RFC 3501 §2.3.1.1);
- ``bodies``: message bytes stored once by SHA-256, shared by COPY; a body
  larger than :data:`CHUNK` lives in ``body_chunks`` so a range is read
  without the rest;
- ``messages``: per message, computed once at APPEND: size, internal date,
  the parsed :class:`mailframe.message.MessageInfo` (its ``dump()``, with
  its format version so a parser change can re-parse);
- ``mailbox_messages``: narrow (mailbox, uid, message, modseq, system
  flags as bits, keywords, the time it was saved there for RFC 8514
  SAVEDATE), since every flag change rewrites a row;
- ``expunged``: the tombstones (mailbox, uid, modseq) for VANISHED and
  ``changes_since`` (RFC 7162 §3.2.10);
- ``schema_version``: one row; a newer version than this code knows is
  refused in one line.
"""

from __future__ import annotations

from typing import Any

from mailframe.errors import StoreUnavailable
from mailframe.store.sql.dialect import Dialect

__all__ = ["SCHEMA_VERSION", "CHUNK", "STATEMENTS", "ensure_schema"]

SCHEMA_VERSION = 1
#: bodies larger than this are stored in chunks of this size.
CHUNK = 256 * 1024

STATEMENTS = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name VARCHAR(64) PRIMARY KEY, value BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS accounts (
        id {id},
        username TEXT NOT NULL UNIQUE)""",
    """CREATE TABLE IF NOT EXISTS mailboxes (
        id {id},
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        uidvalidity BIGINT NOT NULL,
        uidnext BIGINT NOT NULL DEFAULT 1,
        highestmodseq BIGINT NOT NULL DEFAULT 1,
        recent_floor BIGINT NOT NULL DEFAULT 1,
        special_use TEXT NOT NULL DEFAULT '',
        noselect INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS mailboxes_live_name
        ON mailboxes (account_id, name) WHERE deleted = 0""",
    """CREATE TABLE IF NOT EXISTS subscriptions (
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        PRIMARY KEY (account_id, name))""",
    """CREATE TABLE IF NOT EXISTS bodies (
        id {id},
        hash VARCHAR(64) NOT NULL UNIQUE,
        size BIGINT NOT NULL,
        content {blob},
        chunks INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS body_chunks (
        body_id BIGINT NOT NULL REFERENCES bodies(id),
        seq INTEGER NOT NULL,
        data {blob} NOT NULL,
        PRIMARY KEY (body_id, seq))""",
    """CREATE TABLE IF NOT EXISTS messages (
        id {id},
        body_id BIGINT NOT NULL REFERENCES bodies(id),
        size BIGINT NOT NULL,
        internaldate TEXT NOT NULL,
        internaldate_ts BIGINT NOT NULL,
        info {blob} NOT NULL,
        info_version INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS messages_body ON messages (body_id)",
    """CREATE TABLE IF NOT EXISTS mailbox_messages (
        mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id),
        uid BIGINT NOT NULL,
        message_id BIGINT NOT NULL REFERENCES messages(id),
        modseq BIGINT NOT NULL,
        flags INTEGER NOT NULL DEFAULT 0,
        keywords TEXT NOT NULL DEFAULT '',
        saved BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (mailbox_id, uid)){narrow}""",
    "CREATE INDEX IF NOT EXISTS mailbox_messages_modseq ON mailbox_messages (mailbox_id, modseq)",
    "CREATE INDEX IF NOT EXISTS mailbox_messages_message ON mailbox_messages (message_id)",
    """CREATE TABLE IF NOT EXISTS expunged (
        mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id),
        uid BIGINT NOT NULL,
        modseq BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (mailbox_id, modseq)",
]


def ensure_schema(cursor: Any, dialect: Dialect) -> None:
    """Create the tables (inside the caller's transaction) or check the
    stored version: older is migrated, newer refused in one line."""
    for statement in STATEMENTS:
        cursor.execute(dialect.sql(statement))
    cursor.execute("SELECT version FROM schema_version")
    rows = cursor.fetchall()
    if not rows:
        cursor.execute(
            dialect.sql("INSERT INTO schema_version (version) VALUES (?)"), (SCHEMA_VERSION,)
        )
        return
    version = int(rows[0][0])
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"the database has schema version {version}, newer than this mailframe "
            f"understands ({SCHEMA_VERSION}): upgrade mailframe"
        )
    # version < SCHEMA_VERSION: migrations go here as the schema grows.
