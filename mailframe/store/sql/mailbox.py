"""One mailbox of the database store (:class:`mailframe.interfaces.IMailbox`):
reads in read transactions (one snapshot), writes through
:mod:`mailframe.store.sql.rows`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, threads
from zope.interface import implementer

from mailframe.errors import CannotDo, ExpungeIssued, TryCreate
from mailframe.interfaces import (
    IBatchReadMailbox,
    IExpungeHistory,
    IMailbox,
    ISearchableMailbox,
    ISortableMailbox,
)
from mailframe.records import (
    AppendResult,
    Changes,
    CopyResult,
    FlagState,
    MailboxStatus,
    MessageRecord,
    MessageState,
    NewMessage,
    Snapshot,
    StoreMode,
    StoreResult,
)
from mailframe.store._log import apply_mode
from mailframe.store.sql.db import Rollback, Tx
from mailframe.store.sql.prune import all_gone
from mailframe.store.sql.query import RECORD_COLUMNS, search_in, select_rows, to_record
from mailframe.store.sql.rows import (
    DELETED_BIT,
    Prepared,
    append_rows,
    bump,
    decode_flags,
    encode_flags,
    expunge_rows,
    move_rows,
    read_body,
    uid_bounds,
)
from mailframe.store.sql.sortindex import sorted_uids

if TYPE_CHECKING:
    from mailframe.store.sql.store import SqlStore

__all__ = ["SqlMailbox", "RESTORER"]

#: UIDs per statement of :meth:`SqlMailbox.read_many`.
READ_BATCH = 200

#: Makes the UID-keeping appender of a mailbox (set by
#: ``mailframe.store.sql.restore``).
RESTORER: Callable[[SqlMailbox], Any] | None = None


@implementer(IMailbox, ISearchableMailbox, IExpungeHistory, ISortableMailbox, IBatchReadMailbox)
class SqlMailbox:
    """One mailbox row; the object follows RENAME (same row) and, after
    DELETE, reads as expunged and refuses appends with TryCreate."""

    def __init__(self, store: SqlStore, mailbox_id: int, name: str) -> None:
        self.sqlstore = store
        self.id = mailbox_id
        self.name = name

    def __repr__(self) -> str:
        return f"<SqlMailbox {self.name} id={self.id}>"

    def _run(
        self,
        fn: Callable[[Tx], Any],
        write: bool = False,
        single: bool = False,
        durable: bool = True,
    ) -> defer.Deferred[Any]:
        return self.sqlstore.db.run(fn, write, single, durable)

    def _row(self, tx: Tx) -> tuple[int, int, int, int]:
        row = tx.one(
            "SELECT uidvalidity, uidnext, highestmodseq, recent_floor FROM mailboxes WHERE id = ?",
            (self.id,),
        )
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    # ----------------------------------------------------------------- reads

    def status(self) -> defer.Deferred[MailboxStatus]:
        """The counters and the message figures in one statement (one
        snapshot, no transaction around it)."""

        def run(tx: Tx) -> MailboxStatus:
            uidvalidity, uidnext, hms, count, unseen, deleted, size, recent = tx.one(
                "SELECT mb.uidvalidity, mb.uidnext, mb.highestmodseq, count(mm.uid), "
                "sum(CASE WHEN (mm.flags & 1) = 0 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN (mm.flags & 8) <> 0 THEN 1 ELSE 0 END), "
                "sum(m.size), sum(CASE WHEN mm.uid >= mb.recent_floor THEN 1 ELSE 0 END) "
                "FROM mailboxes mb LEFT JOIN mailbox_messages mm ON mm.mailbox_id = mb.id "
                "LEFT JOIN messages m ON m.id = mm.message_id WHERE mb.id = ? "
                "GROUP BY mb.id, mb.uidvalidity, mb.uidnext, mb.highestmodseq",
                (self.id,),
            )
            return MailboxStatus(
                uidvalidity=int(uidvalidity),
                uidnext=int(uidnext),
                highestmodseq=int(hms),
                messages=int(count),
                unseen=int(unseen or 0),
                recent=int(recent or 0),
                size=int(size or 0),
                deleted=int(deleted or 0),
            )

        return self._run(run, single=True)

    def snapshot(self) -> defer.Deferred[Snapshot]:
        def run(tx: Tx) -> Snapshot:
            uidvalidity, uidnext, hms, _ = self._row(tx)
            rows = tx.all(
                "SELECT uid, flags, keywords, modseq FROM mailbox_messages "
                "WHERE mailbox_id = ? ORDER BY uid",
                (self.id,),
            )
            messages = tuple(FlagState(int(u), decode_flags(f, k), int(m)) for u, f, k, m in rows)
            return Snapshot(uidvalidity, uidnext, hms, messages)

        return self._run(run)

    def changes_since(self, modseq: int) -> defer.Deferred[Changes]:
        """What changed after ``modseq`` (RFC 7162 §3.2.10): asked after
        every command of a session with a mailbox selected, so it is one
        statement -- the counters, the changed rows and the tombstones in
        one ``UNION ALL``, one snapshot without ``BEGIN`` / ``COMMIT``
        (one round trip to PostgreSQL where a transaction of four
        statements took six).  Only when tombstones that old were pruned
        does it run :meth:`changes_in`'s transaction."""

        def quick(tx: Tx) -> Changes | None:
            rows = tx.all(
                "SELECT 0, uidnext, highestmodseq, '', expunge_floor FROM mailboxes WHERE id = ? "
                "UNION ALL SELECT 1, uid, flags, keywords, modseq FROM mailbox_messages "
                "WHERE mailbox_id = ? AND modseq > ? "
                "UNION ALL SELECT 2, uid, 0, '', modseq FROM expunged "
                "WHERE mailbox_id = ? AND modseq > ?",
                (self.id, self.id, modseq, self.id, modseq),
            )
            head = [r for r in rows if int(r[0]) == 0]
            if not head or modseq < int(head[0][4]):
                return None  # tombstones pruned: every UID that is not here
            _, uidnext, hms, _, _ = head[0]
            changed = sorted(
                (
                    FlagState(int(u), decode_flags(f, k), int(m))
                    for kind, u, f, k, m in rows
                    if int(kind) == 1
                ),
                key=lambda state: state.uid,
            )
            gone = sorted({int(r[1]) for r in rows if int(r[0]) == 2})
            return Changes(
                highestmodseq=int(hms),
                uidnext=int(uidnext),
                changed=tuple(changed),
                expunged=tuple(gone),
            )

        def full(changes: Changes | None) -> Changes | defer.Deferred[Changes]:
            if changes is not None:
                return changes
            return self._run(lambda tx: self.changes_in(tx, modseq))

        return self._run(quick, single=True).addCallback(full)

    def changes_in(self, tx: Tx, modseq: int) -> Changes:
        """:meth:`changes_since` inside ``tx``."""
        _, uidnext, hms, _ = self._row(tx)
        rows = tx.all(
            "SELECT uid, flags, keywords, modseq FROM mailbox_messages "
            "WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
            (self.id, modseq),
        )
        gone = self._expunged_since(tx, modseq)
        if gone is None:  # tombstones pruned: every UID that is not here
            gone = all_gone(tx, self.id, uidnext)
        return Changes(
            highestmodseq=hms,
            uidnext=uidnext,
            changed=tuple(FlagState(int(u), decode_flags(f, k), int(m)) for u, f, k, m in rows),
            expunged=tuple(gone),
        )

    def _expunged_since(self, tx: Tx, modseq: int) -> list[int] | None:
        floor = int(tx.one("SELECT expunge_floor FROM mailboxes WHERE id = ?", (self.id,))[0])
        if modseq < floor:
            return None
        gone = tx.all(
            "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?", (self.id, modseq)
        )
        return sorted({int(r[0]) for r in gone})

    def expunged_since(self, modseq: int) -> defer.Deferred[list[int] | None]:
        """The UIDs expunged after ``modseq``, ascending; ``None`` once
        tombstones that old were pruned (:mod:`mailframe.store.sql.prune`),
        so QRESYNC reports every missing UID (RFC 7162 §3.2.5.2)."""
        return self._run(lambda tx: self._expunged_since(tx, modseq))

    def expunge_floor(self) -> defer.Deferred[int]:
        """The modseq up to which tombstones may have been pruned (0: all kept)."""
        return self._run(
            lambda tx: int(
                tx.one("SELECT expunge_floor FROM mailboxes WHERE id = ?", (self.id,))[0]
            )
        )

    def _select(self, tx: Tx, uids: Sequence[int], columns: str) -> list[Any]:
        return select_rows(tx, self.id, uids, columns)

    def states(self, uids: Sequence[int]) -> defer.Deferred[list[MessageState]]:
        def run(tx: Tx) -> list[MessageState]:
            return [
                MessageState(
                    int(r[0]),
                    decode_flags(r[1], r[2]),
                    int(r[3]),
                    int(r[4]),
                    datetime.fromisoformat(r[5]),
                )
                for r in self._select(tx, uids, "1")
            ]

        return self._run(run, single=True)  # one statement

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        def run(tx: Tx) -> list[MessageRecord]:
            return [to_record(tx, r) for r in self._select(tx, uids, RECORD_COLUMNS)]

        # one statement (a record of an older parser reads its immutable body)
        return self._run(run, single=True)

    def read(self, uid: int, start: int = 0, end: int | None = None) -> defer.Deferred[bytes]:
        """Bytes ``[start:end]`` of a message: one statement, no
        transaction around it (the range cut out in the database, so a
        section of a large body does not travel whole); a chunked body
        (larger than :data:`mailframe.store.sql.schema.CHUNK`) is read in
        a transaction, chunk by chunk."""
        first = max(0, start) + 1  # substr counts from 1, in bytes for a blob
        length = "" if end is None else ", CAST(? AS INTEGER)"
        params: tuple[int, ...] = (first,) if end is None else (first, max(0, end - start))

        def quick(tx: Tx) -> bytes | None:
            row = tx.one(
                f"SELECT b.chunks, substr(b.content, CAST(? AS INTEGER){length}) "
                "FROM mailbox_messages mm "
                "JOIN messages m ON m.id = mm.message_id JOIN bodies b ON b.id = m.body_id "
                "WHERE mm.mailbox_id = ? AND mm.uid = ?",
                (*params, self.id, uid),
                binary=True,
            )
            if row is None:
                raise ExpungeIssued(f"message UID {uid} has been expunged")
            return None if row[0] else bytes(row[1] or b"")

        def chunked(data: bytes | None) -> bytes | defer.Deferred[bytes]:
            return self._read_chunked(uid, start, end) if data is None else data

        return self._run(quick, single=True).addCallback(chunked)

    def _read_chunked(self, uid: int, start: int, end: int | None) -> defer.Deferred[bytes]:
        def run(tx: Tx) -> bytes:
            row = tx.one(
                "SELECT m.body_id FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
                "WHERE mm.mailbox_id = ? AND mm.uid = ?",
                (self.id, uid),
            )
            if row is None:
                raise ExpungeIssued(f"message UID {uid} has been expunged")
            return read_body(tx, int(row[0]), start, end)

        return self._run(run)

    def read_many(self, uids: Sequence[int]) -> defer.Deferred[dict[int, bytes]]:
        """IBatchReadMailbox: the whole bytes of a group of messages in one
        read transaction (one trip to a worker thread, one query per
        :data:`READ_BATCH` UIDs) instead of one per message; a chunked
        body is read chunk by chunk as :meth:`read` does."""
        wanted = sorted(set(uids))

        def run(tx: Tx) -> dict[int, bytes]:
            out: dict[int, bytes] = {}
            for i in range(0, len(wanted), READ_BATCH):
                batch = wanted[i : i + READ_BATCH]
                rows = tx.all(
                    "SELECT mm.uid, m.body_id, b.content, b.chunks FROM mailbox_messages mm "
                    "JOIN messages m ON m.id = mm.message_id JOIN bodies b ON b.id = m.body_id "
                    f"WHERE mm.mailbox_id = ? AND mm.uid IN ({', '.join('?' * len(batch))})",
                    (self.id, *batch),
                    binary=True,  # the bodies as bytes, not as hex text
                )
                for uid, body_id, content, chunks in rows:
                    out[int(uid)] = (
                        read_body(tx, int(body_id), 0, None) if chunks else bytes(content)
                    )
            return out

        # one statement for a group of up to READ_BATCH (chunks of a large
        # body are immutable: read after it, they are the same)
        return self._run(run, single=len(wanted) <= READ_BATCH)

    def search(self, key: Any, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        """ISearchableMailbox: flags, UIDs, sizes, internal dates, modseqs,
        BODY, TEXT and header keys answered in the database
        (:mod:`mailframe.store.sql.search`, :mod:`mailframe.store.sql.query`);
        ``None`` for the rest, which the framework's matcher answers."""
        return self._run(lambda tx: search_in(tx, self.id, key, uids))

    def sort_uids(
        self, criteria: Sequence[tuple[str, bool]], uids: Sequence[int]
    ) -> defer.Deferred[list[int] | None]:
        """ISortableMailbox: SORT (RFC 5256 §3, RFC 5957) ordered by the
        database over the keys stored at APPEND
        (:mod:`mailframe.store.sql.sortindex`)."""
        return self._run(lambda tx: sorted_uids(tx, self.id, criteria, uid_bounds(uids)))

    # ---------------------------------------------------------------- writes

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """MULTIAPPEND (RFC 3502): parsed in a thread, then one transaction:
        all or none."""

        def prepare() -> list[Prepared]:
            return [Prepared(raw, flags, when) for raw, flags, when in messages]

        def insert(prepared: list[Prepared]) -> defer.Deferred[AppendResult]:
            def run(tx: Tx) -> AppendResult:
                result = append_rows(tx, self.id, prepared)
                if result is None:
                    raise TryCreate(f"mailbox {self.name!r} has been deleted")
                return result

            return self._run(run, write=True)

        return threads.deferToThread(prepare).addCallback(insert)

    def append(
        self,
        content: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: datetime | None = None,
    ) -> defer.Deferred[int]:
        d = self.append_many([NewMessage(content, flags, internaldate)])
        return d.addCallback(lambda result: result.uids[0])

    def store(
        self,
        uids: Sequence[int],
        mode: StoreMode,
        flags: frozenset[str],
        unchangedsince: int | None = None,
    ) -> defer.Deferred[StoreResult]:
        """STORE (RFC 3501 §6.4.6), UNCHANGEDSINCE (RFC 7162 §3.1.3): one
        new modseq for the messages whose flags change, none otherwise.

        The mailbox row is locked first (as the modseq bump would lock
        it, so commit order is still modseq order) and bumped only when a
        flag changes: a STORE that changes nothing (a client setting
        \\Seen again) commits a read instead of rolling a bump back --
        on PostgreSQL a ROLLBACK also made psycopg drop every prepared
        statement of the connection."""
        mode = StoreMode(mode)
        flags = frozenset(flags)

        def run(tx: Tx) -> StoreResult:
            live = tx.one(
                "SELECT 1 FROM mailboxes WHERE id = ? AND deleted = 0 AND noselect = 0"
                + tx.dialect.lock_row,
                (self.id,),
            )
            if live is None:
                return StoreResult(changed=())
            failed: list[int] = []
            changes: list[tuple[int, frozenset[str]]] = []
            for r in self._select(tx, uids, "1"):
                uid, old, old_modseq = int(r[0]), decode_flags(r[1], r[2]), int(r[3])
                if unchangedsince is not None and old_modseq > unchangedsince:
                    failed.append(uid)
                    continue
                new = apply_mode(old, mode, flags)
                if new != old:
                    changes.append((uid, new))
            if not changes:
                return StoreResult(changed=(), failed=tuple(failed))
            bumped = bump(tx, self.id)
            assert bumped is not None  # the row is locked: still live
            modseq = bumped[1]
            changed = [FlagState(uid, new, modseq) for uid, new in changes]
            updates: list[tuple[Any, ...]] = []
            for uid, new in changes:
                bits, keywords = encode_flags(new)
                updates.append((bits, keywords, modseq, self.id, uid))
            tx.execute_many(
                "UPDATE mailbox_messages SET flags = ?, keywords = ?, modseq = ? "
                "WHERE mailbox_id = ? AND uid = ?",
                updates,
            )
            tx.touched(self.id, modseq)
            return StoreResult(changed=tuple(changed), failed=tuple(failed))

        # a flag change need not be on disk before OK (SQLite: see
        # mailframe.store.sql.sqlite); stored mail always is
        return self._run(run, write=True, durable=False)

    def expunge(self, uids: Sequence[int] | None = None) -> defer.Deferred[list[int]]:
        """EXPUNGE / UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1)."""

        def run(tx: Tx) -> list[int]:
            bumped = bump(tx, self.id)
            if bumped is None:
                raise Rollback([])
            rows = (
                tx.all(
                    "SELECT uid FROM mailbox_messages WHERE mailbox_id = ? "
                    "AND (flags & 8) <> 0 ORDER BY uid",
                    (self.id,),
                )
                if uids is None
                else self._select(tx, uids, "1")
            )
            gone = [int(r[0]) for r in rows if uids is None or int(r[1]) & DELETED_BIT]
            if not gone:
                raise Rollback([])
            expunge_rows(tx, self.id, gone, bumped[1])
            return gone

        return self._run(run, write=True)

    def can_copy_to(self, destination: IMailbox) -> bool:
        return isinstance(destination, SqlMailbox) and destination.sqlstore is self.sqlstore

    def _copy(
        self, uids: Sequence[int], destination: IMailbox, move: bool
    ) -> defer.Deferred[CopyResult]:
        if not self.can_copy_to(destination):
            return defer.fail(CannotDo("destination is in another store: use mailframe.crossstore"))
        assert isinstance(destination, SqlMailbox)
        target = destination.id

        def run(tx: Tx) -> CopyResult:
            return move_rows(tx, self.id, target, uids, expunge_source=move)

        return self._run(run, write=True)

    def copy(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        return self._copy(uids, destination, move=False)

    def move(self, uids: Sequence[int], destination: IMailbox) -> defer.Deferred[CopyResult]:
        return self._copy(uids, destination, move=True)

    def claim_recent(self) -> defer.Deferred[tuple[int, int]]:
        """RFC 3501 §2.3.2: the first claimer after new mail gets it."""

        def run(tx: Tx) -> tuple[int, int]:
            row = tx.one(
                f"SELECT recent_floor, uidnext FROM mailboxes WHERE id = ?{tx.dialect.for_update}",
                (self.id,),
            )
            lo, hi = int(row[0]), int(row[1])
            if lo >= hi:
                return hi, hi  # nothing written: a commit, not a rollback
            tx.execute("UPDATE mailboxes SET recent_floor = ? WHERE id = ?", (hi, self.id))
            return lo, hi

        # not durable: a claim a power cut undoes is one no session holds
        # any more (the server went down with them)
        return self.sqlstore.recent_lock.run(self._run, run, True, False, False)

    def peek_recent(self) -> defer.Deferred[tuple[int, int]]:
        def run(tx: Tx) -> tuple[int, int]:
            _, uidnext, _, floor = self._row(tx)
            return (floor, uidnext) if floor < uidnext else (uidnext, uidnext)

        return self._run(run)

    def watch(self, callback: Callable[[], object]) -> Callable[[], None]:
        return self.sqlstore.watch(self.id, callback)

    def uid_restorer(self) -> Any:
        """UID-keeping appends for ``mailframe import``
        (``mailframe.store.sql.restore``, which installs itself in
        :data:`RESTORER` when the package is imported: it builds on this
        module, so this module does not import it)."""
        if RESTORER is None:
            raise CannotDo("UID-keeping import is not available")
        return RESTORER(self)

