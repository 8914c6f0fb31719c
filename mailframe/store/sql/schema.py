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
  its format version so a parser change can re-parse); ``text_state``
  (version 2: bits of :mod:`mailframe.store.sql.textindex`);
- ``mailbox_messages``: narrow (mailbox, uid, message, modseq, system
  flags as bits, keywords, the time it was saved there for RFC 8514
  SAVEDATE), since every flag change rewrites a row;
- ``expunged``: the tombstones (mailbox, uid, modseq, when) for VANISHED and
  ``changes_since`` (RFC 7162 §3.2.10); pruned by age or count
  (:mod:`mailframe.store.sql.prune`), the mailbox's ``expunge_floor`` then
  the modseq up to which they may be gone;
- ``search_fts`` (SQLite, FTS5 trigram) / ``search_text`` (PostgreSQL,
  pg_trgm GIN): per message the case-folded texts SEARCH compares with
  (:mod:`mailframe.store.sql.textindex`), since version 2;
- ``schema_version``: one row; a newer version than this code knows is
  refused in one line.

- ``message_sort`` (version 3): per message the SORT keys
  (:mod:`mailframe.store.sql.sortindex`).

Versions: 1 (the tables above but the text index); 2 adds the text index,
filled for the messages already there by
:mod:`mailframe.store.sql.migrate` (which also refills it when
:data:`mailframe.store.sql.textindex.TEXT_VERSION` changes); 3 adds
``message_sort``, filled (and refilled when
:data:`mailframe.store.sql.sortindex.SORT_VERSION` changes) the same way;
4 rebuilds the text index with four columns (``hdr``, ``fields``,
``body``, ``nested``) and, in SQLite, a case-sensitive trigram tokenizer
over the framework's own case folding, so that a phrase query is exactly
the matcher's substring test (:mod:`mailframe.store.sql.search`);
5 replaces the index of ``mailbox_messages`` on ``message_id`` with one
on ``(message_id, mailbox_id, uid)``, so SEARCH maps the messages the
text index finds to UIDs from the index alone (:data:`MIGRATE_TO_5`);
6 adds the running QUOTA usage of each mailbox (``used_messages``,
``used_bytes``: RFC 9208 §5.1 STORAGE, §5.2 MESSAGE), kept by every
write in the transaction that changes the rows (on the mailbox row the
write has locked first anyway, so no new lock and no hot row per user),
and filled from the rows already there (:data:`MIGRATE_TO_6`);
7 adds PostgreSQL's word index (``text_words``, ``message_words``:
:mod:`mailframe.store.sql.wordindex`), filled for the messages already
there from their documents by :mod:`mailframe.store.sql.migrate`;
8 keeps those word arrays per mailbox row (``mailbox_words``, keyed by
mailbox and UID) instead of per message, so a SEARCH reads UIDs off the
rows the GIN index finds (:data:`mailframe.store.sql.wordindex.MIGRATE_TO_8`
copies the arrays of version 7 over), and in SQLite adds
``search_grams``, the index of 1- and 2-character substrings
(:mod:`mailframe.store.sql.gramindex`), filled by
:mod:`mailframe.store.sql.migrate`.
"""

from __future__ import annotations

from typing import Any

from mailframe.errors import StoreUnavailable
from mailframe.store.sql.dialect import Dialect
from mailframe.store.sql.gramindex import GRAM_STATEMENTS
from mailframe.store.sql.sortindex import SORT_STATEMENTS
from mailframe.store.sql.wordindex import MIGRATE_TO_8, WORD_STATEMENTS, WORD_TRIGRAM

__all__ = ["SCHEMA_VERSION", "CHUNK", "STATEMENTS", "TEXT_STATEMENTS", "ensure_schema"]

SCHEMA_VERSION = 8
#: the PostgreSQL advisory lock key held while the schema is checked or migrated.
MIGRATION_LOCK = 0x6D61696C66  # "mailf"
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
        deleted INTEGER NOT NULL DEFAULT 0,
        expunge_floor BIGINT NOT NULL DEFAULT 0,
        used_messages BIGINT NOT NULL DEFAULT 0,
        used_bytes BIGINT NOT NULL DEFAULT 0)""",
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
        info_version INTEGER NOT NULL,
        text_state INTEGER NOT NULL DEFAULT 0)""",
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
    # a message's rows (COPY shares it; expunge asks whether any is left),
    # and, covering, the UIDs in one mailbox of the messages the text
    # index finds without reading the table (version 5)
    "CREATE INDEX IF NOT EXISTS mailbox_messages_found "
    "ON mailbox_messages (message_id, mailbox_id, uid)",
    """CREATE TABLE IF NOT EXISTS expunged (
        mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id),
        uid BIGINT NOT NULL,
        modseq BIGINT NOT NULL,
        at BIGINT NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (mailbox_id, modseq)",
]

