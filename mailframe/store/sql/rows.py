"""Row-level operations of the database store, each inside the caller's
transaction (:class:`mailframe.store.sql.db.Tx`): UID and modseq
allocation (:func:`bump`, the first statement of every write, so commit
order is modseq order: RFC 7162 §3.1.4), bodies stored once by hash,
appends, COPY/MOVE, expunges with tombstones, garbage collection.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from mailframe.errors import ExpungeIssued, TryCreate
from mailframe.message import parse, to_crlf
from mailframe.message._info import FORMAT_VERSION
from mailframe.message.sortkeys import sort_keys
from mailframe.records import AppendResult, CopyResult
from mailframe.store._log import new_uidvalidity
from mailframe.store.sql.db import Rollback, Tx
from mailframe.store.sql.gramindex import drop_grams, insert_grams
from mailframe.store.sql.schema import CHUNK
from mailframe.store.sql.search import FLAG_BITS
from mailframe.store.sql.sortindex import drop_sort_keys, insert_sort_keys, key_row
from mailframe.store.sql.textindex import Documents, documents
from mailframe.store.sql.wordindex import (
    copy_words,
    drop_words,
    insert_words,
    insert_words_many,
)
from mailframe.vocabulary import RECENT

__all__ = [
    "encode_flags",
    "decode_flags",
    "Prepared",
    "bump",
    "create_row",
    "next_uidvalidity",
    "append_rows",
    "move_rows",
    "expunge_rows",
    "add_usage",
    "sum_sizes",
    "collect_garbage",
    "insert_body",
    "insert_documents",
    "drop_documents",
    "read_body",
]

SEEN_BIT, DELETED_BIT = 1, 8


def encode_flags(flags: frozenset[str]) -> tuple[int, str]:
    bits = 0
    keywords = []
    for flag in flags:
        bit = FLAG_BITS.get(flag)
        if bit:
            bits |= bit
        elif flag != RECENT:
            keywords.append(flag)
    return bits, " ".join(sorted(keywords))


@functools.lru_cache(maxsize=4096)
def decode_flags(bits: int, keywords: str) -> frozenset[str]:
    """The flags of a row (system flags as bits, keywords space-separated);
    cached: a mailbox has few distinct flag sets, so SELECT of many
    messages builds each set once and the views share it."""
    flags = {flag for flag, bit in FLAG_BITS.items() if bits & bit}
    if keywords:
        flags.update(keywords.split(" "))
    return frozenset(flags)


def _zoned(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC).replace(microsecond=0)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def uid_bounds(uids: Sequence[int]) -> tuple[int, int, set[int] | None]:
    """(lo, hi, exact set or None for a whole range) without expanding a
    ``range(1, 2**32)``."""
    if isinstance(uids, range) and uids.step == 1:
        return (uids.start, uids.stop - 1, None) if uids else (1, 0, None)
    if not uids:
        return 1, 0, set()
    wanted = set(uids)
    return min(wanted), max(wanted), wanted


class Prepared:
    """A message ready to insert: computed off the reactor, before the
    transaction (CRLF line ends as Dovecot saves them, RFC 3501 §2.3.3)."""

    def __init__(self, raw: bytes, flags: frozenset[str], when: datetime | None) -> None:
        self.content = to_crlf(bytes(raw))
        self.flags = frozenset(flags) - {RECENT}
        self.when = _zoned(when)
        parsed = parse(self.content)
        self.info = parsed.dump()
        self.hash = hashlib.sha256(self.content).hexdigest()
        #: the SEARCH text documents (mailframe.store.sql.textindex).
        self.documents = documents(parsed, self.content)
        #: the SORT keys (mailframe.store.sql.sortindex), as the framework computes them.
        self.sort_row = key_row(sort_keys(parsed, len(self.content), self.when), parsed)


def insert_documents(tx: Tx, message_id: int, docs: Documents, words: bool = True) -> None:
    """A message's SEARCH text documents into the text index (and, in
    PostgreSQL with ``words``, its words into the word index of each
    mailbox row holding it, :mod:`mailframe.store.sql.wordindex`)."""
    d = tx.dialect
    tx.execute(
        f"INSERT INTO {d.text_table} ({d.text_key}, hdr, fields, body, nested) "
        "VALUES (?, ?, ?, ?, ?)",
        (message_id, docs.hdr, docs.fields, docs.body, docs.nested),
    )
    if docs.state:
        tx.execute("UPDATE messages SET text_state = ? WHERE id = ?", (docs.state, message_id))
    if words and d.name == "postgresql":
        insert_words(tx, message_id, docs)
    if d.name == "sqlite":
        insert_grams(tx, message_id, docs)


def drop_documents(tx: Tx, message_id: int) -> None:
    """A message's documents (its word arrays went with its mailbox rows)."""
    d = tx.dialect
    if d.name == "sqlite":
        drop_grams(tx, message_id)
    tx.execute(f"DELETE FROM {d.text_table} WHERE {d.text_key} = ?", (message_id,))


