"""Reading message rows, and answering SEARCH in the database.

:func:`search_in` runs a key compiled by :mod:`mailframe.store.sql.search`:
one query returns the UIDs its ``maybe`` condition admits, each marked by
whether its ``sure`` condition holds; the rest are confirmed here by the
framework's own matcher (:func:`mailframe.store.statesearch.match` for
state keys, :func:`mailframe.message.header_matches`, ``body_matches`` and
``text_matches`` for text keys -- the very functions the session's matcher
calls, RFC 3501 §6.4.4), in the same transaction, off the reactor.  So the
answer is the matcher's, and the index only decides how few messages it
has to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from mailframe.imap.types import (
    SearchAnd,
    SearchBody,
    SearchHeader,
    SearchKey,
    SearchNot,
    SearchOr,
)
from mailframe.message import (
    MessageInfo,
    body_matches,
    header_matches,
    parse,
    text_matches,
)
from mailframe.message._info import FORMAT_VERSION
from mailframe.records import MessageRecord
from mailframe.store.sql.db import Tx
from mailframe.store.sql.rows import decode_flags, read_body, uid_bounds
from mailframe.store.sql.search import Compiled, compile_key
from mailframe.store.statesearch import match

__all__ = [
    "select_rows",
    "RECORD_COLUMNS",
    "to_record",
    "search_in",
    "search_plan",
    "search_sql",
    "evaluate",
    "CONFIRM_BATCH",
]

#: the extra columns :func:`to_record` needs after the state columns.
RECORD_COLUMNS = "m.info, m.info_version, m.body_id, mm.saved"
#: messages confirmed per statement.
CONFIRM_BATCH = 256


def select_rows(tx: Tx, mailbox_id: int, uids: Sequence[int], columns: str) -> list[Any]:
    """(uid, flags, keywords, modseq, size, internaldate, then ``columns``) of the
    messages among ``uids``, ascending."""
    lo, hi, wanted = uid_bounds(uids)
    if lo > hi:
        return []
    rows = tx.all(
        f"SELECT mm.uid, mm.flags, mm.keywords, mm.modseq, m.size, m.internaldate, {columns} "
        "FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
        "WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? ORDER BY mm.uid",
        (mailbox_id, lo, hi),
        binary=True,  # the parsed data (a blob) as bytes, not as hex text
    )
    return [r for r in rows if wanted is None or int(r[0]) in wanted]


def to_record(tx: Tx, r: Any) -> MessageRecord:
    """A row of ``select_rows(..., RECORD_COLUMNS)`` as a record."""
    if int(r[7]) == FORMAT_VERSION:
        info = MessageInfo.load(bytes(r[6]))
    else:  # parsed by another parser version: parse again
        info = parse(read_body(tx, int(r[8]), 0, None))
    return MessageRecord(
        int(r[0]),
        decode_flags(r[1], r[2]),
        int(r[3]),
        int(r[4]),
        datetime.fromisoformat(r[5]),
        info,
        datetime.fromtimestamp(int(r[9]), UTC) if r[9] else None,
    )


def evaluate(key: SearchKey, record: MessageRecord, raw: Callable[[], bytes], largest: int) -> bool:
    """The framework's matcher for one message (``raw`` read only if a
    BODY/TEXT key is reached)."""
    if isinstance(key, SearchNot):
        return not evaluate(key.key, record, raw, largest)
    if isinstance(key, SearchOr):
        return evaluate(key.left, record, raw, largest) or evaluate(key.right, record, raw, largest)
    if isinstance(key, SearchAnd):
        return all(evaluate(k, record, raw, largest) for k in key.keys)
    if isinstance(key, SearchHeader):
        return header_matches(record.info, key.name, key.value)
    if isinstance(key, SearchBody):
        if key.text:
            return text_matches(record.info, raw(), key.value)
        return body_matches(record.info, raw(), key.value)
    return match(key, record, largest)


def _confirm(tx: Tx, mailbox_id: int, key: SearchKey, uids: list[int], largest: int) -> list[int]:
    out: list[int] = []
    for i in range(0, len(uids), CONFIRM_BATCH):
        batch = uids[i : i + CONFIRM_BATCH]
        marks = ", ".join("?" * len(batch))
        rows = tx.all(
            "SELECT mm.uid, mm.flags, mm.keywords, mm.modseq, m.size, m.internaldate, "
            f"{RECORD_COLUMNS} FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id "
            f"WHERE mm.mailbox_id = ? AND mm.uid IN ({marks}) ORDER BY mm.uid",
            (mailbox_id, *batch),
            binary=True,
        )
        for r in rows:
            record = to_record(tx, r)
            body_id = int(r[8])
            cache: list[bytes] = []

            def raw(body_id: int = body_id, cache: list[bytes] = cache) -> bytes:
                if not cache:
                    cache.append(read_body(tx, body_id, 0, None))
                return cache[0]

            if evaluate(key, record, raw, largest):
                out.append(record.uid)
    return out


def search_in(tx: Tx, mailbox_id: int, key: Any, uids: Sequence[int]) -> list[int] | None:
    """The UIDs among ``uids`` matching ``key``, or None (not compiled)."""
    plan = search_plan(tx, mailbox_id, key, uids)
    if plan is None:
        return None
    sure, unsure, largest = plan
    if unsure:
        sure.extend(_confirm(tx, mailbox_id, key, unsure, largest))
        sure.sort()
    return sure


def search_sql(
    tx: Tx, mailbox_id: int, compiled: Compiled, lo: int, hi: int
) -> tuple[str, tuple[Any, ...]]:
    """The one statement answering a compiled key over the UIDs ``lo`` to
    ``hi``: rows ``(uid, sure)`` in no particular order, ``sure`` 1 where
    the SQL alone says the message matches, 0 where the matcher must
    confirm it."""
    d = tx.dialect
    # the message's text row, when a condition reads it (a rowid lookup),
    # and its messages row only when a condition reads that (size, date)
    row = f" JOIN {d.text_table} f ON f.{d.text_key} = mm.message_id" if compiled.text_row else ""
    message = " JOIN messages m ON m.id = mm.message_id" if compiled.message_row else ""
    joined = f"FROM mailbox_messages mm{message}{row} "
    if compiled.exact:
        return (
            f"SELECT mm.uid AS uid, 1 AS sure {joined} WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? "
            f"AND ({compiled.maybe})",
            (mailbox_id, lo, hi, *compiled.maybe_params),
        )
    where = "WHERE mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? "
    if compiled.driver_ids and compiled.driver_uids:
        # PostgreSQL's word index names UIDs of this mailbox (schema 8):
        # each one's row through the primary key, whatever the planner's
        # statistics say (OFFSET 0 keeps the subquery from being flattened)
        return (
            f"SELECT mm.uid AS uid, CASE WHEN ({compiled.sure}) THEN 1 ELSE 0 END AS sure "
            f"FROM ({compiled.driver_ids}) found (uid) CROSS JOIN LATERAL ("
            "SELECT * FROM mailbox_messages x WHERE x.mailbox_id = ? AND x.uid = found.uid "
            "AND x.uid BETWEEN ? AND ? OFFSET 0) mm"
            f"{message}{row} WHERE ({compiled.maybe})",
            (
                *compiled.sure_params,
                *compiled.driver_params,
                mailbox_id,
                lo,
                hi,
                *compiled.maybe_params,
            ),
        )
    if compiled.driver_ids and d.name == "postgresql":
        # PostgreSQL: for each message the text index found, its row in
        # this mailbox through the (message_id, mailbox_id, uid) index --
        # a plan whose cost follows the messages found whatever the
        # planner's statistics say (just after a mailbox was filled they
        # say one row, and the planner then joined the found ids against
        # the mailbox by a filter over every pair: 190 ms for 2 000
        # messages).  OFFSET 0 keeps the subquery from being flattened.
        return (
            f"SELECT mm.uid AS uid, CASE WHEN ({compiled.sure}) THEN 1 ELSE 0 END AS sure "
            f"FROM ({compiled.driver_ids}) found (id) CROSS JOIN LATERAL ("
            "SELECT * FROM mailbox_messages x WHERE x.message_id = found.id "
            "AND x.mailbox_id = ? AND x.uid BETWEEN ? AND ? OFFSET 0) mm"
            f"{message}{row} WHERE ({compiled.maybe})",
            (
                *compiled.sure_params,
                *compiled.driver_params,
                mailbox_id,
                lo,
                hi,
                *compiled.maybe_params,
            ),
        )
    if compiled.driver:
        # start from the few messages the text index names, not from every
        # row of the mailbox (SQLite: "+" keeps it off the mailbox index);
        # the index runs once, in the driver
        plus = "+" if d.name == "sqlite" else ""
        where = f"WHERE {compiled.driver} AND {plus}mm.mailbox_id = ? AND mm.uid BETWEEN ? AND ? "
    return (
        f"SELECT mm.uid AS uid, CASE WHEN ({compiled.sure}) THEN 1 ELSE 0 END AS sure {joined}{where}"
        f"AND ({compiled.maybe})",
        (
            *compiled.sure_params,
            *compiled.driver_params,
            mailbox_id,
            lo,
            hi,
            *compiled.maybe_params,
        ),
    )


#: SQLite reads a row of its FTS5 table by id about this many times
#: slower than in a scan of the table (measured: 100 000 rows, 1.5 s row
#: by row against 0.35 s in one scan).
SCAN_RATIO = 4


def _scan_short(tx: Tx, lo: int, hi: int) -> bool:
    """Whether a needle too short for the trigram index is better found
    by one scan of the whole text table than by reading the text rows of
    the UIDs ``lo`` to ``hi`` one by one: SQLite, when those UIDs are at
    least a :data:`SCAN_RATIO`-th of the messages of the store (both
    bounds read from b-tree ends, no count).  PostgreSQL's planner makes
    that choice itself (a hash join against one scan, or index lookups)."""
    if tx.dialect.text_match != "fts5" or lo > hi:
        return False
    row = tx.one("SELECT max(id) FROM messages")
    return (hi - lo + 1) * SCAN_RATIO >= int(row[0] or 0)


def search_plan(
    tx: Tx, mailbox_id: int, key: Any, uids: Sequence[int]
) -> tuple[list[int], list[int], int] | None:
    """What the database answers for ``key`` among ``uids``, or None (not
    compiled): (UIDs that surely match, UIDs the matcher must confirm,
    the largest UID)."""
    row = tx.one("SELECT max(uid) FROM mailbox_messages WHERE mailbox_id = ?", (mailbox_id,))
    largest = int(row[0] or 0)
    lo, hi, wanted = uid_bounds(uids)
    compiled = compile_key(
        key,
        largest,
        tx.dialect,
        _scan_short(tx, lo, min(hi, largest)),
        (mailbox_id, lo, min(hi, 2**63 - 1)),
    )
    if compiled is None:
        return None
    if lo > hi:
        return [], [], largest
    if compiled.fast:
        # a phrase alone, from PostgreSQL's word index: two arrays
        found, always = tx.one(compiled.fast, compiled.fast_params, binary=True)
        confirm = sorted(u for u in always if wanted is None or u in wanted)
        skip = set(confirm)
        matched = sorted(u for u in found if u not in skip and (wanted is None or u in wanted))
        return matched, confirm, largest
    sql, params = search_sql(tx, mailbox_id, compiled, lo, hi)
    sure, unsure = _uid_lists(tx, sql, params)
    if wanted is not None:
        sure = [u for u in sure if u in wanted]
        unsure = [u for u in unsure if u in wanted]
    return sure, unsure, largest


def _uid_lists(tx: Tx, sql: str, params: tuple[Any, ...]) -> tuple[list[int], list[int]]:
    """The rows ``(uid, sure)`` of :func:`search_sql` as two sorted lists,
    the sure UIDs and the unsure, each aggregated in the database into one
    text (the dialect's ``int_list``): for a
    needle in most of a 100 000-message mailbox, making a Python row per
    UID cost more than the index lookup (SQLite, 50 000 UIDs: 38 ms as
    rows, 6 ms as one text parsed by ``json.loads``)."""
    agg = tx.dialect.int_list
    row = tx.one(
        f"SELECT {agg.format('CASE WHEN found.sure = 1 THEN found.uid END')}, "
        f"{agg.format('CASE WHEN found.sure = 0 THEN found.uid END')} FROM ({sql}) found",
        params,
    )
    return _ints(row[0]), _ints(row[1])


def _ints(text: str | None) -> list[int]:
    """A comma-separated list of integers, sorted."""
    if not text:
        return []
    out: list[int] = json.loads(f"[{text}]")
    out.sort()
    return out
