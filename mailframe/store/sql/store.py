"""The database store: mailboxes as rows, the log in SQL.

Every method is one transaction run by :class:`mailframe.store.sql.db.Database` off the
reactor.  The first statement of a write is ``UPDATE mailboxes SET uidnext
= uidnext + n, highestmodseq = highestmodseq + 1 ... RETURNING`` on the
mailbox row: it takes the row lock, so commit order is modseq order and
CHANGEDSINCE (RFC 7162 §3.1.4) never misses a change that commits late.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer, threads
from zope.interface import implementer

from mailframe.errors import (
    CannotDo,
    ExpungeIssued,
    MailboxExists,
    MailboxHasChildren,
    NonexistentMailbox,
    TryCreate,
)
from mailframe.interfaces import IAccount, IMailbox, IMailStore, ISearchableMailbox
from mailframe.message import MessageInfo, parse, to_crlf
from mailframe.message._info import FORMAT_VERSION
from mailframe.records import (
    AppendResult,
    Changes,
    CopyResult,
    FlagState,
    MailboxEntry,
    MailboxStatus,
    MessageRecord,
    MessageState,
    NewMessage,
    Snapshot,
    StoreMode,
    StoreResult,
)
from mailframe.store._log import apply_mode, new_uidvalidity
from mailframe.store._names import INBOX, is_inferior, normalize_name, parents_of, rename_inferior
from mailframe.store._watchers import Watchers
from mailframe.store.sql.db import Database, Rollback, Tx
from mailframe.store.sql.schema import CHUNK, ensure_schema
from mailframe.store.sql.search import FLAG_BITS, compile_key
from mailframe.vocabulary import NOSELECT, RECENT, SPECIAL_USE

__all__ = ["SqlStore", "SqlAccount", "SqlMailbox"]

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


def decode_flags(bits: int, keywords: str) -> frozenset[str]:
    flags = {flag for flag, bit in FLAG_BITS.items() if bits & bit}
    if keywords:
        flags.update(keywords.split(" "))
    return frozenset(flags)


def _zoned(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC).replace(microsecond=0)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _uid_bounds(uids: Sequence[int]) -> tuple[int, int, set[int] | None]:
    """(lo, hi, exact set or None for a whole range) without expanding a
    ``range(1, 2**32)``."""
    if isinstance(uids, range) and uids.step == 1:
        return (uids.start, uids.stop - 1, None) if uids else (1, 0, None)
    if not uids:
        return 1, 0, set()
    wanted = set(uids)
    return min(wanted), max(wanted), wanted


class _Prepared:
    """A message ready to insert: computed off the reactor, before the
    transaction (CRLF line ends as Dovecot saves them, RFC 3501 §2.3.3)."""

    def __init__(self, raw: bytes, flags: frozenset[str], when: datetime | None) -> None:
        self.content = to_crlf(bytes(raw))
        self.flags = frozenset(flags) - {RECENT}
        self.when = _zoned(when)
        self.info = parse(self.content).dump()
        self.hash = hashlib.sha256(self.content).hexdigest()


#: Makes the UID-keeping appender of a mailbox (set by
#: ``mailframe.store.sql.restore``).
RESTORER: Callable[[SqlMailbox], Any] | None = None


@implementer(IMailStore)
class SqlStore:
    """Every account in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect
        self._watchers: dict[int, Watchers] = {}
        self._boxes: weakref.WeakValueDictionary[int, SqlMailbox] = weakref.WeakValueDictionary()
        db.on_change = self.changed
        #: claims of \\Recent run in the order sessions ask (a pool of
        #: PostgreSQL threads would otherwise let a later claim win).
        self.recent_lock = defer.DeferredLock()
        #: a :class:`mailframe.store.sql.notify.Listener` hearing other frontends (PostgreSQL).
        self.listener: Any = None
        try:
            db.run_sync(self._init, write=True)
        except BaseException:
            db.stop_now()  # no worker thread left behind to keep the process alive
            raise

    def _init(self, tx: Tx) -> None:
        ensure_schema(tx.cursor, self.dialect)
        if tx.one("SELECT value FROM counters WHERE name = 'uidvalidity'") is None:
            tx.execute("INSERT INTO counters (name, value) VALUES ('uidvalidity', 0)")

    # ------------------------------------------------------------- watchers

    def changed(self, changed: dict[int, int] | None) -> None:
        """Mailboxes changed (here, or in another frontend; ``None``: maybe
        any, after the listener reconnected): wake their watchers."""
        for mailbox_id in list(self._watchers) if changed is None else changed:
            watchers = self._watchers.get(mailbox_id)
            if watchers is not None:
                watchers.notify()

    def watch(self, mailbox_id: int, callback: Callable[[], object]) -> Callable[[], None]:
        return self._watchers.setdefault(mailbox_id, Watchers()).add(callback)

    def mailbox_object(self, mailbox_id: int, name: str) -> SqlMailbox:
        box = self._boxes.get(mailbox_id)
        if box is None:
            box = SqlMailbox(self, mailbox_id, name)
            self._boxes[mailbox_id] = box
        return box

    def renamed(self, names: dict[int, str]) -> None:
        for mailbox_id, name in names.items():
            box = self._boxes.get(mailbox_id)
            if box is not None:
                box.name = name

    # ------------------------------------------------------------ IMailStore

    def account(self, username: str) -> defer.Deferred[IAccount]:
        def run(tx: Tx) -> int:
            row = tx.one("SELECT id FROM accounts WHERE username = ?", (username,))
            if row is None:
                row = tx.one("INSERT INTO accounts (username) VALUES (?) RETURNING id", (username,))
            account_id = int(row[0])
            if (
                tx.one(
                    "SELECT id FROM mailboxes WHERE account_id = ? AND name = ? AND deleted = 0",
                    (account_id, INBOX),
                )
                is None
            ):
                create_row(tx, account_id, INBOX)
            return account_id

        d = self.db.run(run, write=True)
        return d.addCallback(lambda account_id: SqlAccount(self, username, account_id))

    def close(self) -> defer.Deferred[None]:
        self._watchers.clear()
        listener, self.listener = self.listener, None
        d = self.db.close()
        if listener is not None:
            d.addCallback(lambda _: threads.deferToThread(listener.stop))
        return d


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
    """Drop messages no mailbox holds any more, and bodies no message uses."""
    for message_id in message_ids:
        if tx.one("SELECT 1 FROM mailbox_messages WHERE message_id = ? LIMIT 1", (message_id,)):
            continue
        row = tx.one("SELECT body_id FROM messages WHERE id = ?", (message_id,))
        tx.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        if row is None or tx.one("SELECT 1 FROM messages WHERE body_id = ? LIMIT 1", (row[0],)):
            continue
        tx.execute("DELETE FROM body_chunks WHERE body_id = ?", (row[0],))
        tx.execute("DELETE FROM bodies WHERE id = ?", (row[0],))


