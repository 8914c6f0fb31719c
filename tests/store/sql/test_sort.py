"""SORT answered by the database (:mod:`mailframe.store.sql.sortindex`)
equals the framework's own sort (:func:`mailframe.imap.commands.sort.sort_order`
over :func:`mailframe.message.sortkeys.sort_keys`), on SQLite and
PostgreSQL, for every key of RFC 5256 §3 and RFC 5957 §3, REVERSE, pairs
and triples of keys, and subsets of UIDs.

The corpus (tests/support/sort_corpus.py) has decorated and encoded
subjects, collation corners (titlecase, compatibility decomposition,
digraphs), addresses of every shape, missing and broken dates and many
equal keys (so ties by UID matter), plus a NUL and an unpaired surrogate
in keys.  Then the same through the IMAP SORT command: a real server on
each SQL store against one on the memory store (which sorts in Python).
"""

from __future__ import annotations

import imaplib
import itertools
import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailframe.imap.commands.sort import SORT_ATTRS, sort_order
from mailframe.message.sortkeys import sort_keys
from mailframe.store.sql import SqlStore, open_sqlite
from mailframe.store.sql.db import Tx
from mailframe.store.sql.migrate import fill_sort_keys
from mailframe.store.sql.query import RECORD_COLUMNS, select_rows, to_record
from mailframe.store.sql.rows import Prepared, append_rows, create_row, expunge_rows, uid_bounds
from mailframe.store.sql.sortindex import SORT_COLUMNS, sorted_uids
from tests.support.server import ServerProcess
from tests.support.sort_corpus import corpus

KEYS = sorted(SORT_ATTRS)
#: odd keys the corpus does not have: a NUL in a subject, an unpaired
#: surrogate from an 8-bit header, equal subjects by many messages.
ODD = [
    b"Subject: a\x00b\r\nFrom: z@x\r\n\r\nx\r\n",
    b"Subject: a\r\nFrom: =?UTF-8?B?7aCA?= <q@x>\r\n\r\nx\r\n",
    b"Subject: =?UTF-8?Q?a=00c?=\r\nTo: \xff\xfe <r@x>\r\n\r\nx\r\n",
]
COUNT = 700


def _messages() -> list[tuple[bytes, datetime]]:
    out = corpus(COUNT)
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return out + [(raw, when) for raw in ODD]


def _fill(tx: Tx) -> int:
    account = tx.one("INSERT INTO accounts (username) VALUES ('u') RETURNING id")[0]
    box = create_row(tx, account, "INBOX")
    prepared = [Prepared(raw, frozenset(), when) for raw, when in _messages()]
    assert append_rows(tx, box, prepared) is not None
    # gaps in the UIDs
    expunge_rows(tx, box, list(range(5, 40, 3)), 10**6)
    return int(box)


_boxes: dict[str, tuple[SqlStore, int]] = {}


@pytest.fixture(autouse=True, scope="module")
def _close_stores() -> Iterator[None]:
    yield
    for store, _ in _boxes.values():
        store.db.stop_now()
    _boxes.clear()


def _box(engine: str) -> tuple[SqlStore, int]:
    if engine not in _boxes:
        if engine == "sqlite":
            store = open_sqlite(tempfile.mkdtemp(prefix="sql-sort-") + "/mail.db")
        else:
            from mailframe.store.sql import open_postgresql
            from tests.store.sql.pgcluster import new_database

            store = open_postgresql(new_database(), listen=False)
        _boxes[engine] = (store, store.db.run_sync(_fill, write=True)[0])
    return _boxes[engine]