def next_uidvalidity(tx: Tx) -> int:
    """Store-wide increasing, so no (name, UIDVALIDITY) pair recurs after
    DELETE+CREATE or RENAME (RFC 3501 §2.3.1.1)."""
    now = new_uidvalidity(0)
    row = tx.one(
        f"UPDATE counters SET value = {tx.dialect.greatest}(value + 1, ?) "
        "WHERE name = 'uidvalidity' RETURNING value",
        (now,),
    )
    return int(row[0])


def create_row(
    tx: Tx, account_id: int, name: str, special_use: frozenset[str] = frozenset(), noselect: int = 0
) -> int:
    uidvalidity = next_uidvalidity(tx)
    row = tx.one(
        "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use, noselect) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (account_id, name, uidvalidity, " ".join(sorted(special_use)), noselect),
    )
    return int(row[0])


def collect_garbage(tx: Tx, message_ids: set[int]) -> None:
    """Drop messages no mailbox holds any more, and bodies no message uses.

    Each message row (and then its body row) is locked before its users
    are counted, in id order: two writers expunging the last two copies
    of one message in two mailboxes at once then take turns, and the
    second sees the first's commit (without the lock each still sees the
    other's copy and neither collects it: an orphan); an APPEND reusing
    the body holds it (the foreign-key check's lock) until it commits,
    so the body is counted as used, not deleted under it.  SQLite's one
    writer needs no locks (``for_update`` is empty there)."""
    lock = tx.dialect.for_update
    for message_id in sorted(message_ids):
        row = tx.one(f"SELECT body_id FROM messages WHERE id = ?{lock}", (message_id,))
        if row is None:
            continue  # collected by another writer meanwhile
        if tx.one("SELECT 1 FROM mailbox_messages WHERE message_id = ? LIMIT 1", (message_id,)):
            continue
        drop_documents(tx, message_id)
        drop_sort_keys(tx, message_id)
        tx.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        if tx.one(f"SELECT id FROM bodies WHERE id = ?{lock}", (row[0],)) is None:
            continue
        if tx.one("SELECT 1 FROM messages WHERE body_id = ? LIMIT 1", (row[0],)):
            continue
        tx.execute("DELETE FROM body_chunks WHERE body_id = ?", (row[0],))
        tx.execute("DELETE FROM bodies WHERE id = ?", (row[0],))


def expunge_rows(tx: Tx, mailbox_id: int, uids: list[int], modseq: int) -> None:
    """Tombstones at ``modseq``, rows gone, the mailbox's usage lowered
    by what went (before the orphans, whose sizes it reads, are
    collected), orphans collected.  The caller has locked the mailbox
    row (:func:`bump`, or COPY/MOVE's locks)."""
    removed: list[int] = []
    for uid in uids:
        row = tx.one(
            "DELETE FROM mailbox_messages WHERE mailbox_id = ? AND uid = ? RETURNING message_id",
            (mailbox_id, uid),
        )
        if row is not None:
            removed.append(int(row[0]))
            tx.execute(
                "INSERT INTO expunged (mailbox_id, uid, modseq, at) VALUES (?, ?, ?, ?)",
                (mailbox_id, uid, modseq, now_ts()),
            )
    if tx.dialect.name == "postgresql":
        drop_words(tx, mailbox_id, uids)
    if removed:
        add_usage(tx, mailbox_id, -len(removed), -sum_sizes(tx, removed))
    collect_garbage(tx, set(removed))
    tx.touched(mailbox_id, modseq)