def expunge_rows(tx: Tx, mailbox_id: int, uids: list[int], modseq: int) -> None:
    """Tombstones at ``modseq``, rows gone, orphans collected."""
    messages: set[int] = set()
    for uid in uids:
        row = tx.one(
            "DELETE FROM mailbox_messages WHERE mailbox_id = ? AND uid = ? RETURNING message_id",
            (mailbox_id, uid),
        )
        if row is not None:
            messages.add(int(row[0]))
            tx.execute(
                "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
                (mailbox_id, uid, modseq),
            )
    collect_garbage(tx, messages)
    tx.touched(mailbox_id, modseq)


def bump(tx: Tx, mailbox_id: int, new_uids: int = 0) -> tuple[int, int, int] | None:
    """The first statement of a write: (uidnext after, highest new modseq,
    uidvalidity) of a live mailbox, its row now locked; None if deleted.
    Each new message takes its own modseq (as Dovecot does), other
    changes one for the command."""
    row = tx.one(
        "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + ? "
        "WHERE id = ? AND deleted = 0 AND noselect = 0 "
        "RETURNING uidnext, highestmodseq, uidvalidity",
        (new_uids, max(new_uids, 1), mailbox_id),
    )
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


def insert_body(tx: Tx, digest: str, content: bytes) -> int:
    """The body's id, stored once per content hash; large ones chunked."""
    row = tx.one("SELECT id FROM bodies WHERE hash = ?", (digest,))
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