#: Version 1 to 2: the text index (tables created above), the text state of
#: messages, the expunge floor of mailboxes and the time of each tombstone
#: (pruning: :mod:`mailframe.store.sql.prune`).
MIGRATE_1_TO_2 = [
    "ALTER TABLE messages ADD COLUMN text_state INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE mailboxes ADD COLUMN expunge_floor BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE expunged ADD COLUMN at BIGINT NOT NULL DEFAULT 0",
]

#: The text index (version 4; :mod:`mailframe.store.sql.textindex`), per
#: engine.  SQLite's trigram tokenizer is case-sensitive: the documents and
#: the needles are case-folded by the framework, so no other folding may
#: come between them and a phrase query is a plain substring test.
TEXT_STATEMENTS = {
    "sqlite": [
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
        "hdr, fields, body, nested, tokenize = 'trigram case_sensitive 1')",
        *GRAM_STATEMENTS,
    ],
    "postgresql": [
        """CREATE TABLE IF NOT EXISTS search_text (
            message_id BIGINT PRIMARY KEY REFERENCES messages(id),
            hdr TEXT NOT NULL,
            fields TEXT NOT NULL,
            body TEXT NOT NULL,
            nested TEXT NOT NULL)""",
        *WORD_STATEMENTS,
    ],
}
#: Version 2 or 3 to 4: the text index of version 2 (three columns, a
#: case-blind tokenizer) is dropped, to be created anew above and filled
#: by :mod:`mailframe.store.sql.migrate` (its text version differs).
MIGRATE_TO_4 = [
    "DROP TABLE IF EXISTS {text_table}",
    "DROP INDEX IF EXISTS messages_text_state",
]
#: Version 4 or older to 5: the index on ``message_id`` alone is a prefix
#: of ``mailbox_messages_found`` (created above), so it goes.
MIGRATE_TO_5 = [
    "DROP INDEX IF EXISTS mailbox_messages_message",
]
#: Version 5 or older to 6: the running usage of each mailbox, summed
#: once from its rows (a message COPYed twice counts twice, as the
#: generic sum of STATUS counters counts it).
MIGRATE_TO_6 = [
    "ALTER TABLE mailboxes ADD COLUMN used_messages BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE mailboxes ADD COLUMN used_bytes BIGINT NOT NULL DEFAULT 0",
]
#: the usage columns recomputed from the rows (migration, ``db check --repair``).
RECOUNT_USAGE = (
    "UPDATE mailboxes SET "
    "used_messages = (SELECT count(*) FROM mailbox_messages mm WHERE mm.mailbox_id = mailboxes.id), "
    "used_bytes = (SELECT COALESCE(sum(m.size), 0) FROM mailbox_messages mm "
    "JOIN messages m ON m.id = mm.message_id WHERE mm.mailbox_id = mailboxes.id)"
)
#: after the version 2 columns exist (created or migrated): the messages
#: every BODY / TEXT key takes as candidates (text_state holds only the
#: UNUSUAL bits of mailframe.store.sql.textindex).
AFTER_MIGRATION = [
    "CREATE INDEX IF NOT EXISTS messages_text_unusual ON messages (text_state) "
    "WHERE text_state <> 0",
]
#: pg_trgm's GIN indexes (``LIKE '%word%'``); without the extension the
#: same queries scan.
TRIGRAM_STATEMENTS = [
    f"CREATE INDEX IF NOT EXISTS search_text_{column} ON search_text "
    f"USING gin ({column} gin_trgm_ops)"
    for column in ("hdr", "fields", "body", "nested")
] + [WORD_TRIGRAM]


