"""Consistency of a database store (``mailframe db check``).

One read transaction (one snapshot) counts the rows and looks for what
must never be: a message row whose body is missing, a body whose bytes do
not add up to its size, a message no mailbox holds (an orphan: harmless,
garbage), a body no message uses, a text-index document without its
message or a message without one, a mailbox whose UIDNEXT or
HIGHESTMODSEQ is not above what it holds (RFC 3501 §2.3.1.1: UIDs must
stay unique; RFC 7162 §3.1.1: modseqs only grow), an expunge tombstone
above HIGHESTMODSEQ, a UIDVALIDITY counter below a mailbox's, a
mailbox whose running QUOTA usage (schema 6) differs from its rows.  With
``--bodies`` every body is also hashed against its SHA-256.

:func:`repair` removes orphans, (re)indexes messages lacking a
document and recounts wrong usage totals, in a write transaction; it never touches a message a mailbox
holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailframe.message import MessageInfo, parse
from mailframe.message._info import FORMAT_VERSION
from mailframe.message.sortkeys import sort_keys
from mailframe.store.sql.db import Tx
from mailframe.store.sql.gramindex import drop_grams
from mailframe.store.sql.rows import insert_documents, read_body
from mailframe.store.sql.schema import RECOUNT_USAGE, SCHEMA_VERSION
from mailframe.store.sql.sortindex import insert_sort_keys, key_row
from mailframe.store.sql.textindex import Documents, documents
from mailframe.store.sql.wordindex import drop_message_words, insert_words

__all__ = ["Report", "check", "repair"]

#: the row counts reported, in order.
TABLES = [
    "accounts",
    "mailboxes",
    "mailbox_messages",
    "messages",
    "bodies",
    "body_chunks",
    "expunged",
]


@dataclass
class Report:
    """What :func:`check` found: counts and problems (one line each)."""

    version: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: orphans and missing documents: what :func:`repair` can fix.
    repairable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.version,
            "counts": self.counts,
            "problems": self.problems,
            "repairable": self.repairable,
            "ok": not self.problems,
        }


def _ids(tx: Tx, statement: str) -> list[int]:
    return [int(r[0]) for r in tx.all(statement)]


def _some(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:10]))
    return shown + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")


def check(tx: Tx, bodies: bool = False) -> Report:
    """Count and check everything, in ``tx`` (a read transaction)."""
    report = Report()
    report.version = int(tx.one("SELECT version FROM schema_version")[0])
    if report.version < SCHEMA_VERSION:
        report.problems.append(
            f"schema version {report.version} < {SCHEMA_VERSION}: run `mailframe db migrate`"
        )
    for table in TABLES:
        report.counts[table] = int(tx.one(f"SELECT count(*) FROM {table}")[0])
    report.counts["live_mailboxes"] = int(
        tx.one("SELECT count(*) FROM mailboxes WHERE deleted = 0")[0]
    )
    t, k = tx.dialect.text_table, tx.dialect.text_key
    indexed = report.version >= 2
    if indexed:
        report.counts["text_documents"] = int(tx.one(f"SELECT count(*) FROM {t}")[0])
    if report.version >= 3:
        report.counts["sort_keys"] = int(tx.one("SELECT count(*) FROM message_sort")[0])

    def problem(ids: list[int], what: str, repairable: bool = False) -> None:
        if ids:
            report.problems.append(f"{len(ids)} {what}: {_some(ids)}")
            if repairable:
                report.repairable += len(ids)

    problem(
        _ids(
            tx,
            "SELECT DISTINCT mm.message_id FROM mailbox_messages mm "
            "LEFT JOIN messages m ON m.id = mm.message_id WHERE m.id IS NULL",
        ),
        "mailbox entries whose message row is missing (message ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT m.id FROM messages m LEFT JOIN bodies b ON b.id = m.body_id WHERE b.id IS NULL",
        ),
        "messages whose body is missing (message ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT m.id FROM messages m JOIN bodies b ON b.id = m.body_id WHERE m.size <> b.size",
        ),
        "messages whose size differs from their body's (message ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT b.id FROM bodies b WHERE b.chunks = 0 AND "
            "(b.content IS NULL OR length(b.content) <> b.size)",
        ),
        "bodies whose bytes do not add up to their size (body ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT b.id FROM bodies b LEFT JOIN body_chunks c ON c.body_id = b.id "
            "WHERE b.chunks > 0 GROUP BY b.id, b.size, b.chunks "
            "HAVING count(c.seq) <> b.chunks OR coalesce(sum(length(c.data)), 0) <> b.size",
        ),
        "chunked bodies with missing or short chunks (body ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT m.id FROM messages m WHERE NOT EXISTS "
            "(SELECT 1 FROM mailbox_messages mm WHERE mm.message_id = m.id)",
        ),
        "orphaned messages no mailbox holds (message ids)",
        repairable=True,
    )
    problem(
        _ids(
            tx,
            "SELECT b.id FROM bodies b WHERE NOT EXISTS "
            "(SELECT 1 FROM messages m WHERE m.body_id = b.id)",
        ),
        "orphaned bodies no message uses (body ids)",
        repairable=True,
    )
    if indexed:
        problem(
            _ids(
                tx,
                f"SELECT t.{k} FROM {t} t WHERE NOT EXISTS "
                f"(SELECT 1 FROM messages m WHERE m.id = t.{k})",
            ),
            "text-index documents without their message (message ids)",
            repairable=True,
        )
        problem(
            _ids(
                tx,
                "SELECT m.id FROM messages m WHERE NOT EXISTS "
                f"(SELECT 1 FROM {t} t WHERE t.{k} = m.id)",
            ),
            "messages missing from the text index (message ids)",
            repairable=True,
        )
    if report.version >= 3:
        problem(
            _ids(
                tx,
                "SELECT m.id FROM messages m WHERE NOT EXISTS "
                "(SELECT 1 FROM message_sort s WHERE s.message_id = m.id)",
            ),
            "messages without their SORT keys (message ids)",
            repairable=True,
        )
    problem(
        _ids(
            tx,
            "SELECT mb.id FROM mailboxes mb JOIN mailbox_messages mm ON mm.mailbox_id = mb.id "
            "GROUP BY mb.id, mb.uidnext HAVING max(mm.uid) >= mb.uidnext",
        ),
        "mailboxes whose UIDNEXT is not above their largest UID (mailbox ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT mb.id FROM mailboxes mb JOIN mailbox_messages mm ON mm.mailbox_id = mb.id "
            "GROUP BY mb.id, mb.highestmodseq HAVING max(mm.modseq) > mb.highestmodseq",
        ),
        "mailboxes whose HIGHESTMODSEQ is below a message's modseq (mailbox ids)",
    )
    problem(
        _ids(
            tx,
            "SELECT mb.id FROM mailboxes mb JOIN expunged e ON e.mailbox_id = mb.id "
            "GROUP BY mb.id, mb.highestmodseq HAVING max(e.modseq) > mb.highestmodseq",
        ),
        "mailboxes whose HIGHESTMODSEQ is below an expunge's modseq (mailbox ids)",
    )
    if report.version >= 8 and tx.dialect.name == "postgresql":
        report.counts["word_arrays"] = int(tx.one("SELECT count(*) FROM mailbox_words")[0])
        report.counts["vocabulary"] = int(tx.one("SELECT count(*) FROM text_words")[0])
        problem(
            _ids(tx, _WORDLESS),
            "messages with a mailbox row missing from the word index (message ids)",
            repairable=True,
        )
        problem(
            _ids(tx, f"SELECT DISTINCT w.mailbox_id FROM mailbox_words w WHERE {_STRAY}"),
            "word arrays of no mailbox row (mailbox ids)",
            repairable=True,
        )
    if report.version >= 6:
        problem(
            _usage_wrong(tx),
            "mailboxes whose QUOTA usage differs from their messages (mailbox ids)",
            repairable=True,
        )
    row = tx.one(
        "SELECT (SELECT value FROM counters WHERE name = 'uidvalidity'), "
        "(SELECT max(uidvalidity) FROM mailboxes)"
    )
    if row[0] is not None and row[1] is not None and int(row[0]) < int(row[1]):
        report.problems.append(
            f"the UIDVALIDITY counter ({row[0]}) is below a mailbox's ({row[1]}): "
            "a re-created mailbox could reuse one"
        )
    if bodies:
        bad = []
        for body_id, digest, size in tx.all("SELECT id, hash, size FROM bodies ORDER BY id"):
            data = read_body(tx, int(body_id), 0, None)
            if len(data) != int(size) or hashlib.sha256(data).hexdigest() != digest:
                bad.append(int(body_id))
        problem(bad, "bodies whose bytes do not match their SHA-256 (body ids)")
    return report


#: messages that have a mailbox row without a word array (schema 8).
_WORDLESS = (
    "SELECT DISTINCT mm.message_id FROM mailbox_messages mm WHERE NOT EXISTS "
    "(SELECT 1 FROM mailbox_words w WHERE w.mailbox_id = mm.mailbox_id AND w.uid = mm.uid)"
)
#: a word array whose mailbox row is gone.
_STRAY = (
    "NOT EXISTS (SELECT 1 FROM mailbox_messages mm "
    "WHERE mm.mailbox_id = w.mailbox_id AND mm.uid = w.uid)"
)


def _version(tx: Tx) -> int:
    return int(tx.one("SELECT version FROM schema_version")[0])


def _usage_wrong(tx: Tx) -> list[int]:
    """Mailboxes whose running usage (schema 6) is not what their rows add up to."""
    return _ids(
        tx,
        "SELECT mb.id FROM mailboxes mb LEFT JOIN ("
        "SELECT mm.mailbox_id, count(*) AS n, sum(m.size) AS octets FROM mailbox_messages mm "
        "JOIN messages m ON m.id = mm.message_id GROUP BY mm.mailbox_id) u "
        "ON u.mailbox_id = mb.id "
        "WHERE mb.used_messages <> COALESCE(u.n, 0) OR mb.used_bytes <> COALESCE(u.octets, 0) "
        "ORDER BY mb.id",
    )


def repair(tx: Tx) -> int:
    """Remove orphaned messages, bodies and documents, index messages
    lacking a document (``tx``: a write transaction).  How many rows were
    fixed.  A message a mailbox holds is never touched."""
    t, k = tx.dialect.text_table, tx.dialect.text_key
    fixed = 0
    orphans = _ids(
        tx,
        "SELECT m.id FROM messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM mailbox_messages mm WHERE mm.message_id = m.id)",
    )
    sorted_ = int(tx.one("SELECT version FROM schema_version")[0]) >= 3
    words = tx.dialect.name == "postgresql" and _version(tx) >= 8
    for message_id in orphans:
        if tx.dialect.name == "sqlite":
            drop_grams(tx, message_id)
        tx.execute(f"DELETE FROM {t} WHERE {k} = ?", (message_id,))
        if sorted_:
            tx.execute("DELETE FROM message_sort WHERE message_id = ?", (message_id,))
        tx.execute("DELETE FROM messages WHERE id = ?", (message_id,))
    fixed += len(orphans)
    for body_id in _ids(
        tx,
        "SELECT b.id FROM bodies b WHERE NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.body_id = b.id)",
    ):
        tx.execute("DELETE FROM body_chunks WHERE body_id = ?", (body_id,))
        tx.execute("DELETE FROM bodies WHERE id = ?", (body_id,))
        fixed += 1
    for doc in _ids(
        tx, f"SELECT t.{k} FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = t.{k})"
    ):
        if tx.dialect.name == "sqlite":
            drop_grams(tx, doc)
        tx.execute(f"DELETE FROM {t} WHERE {k} = ?", (doc,))
        fixed += 1
    missing = tx.all(
        "SELECT m.id, m.body_id, m.info, m.info_version FROM messages m WHERE NOT EXISTS "
        f"(SELECT 1 FROM {t} t WHERE t.{k} = m.id)"
    )
    for message_id, body_id, blob, info_version in missing:
        raw = read_body(tx, int(body_id), 0, None)
        info = MessageInfo.load(bytes(blob)) if int(info_version) == FORMAT_VERSION else parse(raw)
        if words:  # insert_documents writes them anew
            drop_message_words(tx, int(message_id))
        insert_documents(tx, int(message_id), documents(info, raw))
        fixed += 1
    if words:
        tx.execute(f"DELETE FROM mailbox_words w WHERE {_STRAY}")
        fixed += int(tx.cursor.rowcount or 0)
        for message_id, hdr, fields, body, nested in tx.all(
            "SELECT t.message_id, t.hdr, t.fields, t.body, t.nested FROM search_text t "
            f"WHERE t.message_id IN ({_WORDLESS})"
        ):
            # the rows lacking an array get one; the others keep theirs
            insert_words(tx, int(message_id), Documents(hdr, fields, body, nested, 0))
            fixed += 1
    version = int(tx.one("SELECT version FROM schema_version")[0])
    if version >= 6:
        wrong = _usage_wrong(tx)
        if wrong:
            # every mailbox row locked first (as each write locks its own
            # first), so the recount's snapshot sees no write half-counted
            tx.all(f"SELECT id FROM mailboxes ORDER BY id{tx.dialect.for_update}")
            tx.execute(RECOUNT_USAGE)
            fixed += len(wrong)
    if version < 3:
        return fixed
    for message_id, body_id, size, when, blob, info_version in tx.all(
        "SELECT m.id, m.body_id, m.size, m.internaldate, m.info, m.info_version FROM messages m "
        "WHERE NOT EXISTS (SELECT 1 FROM message_sort s WHERE s.message_id = m.id)"
    ):
        info = (
            MessageInfo.load(bytes(blob))
            if int(info_version) == FORMAT_VERSION
            else parse(read_body(tx, int(body_id), 0, None))
        )
        keys = sort_keys(info, int(size), datetime.fromisoformat(when))
        insert_sort_keys(tx, int(message_id), key_row(keys, info))
        fixed += 1
    return fixed
