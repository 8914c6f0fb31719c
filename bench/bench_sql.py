"""SEARCH BODY / TEXT / SUBJECT in the SQL store: figures, not asserts.

    python bench/bench_sql.py                       # N = 100 000, SQLite
    python bench/bench_sql.py -n 20000 --engines sqlite,postgresql
    python bench/bench_sql.py -n 20000 --sort --no-search   # SORT: database vs framework
    python bench/bench_sql.py --quota --no-search --engines sqlite,postgresql  # APPEND + QUOTA
    python bench/bench_sql.py -n 100000 --copies 10 --db big.db    # fast fill: 10 000 appended, copied

Fills one mailbox with N generated messages (text/plain, some
multipart/alternative with HTML, some base64; every one unique: a
serial token, words drawn from a 2 000-word vocabulary, one word in
every other message), then times ``search_in`` -- the store's whole
answer in one read transaction: the one trigram lookup, the SQL recheck
on the stored folded text where the lookup is not already exact, and the
framework matcher's confirmation of what SQL cannot decide -- for needles
of several selectivities (rare, 5 %, 50 %, 2 characters), median of five
runs (``--repeat``) after one warm-up, in milliseconds.  PostgreSQL runs on a private
cluster (tests/store/sql/pgcluster.py).  The fill is timed too.
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailframe.imap.types import SearchBody, SearchHeader, SearchKey  # noqa: E402
from mailframe.store.sql import SqlStore, open_postgresql, open_sqlite  # noqa: E402
from mailframe.store.sql.db import Tx  # noqa: E402
from mailframe.store.sql.gramindex import gram_texts  # noqa: E402
from mailframe.store.sql.query import search_in  # noqa: E402
from mailframe.store.sql.rows import Prepared, append_rows, create_row  # noqa: E402

VOCABULARY = [f"w{i:04d}{'abcdefghij'[i % 10]}" for i in range(2000)]
RARE = "zanzibarquux"  # in 10 messages
HALF = "halfmark"  # in every other message
BATCH = 1000


def message(i: int, rng: random.Random) -> bytes:
    words = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(40, 160)))
    if i % 10_000 == 7:
        words += f" {RARE}"
    if i % 2:
        words += f" {HALF}"
    subject = f"report {i} {rng.choice(VOCABULARY)}"
    head = (
        f"From: Sender {i % 97} <s{i % 97}@example.com>\r\nTo: team@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <m{i}@bench>\r\n"
        "Date: Mon, 7 Dec 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
    kind = i % 10
    if kind < 7:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + f"serial s{i}x {words}\r\n").encode()
    if kind < 9:
        return (
            head + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
            f"--b\r\nContent-Type: text/plain\r\n\r\nserial s{i}x {words}\r\n"
            f"--b\r\nContent-Type: text/html\r\n\r\n<p>serial s{i}x</p><b>{words}</b>\r\n--b--\r\n"
        ).encode()
    encoded = base64.encodebytes(f"serial s{i}x {words}".encode()).decode().replace("\n", "\r\n")
    return (
        head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
    ).encode()


def fill(store: SqlStore, n: int) -> int:
    rng = random.Random(14)

    def create(tx: Tx) -> int:
        account = tx.one("INSERT INTO accounts (username) VALUES ('bench') RETURNING id")[0]
        return create_row(tx, int(account), "INBOX")

    box = int(store.db.run_sync(create, write=True)[0])
    for start in range(0, n, BATCH):
        prepared = [
            Prepared(message(i, rng), frozenset(), None) for i in range(start, min(n, start + BATCH))
        ]
        store.db.run_sync(lambda tx, p=prepared: append_rows(tx, box, p), write=True)
        print(f"\r  filled {min(n, start + BATCH)}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return box


#: the columns copied by :func:`replicate` (schema 7), per table.
_COPIED = {
    "messages": "body_id, size, internaldate, internaldate_ts, info, info_version, text_state",
    "message_sort": "arrival, sent, size, subject, from_addr, to_addr, cc_addr, displayfrom, "
    "displayto, subject_text",
}


def replicate(store: SqlStore, box: int, copies: int) -> None:
    """Grow the mailbox to ``copies`` times its messages by copying rows
    in SQL (messages, their text documents and short pieces, word arrays, sort keys and
    mailbox rows; bodies shared): minutes of APPEND become seconds, the
    distribution of every needle stays the same (each serial token is
    then in ``copies`` messages)."""
    engine = store.db.dialect.name

    def grow(tx: Tx) -> None:
        top = int(tx.one("SELECT max(id) FROM messages")[0])
        uids = int(tx.one("SELECT max(uid) FROM mailbox_messages WHERE mailbox_id = ?", (box,))[0])
        # SQLite's index of short pieces is contentless: its tokens are
        # worked out again from the documents copied
        grams = {}
        if engine == "sqlite":
            rows = tx.all(
                "SELECT rowid, hdr, fields, body, nested FROM search_fts WHERE rowid <= ?", (top,)
            )
            grams = {int(r[0]): gram_texts(tuple(r[1:])) for r in rows}
        for k in range(1, copies):
            off, uoff = k * top, k * uids
            for table, cols in _COPIED.items():
                key = "id" if table == "messages" else "message_id"
                tx.execute(
                    f"INSERT INTO {table} ({key}, {cols}) SELECT {key} + ?, {cols} FROM {table} "
                    f"WHERE {key} <= ?",
                    (off, top),
                )
            if engine == "sqlite":
                tx.execute(
                    "INSERT INTO search_fts (rowid, hdr, fields, body, nested) "
                    "SELECT rowid + ?, hdr, fields, body, nested FROM search_fts WHERE rowid <= ?",
                    (off, top),
                )
                for rowid, texts in grams.items():
                    tx.execute(
                        "INSERT INTO search_grams (rowid, hdr, fields, body, nested) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (rowid + off, *texts),
                    )
            else:
                tx.execute(
                    "INSERT INTO search_text (message_id, hdr, fields, body, nested) "
                    "SELECT message_id + ?, hdr, fields, body, nested FROM search_text "
                    "WHERE message_id <= ?",
                    (off, top),
                )
                # the word arrays are per mailbox row (schema 8)
                tx.execute(
                    "INSERT INTO mailbox_words (mailbox_id, uid, words) "
                    "SELECT mailbox_id, uid + ?, words FROM mailbox_words "
                    "WHERE mailbox_id = ? AND uid <= ?",
                    (uoff, box, uids),
                )
            tx.execute(
                "INSERT INTO mailbox_messages (mailbox_id, uid, message_id, modseq, flags, "
                "keywords, saved) SELECT mailbox_id, uid + ?, message_id + ?, modseq + ?, flags, "
                "keywords, saved FROM mailbox_messages WHERE mailbox_id = ? AND uid <= ?",
                (uoff, off, uoff, box, uids),
            )
        tx.execute(
            "UPDATE mailboxes SET uidnext = ?, highestmodseq = highestmodseq + ?, "
            "used_messages = used_messages * ?, used_bytes = used_bytes * ? WHERE id = ?",
            (uids * copies + 1, uids * (copies - 1), copies, copies, box),
        )
        if engine == "postgresql":
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('messages', 'id'), "
                "(SELECT max(id) FROM messages))"
            )

    store.db.run_sync(grow, write=True)
    if engine == "postgresql":
        store.db.run_sync(lambda tx: tx.execute("ANALYZE"), write=True)


def timed(store: SqlStore, box: int, key: SearchKey, repeat: int = 5) -> tuple[float, int]:
    def run(tx: Tx) -> list[int] | None:
        return search_in(tx, box, key, range(1, 2**32))

    store.db.run_sync(run, write=False)  # warm-up
    times = []
    found: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        found, _ = store.db.run_sync(run, write=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), len(found or [])


SORTS: list[tuple[tuple[str, bool], ...]] = [
    (("SUBJECT", False),),
    (("DATE", True),),
    (("FROM", False), ("SIZE", False)),
    (("ARRIVAL", False),),
]


def _median_ms(fn: Any) -> float:
    fn()  # warm-up
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def sort_figures(store: SqlStore, box: int) -> None:
    """SORT over the whole mailbox: ordered by the database from the keys
    stored at APPEND (``sorted_uids``), against the framework's path --
    cold (every record read, parsed data loaded, keys computed, sorted:
    what a process that has not sorted this mailbox yet does) and warm
    (keys already cached in the process: the sort alone)."""
    from mailframe.imap.commands.sort import sort_order
    from mailframe.message.sortkeys import sort_keys
    from mailframe.store.sql.query import RECORD_COLUMNS, select_rows, to_record
    from mailframe.store.sql.rows import uid_bounds
    from mailframe.store.sql.sortindex import sorted_uids

    every = uid_bounds(range(1, 2**32))

    def keys_cold() -> list[Any]:
        def run(tx: Tx) -> list[Any]:
            rows = select_rows(tx, box, range(1, 2**32), RECORD_COLUMNS)
            return [to_record(tx, r) for r in rows]

        records = store.db.run_sync(run, write=False)[0]
        return [sort_keys(r.info, r.size, r.internaldate) for r in records]

    keys = keys_cold()
    print("\n| SORT | database ms | framework cold ms | framework warm ms |\n|---|---:|---:|---:|")
    for criteria in SORTS:
        label = " ".join(("REVERSE " if rev else "") + name for name, rev in criteria)
        db = _median_ms(
            lambda c=criteria: store.db.run_sync(lambda tx: sorted_uids(tx, box, c, every), False)
        )
        cold = _median_ms(lambda c=criteria: sort_order(keys_cold(), c))
        warm = _median_ms(lambda c=criteria: sort_order(keys, c))
        print(f"| ({label}) | {db:.1f} | {cold:.1f} | {warm:.1f} |")


#: the usage statement before schema 6: every message's size summed.
SUMMED_USAGE = (
    "SELECT COALESCE(sum(m.size), 0), count(mm.uid) FROM mailboxes mb "
    "JOIN mailbox_messages mm ON mm.mailbox_id = mb.id "
    "JOIN messages m ON m.id = mm.message_id "
    "WHERE mb.account_id = ? AND mb.deleted = 0 AND mb.noselect = 0"
)


def quota_figures(store: SqlStore, box: int, n: int, repeat: int) -> None:
    """What an APPEND under a quota costs at N messages (RFC 9208 §4.2:
    the usage is asked before each one): the usage as summed before
    schema 6 (every message's size), as the running totals give it now,
    one APPEND alone, and usage + APPEND as the server runs them --
    median of ``repeat`` runs, ms, each a transaction of its own."""
    try:
        from mailframe.store.sql.account import usage_of
    except ImportError:  # a tree from before schema 6 (bench/with_tree.py-style before runs)
        usage_of = None  # type: ignore[assignment]

    account = int(store.db.run_sync(lambda tx: tx.one("SELECT id FROM accounts")[0], False)[0])
    rng = random.Random(99)
    counter = iter(range(n, n + 10 * repeat + 10))

    def summed() -> Any:
        return store.db.run_sync(lambda tx: tx.one(SUMMED_USAGE, (account,)), False, True)

    def running() -> Any:
        return store.db.run_sync(lambda tx: usage_of(tx, account), False, True)

    def append() -> Any:
        p = [Prepared(message(next(counter), rng), frozenset(), None)]
        return store.db.run_sync(lambda tx: append_rows(tx, box, p), write=True)

    rows = [
        ("usage summed (before schema 6)", summed),
        ("usage from running totals", running),
        ("APPEND of one message", append),
        ("usage summed + APPEND (before)", lambda: (summed(), append())),
        ("usage from totals + APPEND (now)", lambda: (running(), append())),
    ]
    if usage_of is None:
        rows = [r for r in rows if "totals" not in r[0]]
    print(f"\n| quota at N = {n} | ms (median of {repeat}) |\n|---|---:|")
    for label, fn in rows:
        fn()  # warm-up
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"| {label} | {statistics.median(times):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite")
    parser.add_argument("--sort", action="store_true", help="also time SORT (database vs framework)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite database file")
    parser.add_argument(
        "--conninfo",
        help="PostgreSQL: this database (not a private cluster's), filled if empty, "
        "else reused as it is (migrated if older)",
    )
    parser.add_argument(
        "--db",
        help="SQLite: this database file, filled if new, else reused as it is "
        "(migrated if older: a before tree fills it, this tree reopens it)",
    )
    parser.add_argument("--no-search", action="store_true", help="skip the SEARCH figures")
    parser.add_argument(
        "--quota", action="store_true", help="also time APPEND with the QUOTA usage before it"
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="fill N/COPIES messages by APPEND, then copy their rows in SQL up to N "
        "(a fast fill: the same needles in the same shares of the messages)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per key (the median)")
    args = parser.parse_args()
    keys: list[tuple[str, SearchKey]] = [
        (f"BODY {RARE} (rare)", SearchBody(RARE)),
        ("BODY s4242x (one message)", SearchBody("s4242x")),
        (f"BODY {VOCABULARY[5]} (~5 %)", SearchBody(VOCABULARY[5])),
        (f"BODY {HALF} (50 %)", SearchBody(HALF)),
        (f"TEXT {RARE}", SearchBody(RARE, text=True)),
        (f"TEXT {VOCABULARY[5]} (~5 %)", SearchBody(VOCABULARY[5], text=True)),
        (f"TEXT {HALF} (50 %)", SearchBody(HALF, text=True)),
        ("BODY \"w0005f w0006a\" (two words)", SearchBody("w0005f w0006a")),
        ("SUBJECT report 777 ", SearchHeader("SUBJECT", "report 777 ")),
        ("BODY xq (2 chars: no trigram, no hit)", SearchBody("xq")),
        ("BODY 5f (2 chars: no trigram, most hit)", SearchBody("5f")),
        ("TEXT xq (2 chars)", SearchBody("xq", text=True)),
        ("BODY w0 (2 chars, every message)", SearchBody("w0")),
        ("BODY w00 (3 chars, every message)", SearchBody("w00")),
        ("BODY ha (2 chars, ~55 %)", SearchBody("ha")),
    ]
    for engine in args.engines.split(","):
        tmp = None
        reused = None
        if engine == "sqlite" and args.db:
            existed = Path(args.db).exists()
            t0 = time.perf_counter()
            store = open_sqlite(args.db)  # an older schema is migrated here
            if existed:
                reused = int(
                    store.db.run_sync(
                        lambda tx: tx.one("SELECT max(mailbox_id) FROM mailbox_messages")[0], False
                    )[0]
                )
                print(f"\nopened {args.db} in {time.perf_counter() - t0:.1f} s (with any migration)")
        elif engine == "postgresql" and args.conninfo:
            t0 = time.perf_counter()
            store = open_postgresql(args.conninfo, listen=False)  # migrated here if older
            row = store.db.run_sync(
                lambda tx: tx.one("SELECT max(mailbox_id) FROM mailbox_messages")[0], False
            )[0]
            reused = None if row is None else int(row)
            print(f"\nopened the database in {time.perf_counter() - t0:.1f} s (with any migration)")
        elif engine == "sqlite":
            tmp = tempfile.mkdtemp(prefix="bench-sql-")
            store = open_sqlite(tmp + "/mail.db")
        else:
            from tests.store.sql.pgcluster import new_database, stop_cluster

            store = open_postgresql(new_database(), listen=False)
        if reused is not None:
            box = reused
            print(f"\n### {engine}, N = {args.n} (reused {args.db or 'the database'})\n")
        else:
            t0 = time.perf_counter()
            box = fill(store, args.n // args.copies)
            if args.copies > 1:
                replicate(store, box, args.copies)
            fill_s = time.perf_counter() - t0
            print(f"\n### {engine}, N = {args.n} (fill {fill_s:.0f} s, {args.n / fill_s:.0f} msg/s)\n")
        if not args.no_search:
            print(f"| search | hits | ms (median of {args.repeat}) |\n|---|---:|---:|")
            for label, key in keys:
                ms, hits = timed(store, box, key, args.repeat)
                print(f"| {label} | {hits} | {ms:.1f} |")
        if args.sort:
            sort_figures(store, box)
        if args.quota:
            quota_figures(store, box, args.n, max(args.repeat, 9))
        store.db.stop_now()
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            print(f"\nkept {tmp}/mail.db")
        if engine != "sqlite" and not args.conninfo:
            stop_cluster()


if __name__ == "__main__":
    main()