def _criteria() -> list[tuple[tuple[str, bool], ...]]:
    out: list[tuple[tuple[str, bool], ...]] = []
    for key in KEYS:
        out += [((key, False),), ((key, True),)]
    rng = random.Random(5256)
    for a, b in itertools.permutations(KEYS, 2):
        out.append(((a, rng.random() < 0.5), (b, rng.random() < 0.5)))
    for _ in range(40):
        out.append(tuple((k, rng.random() < 0.5) for k in rng.sample(KEYS, 3)))
    return out


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_database_order_equals_framework_order(engine: str) -> None:
    store, box = _box(engine)

    def load(tx: Tx) -> list[int]:
        return [to_record(tx, r) for r in select_rows(tx, box, range(1, 2**32), RECORD_COLUMNS)]

    records = store.db.run_sync(load, write=False)[0]
    keys = [sort_keys(r.info, r.size, r.internaldate) for r in records]
    uids = [r.uid for r in records]
    some = uids[::4] + uids[7::9]
    some = sorted(set(some))
    some_keys = [k for u, k in zip(uids, keys, strict=True) if u in set(some)]
    assert set(SORT_COLUMNS) == set(KEYS)
    for criteria in _criteria():
        expected = [uids[i] for i in sort_order(keys, criteria)]
        got = store.db.run_sync(
            lambda tx, c=criteria: sorted_uids(tx, box, c, uid_bounds(range(1, 2**32))), False
        )[0]
        assert got == expected, criteria
        expected_some = [some[i] for i in sort_order(some_keys, criteria)]
        got_some = store.db.run_sync(
            lambda tx, c=criteria: sorted_uids(tx, box, c, uid_bounds(some)), False
        )[0]
        assert got_some == expected_some, criteria


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_keys_of_other_code_are_not_used(engine: str) -> None:
    """Keys stored by other code (another SORT_VERSION): the store says
    None (the framework sorts) until they are recomputed."""
    store, box = _box(engine)
    criteria = (("SUBJECT", False),)
    every = uid_bounds(range(1, 2**32))
    before = store.db.run_sync(lambda tx: sorted_uids(tx, box, criteria, every), False)[0]
    assert before is not None
    store.db.run_sync(
        lambda tx: tx.execute("UPDATE counters SET value = 1 WHERE name = 'sort_version'"), True
    )
    assert store.db.run_sync(lambda tx: sorted_uids(tx, box, criteria, every), False)[0] is None
    assert store.db.run_sync(lambda tx: fill_sort_keys(tx), True)[0] == COUNT + len(ODD) - 12
    after = store.db.run_sync(lambda tx: sorted_uids(tx, box, criteria, every), False)[0]
    assert after == before
    assert store.db.run_sync(lambda tx: sorted_uids(tx, box, (("NOPE", False),), every), False)[
        0
    ] is None


# --- through the IMAP SORT command ---------------------------------------

COMMANDS = [
    *(f"SORT ({k}) UTF-8 ALL" for k in KEYS),
    *(f"SORT (REVERSE {k}) UTF-8 ALL" for k in KEYS),
    "SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
    "SORT (CC REVERSE SIZE) UTF-8 ALL",
    "SORT (SUBJECT FROM ARRIVAL) US-ASCII 100:500",
    "UID SORT (SUBJECT) UTF-8 SUBJECT meeting",
    "UID SORT (REVERSE DISPLAYFROM) UTF-8 NOT SUBJECT budget",
    "SORT (DATE) UTF-8 DELETED",
    "SORT (FROM) UTF-8 SEEN",
    "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (ALL) (DATE) UTF-8 1:300",
    "SORT RETURN (PARTIAL 5:20) (SUBJECT) UTF-8 ALL",
    "UID SORT RETURN (PARTIAL 1:50) (DISPLAYTO) UTF-8 ALL",
]


def _served(workdir: Path, store: str) -> ServerProcess:
    return ServerProcess(workdir, store=store)  # started (once) by the with


def _fill_imap(port: int) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("alice", "secret")
    for raw, when in _messages():
        if b"\x00" in raw:
            continue  # a NUL is refused in a literal (RFC 3501 §4.3); kept in-process above
        typ, data = c.append("INBOX", "", imaplib.Time2Internaldate(when), raw)
        assert typ == "OK", data
    c.select("INBOX")
    # gaps, flags, and messages shared with another mailbox by COPY
    c.store(",".join(map(str, range(5, 40, 3))), "+FLAGS.SILENT", r"(\Deleted)")
    c.expunge()
    c.store(",".join(map(str, range(1, 200, 2))), "+FLAGS.SILENT", r"(\Seen)")
    c.store("300:320", "+FLAGS.SILENT", r"(\Deleted)")
    c.create("Other")
    c.copy("1:100", "Other")
    return c


def _answers(c: imaplib.IMAP4) -> list[list[bytes]]:
    out = []
    for command in COMMANDS:
        tag = c._new_tag().decode()  # type: ignore[attr-defined]
        c.send(f"{tag} {command}\r\n".encode())
        lines = []
        while True:
            line = c.readline()
            if line.startswith(tag.encode()):
                assert line.split()[1] == b"OK", (command, line)
                break
            lines.append(line.replace(tag.encode(), b"TAG"))
        out.append(lines)
    return out


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_sort_command_equals_memory_store(tmp_path: Path, engine: str) -> None:
    if engine == "sqlite":
        url = f"sqlite:{tmp_path / 'mail.db'}"
    else:
        from tests.conformance.imaptest_run import resolve_store

        url = resolve_store("postgresql:", tmp_path)
    with _served(tmp_path / "mem", "memory") as memory, _served(tmp_path / "sql", url) as sql:
        a, b = _fill_imap(memory.imap_port), _fill_imap(sql.imap_port)
        expected, got = _answers(a), _answers(b)
        for command, e, g in zip(COMMANDS, expected, got, strict=True):
            assert g == e, command
            assert len(b"".join(e)) > 10, command
        # THREAD caches every message's keys in the server process: SORT
        # then sorts those (mailframe.imap.commands.sort_store), same answers
        typ, _ = b._simple_command("THREAD", "REFERENCES", "UTF-8", "ALL")  # type: ignore[attr-defined]
        assert typ == "OK"
        assert _answers(b) == expected
        a.logout()
        b.logout()