@implementer(IAccount)
class SqlAccount:
    """One user's mailboxes: rows of ``mailboxes``."""

    def __init__(self, store: SqlStore, username: str, account_id: int) -> None:
        self.store = store
        self.username = username
        self.id = account_id

    def __repr__(self) -> str:
        return f"<SqlAccount {self.username}>"

    def _live(self, tx: Tx, name: str) -> tuple[int, int] | None:
        row = tx.one(
            "SELECT id, noselect FROM mailboxes WHERE account_id = ? AND name = ? AND deleted = 0",
            (self.id, name),
        )
        return None if row is None else (int(row[0]), int(row[1]))

    def _children(self, tx: Tx, name: str) -> list[tuple[int, str]]:
        prefix = name + "/"
        rows = tx.all(
            "SELECT id, name FROM mailboxes WHERE account_id = ? AND deleted = 0 "
            "AND substr(name, 1, ?) = ? ORDER BY name",
            (self.id, len(prefix), prefix),
        )
        return [(int(r[0]), str(r[1])) for r in rows if is_inferior(str(r[1]), name)]

    def _make_parents(self, tx: Tx, name: str) -> None:
        for parent in parents_of(name):
            if self._live(tx, parent) is None:
                create_row(tx, self.id, parent)

    def list_mailboxes(self) -> defer.Deferred[list[MailboxEntry]]:
        def run(tx: Tx) -> list[MailboxEntry]:
            rows = tx.all(
                "SELECT name, special_use, noselect FROM mailboxes "
                "WHERE account_id = ? AND deleted = 0",
                (self.id,),
            )
            out = []
            for name, special, noselect in rows:
                attrs = frozenset({NOSELECT}) if noselect else frozenset(str(special).split())
                out.append(MailboxEntry(str(name), attrs))
            return sorted(out, key=lambda e: e.name)

        return self.store.db.run(run)

    def mailbox(self, name: str) -> defer.Deferred[IMailbox]:
        try:
            checked = normalize_name(name)
        except Exception:
            return defer.fail()

        def run(tx: Tx) -> tuple[int, int] | None:
            return self._live(tx, checked)

        def found(row: tuple[int, int] | None) -> IMailbox:
            if row is None:
                raise NonexistentMailbox(f"no mailbox {checked!r}")
            if row[1]:
                raise NonexistentMailbox(f"mailbox {checked!r} is \\Noselect")
            return self.store.mailbox_object(row[0], checked)

        return self.store.db.run(run).addCallback(found)

    def create_mailbox(
        self, name: str, special_use: frozenset[str] = frozenset()
    ) -> defer.Deferred[None]:
        """CREATE (RFC 3501 §6.3.3) with missing parents; a \\Noselect
        placeholder becomes a real mailbox with a new UIDVALIDITY;
        special-use per RFC 6154 §3."""
        try:
            checked = normalize_name(name)
            unknown = frozenset(special_use) - SPECIAL_USE
            if unknown:
                raise CannotDo(
                    f"unsupported special-use attribute {sorted(unknown)[0]}", code="USEATTR"
                )
        except Exception:
            return defer.fail()

        def run(tx: Tx) -> None:
            row = self._live(tx, checked)
            if row is not None:
                if not row[1]:
                    raise MailboxExists(f"mailbox {checked!r} already exists")
                tx.execute("UPDATE mailboxes SET deleted = 1 WHERE id = ?", (row[0],))
            self._make_parents(tx, checked)
            create_row(tx, self.id, checked, frozenset(special_use))

        return self.store.db.run(run, write=True)

    def delete_mailbox(self, name: str) -> defer.Deferred[None]:
        """DELETE (RFC 3501 §6.3.4)."""
        try:
            checked = normalize_name(name)
            if checked == INBOX:
                raise CannotDo("INBOX cannot be deleted")
        except Exception:
            return defer.fail()

        def run(tx: Tx) -> None:
            row = self._live(tx, checked)
            if row is None:
                raise NonexistentMailbox(f"no mailbox {checked!r}")
            mailbox_id, noselect = row
            has_children = bool(self._children(tx, checked))
            if noselect:
                if has_children:
                    raise MailboxHasChildren(f"{checked!r} has inferior hierarchical names")
                tx.execute("UPDATE mailboxes SET deleted = 1 WHERE id = ?", (mailbox_id,))
                return
            bumped = bump(tx, mailbox_id)
            assert bumped is not None
            uids = [
                int(r[0])
                for r in tx.all(
                    "SELECT uid FROM mailbox_messages WHERE mailbox_id = ? ORDER BY uid",
                    (mailbox_id,),
                )
            ]
            expunge_rows(tx, mailbox_id, uids, bumped[1])
            tx.touched(mailbox_id, bumped[1])
            tx.execute("UPDATE mailboxes SET deleted = 1 WHERE id = ?", (mailbox_id,))
            if has_children:
                create_row(tx, self.id, checked, noselect=1)

        return self.store.db.run(run, write=True)

    def rename_mailbox(self, old: str, new: str) -> defer.Deferred[None]:
        """RENAME (RFC 3501 §6.3.5): inferiors move along; INBOX's messages
        move to a new mailbox and INBOX stays, empty."""
        try:
            src, dst = normalize_name(old), normalize_name(new)
        except Exception:
            return defer.fail()

        def run(tx: Tx) -> dict[int, str]:
            row = self._live(tx, src)
            if row is None:
                raise NonexistentMailbox(f"no mailbox {src!r}")
            if dst == INBOX or self._live(tx, dst) is not None:
                raise MailboxExists(f"mailbox {dst!r} already exists")
            if is_inferior(dst, src):
                raise CannotDo("cannot rename a mailbox into its own hierarchy")
            self._make_parents(tx, dst)
            if src == INBOX:
                target = create_row(tx, self.id, dst)
                move_rows(tx, row[0], target, None, expunge_source=True)
                return {}
            names = {}
            for mailbox_id, name in [(row[0], src), *self._children(tx, src)]:
                moved = rename_inferior(name, src, dst)
                tx.execute("UPDATE mailboxes SET name = ? WHERE id = ?", (moved, mailbox_id))
                names[mailbox_id] = moved
            return names

        return self.store.db.run(run, write=True).addCallback(self.store.renamed)

    def subscriptions(self) -> defer.Deferred[set[str]]:
        def run(tx: Tx) -> set[str]:
            rows = tx.all("SELECT name FROM subscriptions WHERE account_id = ?", (self.id,))
            return {str(r[0]) for r in rows}

        return self.store.db.run(run)

    def subscribe(self, name: str) -> defer.Deferred[None]:
        try:
            checked = normalize_name(name)
        except Exception:
            return defer.fail()

        def run(tx: Tx) -> None:
            if (
                tx.one(
                    "SELECT 1 FROM subscriptions WHERE account_id = ? AND name = ?",
                    (self.id, checked),
                )
                is None
            ):
                tx.execute(
                    "INSERT INTO subscriptions (account_id, name) VALUES (?, ?)", (self.id, checked)
                )

        return self.store.db.run(run, write=True)

    def unsubscribe(self, name: str) -> defer.Deferred[None]:
        try:
            checked = normalize_name(name)
        except Exception:
            return defer.fail()

        def run(tx: Tx) -> None:
            tx.execute(
                "DELETE FROM subscriptions WHERE account_id = ? AND name = ?", (self.id, checked)
            )

        return self.store.db.run(run, write=True)


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
        lo, hi, wanted = _uid_bounds(uids)
    rows = [
        r
        for r in tx.all(
            "SELECT uid, message_id, flags, keywords FROM mailbox_messages "
            "WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
            (source, lo, hi),
        )
        if wanted is None or int(r[0]) in wanted
    ]
    bumped = bump(tx, target, len(rows))
    if bumped is None:
        raise TryCreate("the destination mailbox has been deleted")
    uidnext, modseq, uidvalidity = bumped
    if not rows:
        raise Rollback(CopyResult(uidvalidity, ()))
    first = uidnext - len(rows)
    pairs = []
    for i, (uid, message_id, flags, keywords) in enumerate(rows):
        tx.execute(
            "INSERT INTO mailbox_messages (mailbox_id, uid, message_id, modseq, flags, keywords, "
            "saved) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (target, first + i, message_id, modseq - len(rows) + 1 + i, flags, keywords,
             _now_ts()),
        )
        pairs.append((int(uid), first + i))
    tx.touched(target, modseq)
    if expunge_source:
        src = bump(tx, source)
        if src is not None:
            expunge_rows(tx, source, [uid for uid, _ in pairs], src[1])
    return CopyResult(uidvalidity, tuple(pairs))