def sum_sizes(tx: Tx, message_ids: Sequence[int]) -> int:
    """The octets of ``message_ids``, each counted as often as it is listed
    (a message COPYed twice into one mailbox is two entries)."""
    distinct = sorted(set(message_ids))
    sizes: dict[int, int] = {}
    for i in range(0, len(distinct), 500):
        batch = distinct[i : i + 500]
        for message_id, size in tx.all(
            f"SELECT id, size FROM messages WHERE id IN ({', '.join('?' * len(batch))})", batch
        ):
            sizes[int(message_id)] = int(size)
    return sum(sizes.get(m, 0) for m in message_ids)


def add_usage(tx: Tx, mailbox_id: int, messages: int, octets: int) -> None:
    """The mailbox's running QUOTA usage (RFC 9208 §5.1, §5.2) moved by
    ``messages`` and ``octets``, in the transaction that moves its rows."""
    tx.execute(
        "UPDATE mailboxes SET used_messages = used_messages + ?, used_bytes = used_bytes + ? "
        "WHERE id = ?",
        (messages, octets, mailbox_id),
    )


def bump(
    tx: Tx, mailbox_id: int, new_uids: int = 0, new_octets: int = 0
) -> tuple[int, int, int] | None:
    """The first statement of a write: (uidnext after, highest new modseq,
    uidvalidity) of a live mailbox, its row now locked; None if deleted.
    Each new message takes its own modseq (as Dovecot does), other
    changes one for the command.  ``new_uids`` messages of ``new_octets``
    in all are added to the mailbox's running usage in the same
    statement (the caller then inserts exactly those rows, or rolls back)."""
    row = tx.one(
        "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + ?, "
        "used_messages = used_messages + ?, used_bytes = used_bytes + ? "
        "WHERE id = ? AND deleted = 0 AND noselect = 0 "
        "RETURNING uidnext, highestmodseq, uidvalidity",
        (new_uids, max(new_uids, 1), new_uids, new_octets, mailbox_id),
    )
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


def insert_body(tx: Tx, digest: str, content: bytes) -> int:
    """The body's id, stored once per content hash; large ones chunked.
    A body found is share-locked until commit, so a concurrent expunge
    of its last other message (:func:`collect_garbage`) cannot delete it
    meanwhile; one being deleted is waited for, then not found."""
    row = tx.one(f"SELECT id FROM bodies WHERE hash = ?{tx.dialect.share_row}", (digest,))
    if row is not None:
        return int(row[0])
    chunked = len(content) > CHUNK
    row = tx.one(
        "INSERT INTO bodies (hash, size, content, chunks) VALUES (?, ?, ?, ?) RETURNING id",
        (
            digest,
            len(content),
            None if chunked else content,
            -(-len(content) // CHUNK) if chunked else 0,
        ),
    )
    body_id = int(row[0])
    if chunked:
        for seq, start in enumerate(range(0, len(content), CHUNK)):
            tx.execute(
                "INSERT INTO body_chunks (body_id, seq, data) VALUES (?, ?, ?)",
                (body_id, seq, content[start : start + CHUNK]),
            )
    return body_id


def move_rows(
    tx: Tx, source: int, target: int, uids: Sequence[int] | None, expunge_source: bool
) -> CopyResult:
    """COPY (RFC 3501 §6.4.7) / MOVE (RFC 6851) inside one transaction:
    both mailbox rows locked in id order, then the rows copied with new
    UIDs (the message and body rows are shared), the sources expunged for
    a move."""
    for mailbox_id in sorted({source, target}):
        tx.one(f"SELECT id FROM mailboxes WHERE id = ?{tx.dialect.for_update}", (mailbox_id,))
    if uids is None:
        lo, hi, wanted = 1, 2**63 - 1, None
    else:
        lo, hi, wanted = uid_bounds(uids)
    rows = [
        r
        for r in tx.all(
            "SELECT mm.uid, mm.message_id, mm.flags, mm.keywords, m.size FROM mailbox_messages mm "
            "JOIN messages m ON m.id = mm.message_id "
            "WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? ORDER BY mm.uid",
            (source, lo, hi),
        )
        if wanted is None or int(r[0]) in wanted
    ]
    bumped = bump(tx, target, len(rows), sum(int(r[4]) for r in rows))
    if bumped is None:
        raise TryCreate("the destination mailbox has been deleted")
    uidnext, modseq, uidvalidity = bumped
    if not rows:
        raise Rollback(CopyResult(uidvalidity, ()))
    first = uidnext - len(rows)
    pairs = []
    for i, (uid, message_id, flags, keywords, _) in enumerate(rows):
        tx.execute(
            "INSERT INTO mailbox_messages (mailbox_id, uid, message_id, modseq, flags, keywords, "
            "saved) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (target, first + i, message_id, modseq - len(rows) + 1 + i, flags, keywords,
             now_ts()),
        )
        pairs.append((int(uid), first + i))
    if tx.dialect.name == "postgresql":
        copy_words(tx, source, target, pairs)
    tx.touched(target, modseq)
    if expunge_source:
        src = bump(tx, source)
        if src is not None:
            expunge_rows(tx, source, [uid for uid, _ in pairs], src[1])
    return CopyResult(uidvalidity, tuple(pairs))