def _trigram_indexes(cursor: Any) -> None:
    """pg_trgm and its indexes, if the extension can be had (it is a
    trusted extension since PostgreSQL 13: a database owner may create
    it); otherwise the text search works by scanning, and says so."""
    cursor.execute("SAVEPOINT trgm")
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for statement in TRIGRAM_STATEMENTS:
            cursor.execute(statement)
    except Exception as exc:
        cursor.execute("ROLLBACK TO SAVEPOINT trgm")
        from twisted.logger import Logger

        Logger().warn(
            "pg_trgm unavailable ({exc}): SEARCH BODY/TEXT will scan instead of using an index",
            exc=exc,
        )
    else:
        cursor.execute("RELEASE SAVEPOINT trgm")


def ensure_schema(cursor: Any, dialect: Dialect) -> int:
    """Create the tables (inside the caller's transaction) or check the
    stored version: older is migrated, newer refused in one line (before
    anything is touched).  Returns the version found (0: a new database).

    PostgreSQL: frontends starting together take turns (a transaction
    advisory lock), so one migrates and the others then find it done."""
    if dialect.name == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    cursor.execute(dialect.sql(STATEMENTS[0]))
    cursor.execute("SELECT version FROM schema_version")
    rows = cursor.fetchall()
    version = int(rows[0][0]) if rows else 0
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"the database has schema version {version}, newer than this mailframe "
            f"understands ({SCHEMA_VERSION}): upgrade mailframe"
        )
    if rows and 2 <= version < 4:
        for statement in MIGRATE_TO_4:
            cursor.execute(statement.format(text_table=dialect.text_table))
    if rows and version < 5:
        for statement in MIGRATE_TO_5:
            cursor.execute(statement)
    if rows and version == 7 and dialect.name == "postgresql":
        # the arrays copied before the GIN index is created below
        for statement in MIGRATE_TO_8:
            cursor.execute(statement)
    for statement in STATEMENTS[1:] + TEXT_STATEMENTS[dialect.name] + SORT_STATEMENTS:
        cursor.execute(dialect.sql(statement))
    if dialect.name == "postgresql":
        _trigram_indexes(cursor)
        if rows and version == 7:
            cursor.execute("ANALYZE mailbox_words")  # the planner's figures now
    if not rows:
        cursor.execute(
            dialect.sql("INSERT INTO schema_version (version) VALUES (?)"), (SCHEMA_VERSION,)
        )
    elif version < SCHEMA_VERSION:
        # 1 -> 2: the text index tables were created above; their rows are
        # filled by mailframe.store.sql.migrate (no text version recorded).
        # 2 -> 3: message_sort, created above, filled the same way.
        # 2, 3 -> 4: the text index, dropped and created above, refilled.
        # 4 -> 5: mailbox_messages_found created above, its prefix dropped.
        # 5 -> 6: the usage columns, added and filled from the rows.
        # 6 -> 7: the word index (PostgreSQL), created above, filled by
        # mailframe.store.sql.migrate (no word version recorded).
        # 7 -> 8: the word arrays per mailbox row, copied above
        # (PostgreSQL; a database older than 7 has them built by
        # mailframe.store.sql.migrate).
        if version < 2:
            for statement in MIGRATE_1_TO_2:
                cursor.execute(statement)
        if version < 6:
            for statement in MIGRATE_TO_6:
                cursor.execute(statement)
            cursor.execute(RECOUNT_USAGE)
        cursor.execute(dialect.sql("UPDATE schema_version SET version = ?"), (SCHEMA_VERSION,))
    for statement in AFTER_MIGRATION:
        cursor.execute(dialect.sql(statement))
    return version