@implementer(IMailbox, ISearchableMailbox)
class SqlMailbox:
    """One mailbox row; the object follows RENAME (same row) and, after
    DELETE, reads as expunged and refuses appends with TryCreate."""

    def __init__(self, store: SqlStore, mailbox_id: int, name: str) -> None:
        self.sqlstore = store
        self.id = mailbox_id
        self.name = name

    def __repr__(self) -> str:
        return f"<SqlMailbox {self.name} id={self.id}>"

    def _run(self, fn: Callable[[Tx], Any], write: bool = False) -> defer.Deferred[Any]:
        return self.sqlstore.db.run(fn, write)

    def _row(self, tx: Tx) -> tuple[int, int, int, int]:
        row = tx.one(
            "SELECT uidvalidity, uidnext, highestmodseq, recent_floor FROM mailboxes WHERE id = ?",
            (self.id,),
        )
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    # ----------------------------------------------------------------- reads

    def status(self) -> defer.Deferred[MailboxStatus]:
        def run(tx: Tx) -> MailboxStatus:
            uidvalidity, uidnext, hms, floor = self._row(tx)
            count, unseen, deleted, size, recent = tx.one(
                "SELECT count(*), "
                "sum(CASE WHEN (mm.flags & 1) = 0 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN (mm.flags & 8) <> 0 THEN 1 ELSE 0 END), "
                "sum(m.size), sum(CASE WHEN mm.uid >= ? THEN 1 ELSE 0 END) "
                "FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
                "WHERE mm.mailbox_id = ?",
                (floor, self.id),
            )
            return MailboxStatus(
                uidvalidity=uidvalidity,
                uidnext=uidnext,
                highestmodseq=hms,
                messages=int(count),
                unseen=int(unseen or 0),
                recent=int(recent or 0),
                size=int(size or 0),
                deleted=int(deleted or 0),
            )

        return self._run(run)

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
        def run(tx: Tx) -> Changes:
            _, uidnext, hms, _ = self._row(tx)
            rows = tx.all(
                "SELECT uid, flags, keywords, modseq FROM mailbox_messages "
                "WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                (self.id, modseq),
            )
            gone = tx.all(
                "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                (self.id, modseq),
            )
            return Changes(
                highestmodseq=hms,
                uidnext=uidnext,
                changed=tuple(FlagState(int(u), decode_flags(f, k), int(m)) for u, f, k, m in rows),
                expunged=tuple(sorted({int(r[0]) for r in gone})),
            )

        return self._run(run)

    def _select(self, tx: Tx, uids: Sequence[int], columns: str) -> list[Any]:
        lo, hi, wanted = _uid_bounds(uids)
        if lo > hi:
            return []
        rows = tx.all(
            f"SELECT mm.uid, mm.flags, mm.keywords, mm.modseq, m.size, m.internaldate, {columns} "
            "FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
            "WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? ORDER BY mm.uid",
            (self.id, lo, hi),
        )
        return [r for r in rows if wanted is None or int(r[0]) in wanted]

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

        return self._run(run)

    def records(self, uids: Sequence[int]) -> defer.Deferred[list[MessageRecord]]:
        def run(tx: Tx) -> list[MessageRecord]:
            out = []
            for r in self._select(tx, uids, "m.info, m.info_version, m.body_id, mm.saved"):
                if int(r[7]) == FORMAT_VERSION:
                    info = MessageInfo.load(bytes(r[6]))
                else:  # parsed by another parser version: parse again
                    info = parse(read_body(tx, int(r[8]), 0, None))
                out.append(
                    MessageRecord(
                        int(r[0]),
                        decode_flags(r[1], r[2]),
                        int(r[3]),
                        int(r[4]),
                        datetime.fromisoformat(r[5]),
                        info,
                        datetime.fromtimestamp(int(r[9]), UTC) if r[9] else None,
                    )
                )
            return out

        return self._run(run)

    def read(self, uid: int, start: int = 0, end: int | None = None) -> defer.Deferred[bytes]:
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

    def search(self, key: Any, uids: Sequence[int]) -> defer.Deferred[list[int] | None]:
        """ISearchableMailbox: flags, UIDs, sizes, internal dates and
        modseqs answered by one SQL query (:mod:`mailframe.store.sql.search`); ``None`` for
        the rest, which the framework's matcher answers."""
        return self._run(lambda tx: search_in(tx, self.id, key, uids))

    # ---------------------------------------------------------------- writes

    def append_many(self, messages: Sequence[NewMessage]) -> defer.Deferred[AppendResult]:
        """MULTIAPPEND (RFC 3502): parsed in a thread, then one transaction:
        all or none."""

        def prepare() -> list[_Prepared]:
            return [_Prepared(raw, flags, when) for raw, flags, when in messages]

        def insert(prepared: list[_Prepared]) -> defer.Deferred[AppendResult]:
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
        new modseq for the messages whose flags change, none otherwise."""
        mode = StoreMode(mode)
        flags = frozenset(flags)

        def run(tx: Tx) -> StoreResult:
            bumped = bump(tx, self.id)
            if bumped is None:
                raise Rollback(StoreResult(changed=()))
            modseq = bumped[1]
            failed: list[int] = []
            changed: list[FlagState] = []
            for r in self._select(tx, uids, "1"):
                uid, old, old_modseq = int(r[0]), decode_flags(r[1], r[2]), int(r[3])
                if unchangedsince is not None and old_modseq > unchangedsince:
                    failed.append(uid)
                    continue
                new = apply_mode(old, mode, flags)
                if new == old:
                    continue
                bits, keywords = encode_flags(new)
                tx.execute(
                    "UPDATE mailbox_messages SET flags = ?, keywords = ?, modseq = ? "
                    "WHERE mailbox_id = ? AND uid = ?",
                    (bits, keywords, modseq, self.id, uid),
                )
                changed.append(FlagState(uid, new, modseq))
            if not changed:
                raise Rollback(StoreResult(changed=(), failed=tuple(failed)))
            tx.touched(self.id, modseq)
            return StoreResult(changed=tuple(changed), failed=tuple(failed))

        return self._run(run, write=True)

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
                raise Rollback((hi, hi))
            tx.execute("UPDATE mailboxes SET recent_floor = ? WHERE id = ?", (hi, self.id))
            return lo, hi

        return self.sqlstore.recent_lock.run(self._run, run, True)

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


def append_rows(tx: Tx, mailbox_id: int, prepared: Sequence[_Prepared]) -> AppendResult | None:
    """Insert prepared messages as new UIDs of a live mailbox (None if it
    was deleted); each takes its own modseq, as Dovecot gives them."""
    bumped = bump(tx, mailbox_id, len(prepared))
    if bumped is None:
        return None
    uidnext, modseq, uidvalidity = bumped
    first = uidnext - len(prepared)
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
        bits, keywords = encode_flags(p.flags)
        tx.execute(
            "INSERT INTO mailbox_messages (mailbox_id, uid, message_id, modseq, flags, keywords, "
            "saved) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (mailbox_id, first + i, message_id, modseq - len(prepared) + 1 + i, bits, keywords,
             _now_ts()),
        )
    tx.touched(mailbox_id, modseq)
    return AppendResult(uidvalidity, tuple(range(first, uidnext)))


def search_in(tx: Tx, mailbox_id: int, key: Any, uids: Sequence[int]) -> list[int] | None:
    """The UIDs among ``uids`` matching ``key``, or None (not compiled)."""
    row = tx.one("SELECT max(uid) FROM mailbox_messages WHERE mailbox_id = ?", (mailbox_id,))
    largest = int(row[0] or 0)
    compiled = compile_key(key, largest, tx.dialect)
    if compiled is None:
        return None
    condition, params = compiled
    lo, hi, wanted = _uid_bounds(uids)
    if lo > hi:
        return []
    rows = tx.all(
        "SELECT mm.uid FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
        f"WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? AND ({condition}) ORDER BY mm.uid",
        (mailbox_id, lo, hi, *params),
    )
    return [int(r[0]) for r in rows if wanted is None or int(r[0]) in wanted]


def read_body(tx: Tx, body_id: int, start: int, end: int | None) -> bytes:
    """Bytes ``[start:end]`` of a body; of a chunked one only the chunks
    that hold the range are read."""
    size, content, chunks = tx.one(
        "SELECT size, content, chunks FROM bodies WHERE id = ?", (body_id,)
    )
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
    )
    data = b"".join(bytes(r[0]) for r in rows)
    offset = first * CHUNK
    return data[start - offset : stop - offset]


def _now_ts() -> int:
    """Now, in whole seconds: when a message is saved into a mailbox (RFC 8514)."""
    return int(datetime.now(UTC).timestamp())