def append_rows(tx: Tx, mailbox_id: int, prepared: Sequence[Prepared]) -> AppendResult | None:
    """Insert prepared messages as new UIDs of a live mailbox (None if it
    was deleted); each takes its own modseq, as Dovecot gives them."""
    bumped = bump(tx, mailbox_id, len(prepared), sum(len(p.content) for p in prepared))
    if bumped is None:
        return None
    uidnext, modseq, uidvalidity = bumped
    first = uidnext - len(prepared)
    indexed: list[tuple[int, Documents]] = []
    for i, p in enumerate(prepared):
        body_id = insert_body(tx, p.hash, p.content)
        message_id = tx.one(
            "INSERT INTO messages (body_id, size, internaldate, internaldate_ts, "
            "info, info_version) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                body_id,
                len(p.content),
                p.when.isoformat(),
                int(p.when.timestamp()),
                p.info,
                FORMAT_VERSION,
            ),
        )[0]
        insert_documents(tx, int(message_id), p.documents, words=False)
        indexed.append((int(message_id), p.documents))
        insert_sort_keys(tx, int(message_id), p.sort_row)
        bits, keywords = encode_flags(p.flags)
        tx.execute(
            "INSERT INTO mailbox_messages (mailbox_id, uid, message_id, modseq, flags, keywords, "
            "saved) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                mailbox_id,
                first + i,
                message_id,
                modseq - len(prepared) + 1 + i,
                bits,
                keywords,
                now_ts(),
            ),
        )
    if tx.dialect.name == "postgresql":
        # the word arrays of the new rows: two statements for the batch
        insert_words_many(tx, indexed)
    tx.touched(mailbox_id, modseq)
    return AppendResult(uidvalidity, tuple(range(first, uidnext)))


def read_body(tx: Tx, body_id: int, start: int, end: int | None) -> bytes:
    """Bytes ``[start:end]`` of a body; of a chunked one only the chunks
    that hold the range are read."""
    row = tx.one("SELECT size, content, chunks FROM bodies WHERE id = ?", (body_id,), binary=True)
    if row is None:  # its last message expunged meanwhile (a read outside a transaction)
        raise ExpungeIssued("the message has been expunged")
    size, content, chunks = row
    size = int(size)
    start = max(0, min(start, size))
    stop = size if end is None else max(start, min(end, size))
    if not chunks:
        return bytes(content)[start:stop]
    if start >= stop:
        return b""
    first, last = start // CHUNK, (stop - 1) // CHUNK
    rows = tx.all(
        "SELECT data FROM body_chunks WHERE body_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (body_id, first, last),
        binary=True,
    )
    data = b"".join(bytes(r[0]) for r in rows)
    offset = first * CHUNK
    return data[start - offset : stop - offset]


def now_ts() -> int:
    """Now, in whole seconds: when a message is saved into a mailbox (RFC 8514)."""
    return int(datetime.now(UTC).timestamp())
