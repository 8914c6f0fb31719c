"""Expunge-log pruning (RFC 7162 §3.2.5.2): tombstones dropped by count
and by age, the floor recorded, ``expunged_since`` saying ``None`` below
it and ``changes_since`` then reporting every UID that is not there; the
store URL options and ``mailframe db prune``.  Both engines."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mailframe import interfaces
from mailframe.store.sql import SqlStore, open_postgresql, open_sqlite, sqlite_from_url
from mailframe.store.sql.db import Tx
from mailframe.store.sql.mailbox import SqlMailbox
from mailframe.store.sql.prune import prune
from mailframe.store.sql.rows import Prepared, append_rows, bump, create_row, expunge_rows
from tests.cli._support import ok
from tests.store.sql.pgcluster import new_database


def _run(store: SqlStore, fn: Callable[[Tx], object], write: bool = True) -> object:
    return store.db.run_sync(fn, write)[0]


def _history(store: SqlStore) -> tuple[int, list[int]]:
    """A mailbox of 10 messages; UIDs 1-2, 3-4, 5-6, 7 expunged by four
    EXPUNGEs.  Returns (mailbox id, the modseq before each expunge)."""

    def fill(tx: Tx) -> tuple[int, list[int]]:
        account = tx.one("INSERT INTO accounts (username) VALUES ('u') RETURNING id")[0]
        box = create_row(tx, int(account), "INBOX")
        raw = [f"Subject: {i}\r\n\r\n{i}\r\n".encode() for i in range(10)]
        assert append_rows(tx, box, [Prepared(r, frozenset(), None) for r in raw])
        before = []
        for uids in ([1, 2], [3, 4], [5, 6], [7]):
            bumped = bump(tx, box)
            assert bumped is not None
            before.append(bumped[1] - 1)
            expunge_rows(tx, box, uids, bumped[1])
        return box, before

    return _run(store, fill)  # type: ignore[return-value]


def _since(store: SqlStore, box: SqlMailbox, modseq: int) -> list[int] | None:
    return _run(store, lambda tx: box._expunged_since(tx, modseq), False)  # type: ignore[return-value]


def _changes(store: SqlStore, box: SqlMailbox, modseq: int) -> tuple[int, ...]:
    changes = _run(store, lambda tx: box.changes_in(tx, modseq), False)
    return changes.expunged  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> SqlStore:
    if request.param == "sqlite":
        s = open_sqlite(tempfile.mkdtemp(prefix="sql-prune-") + "/mail.db")
    else:
        s = open_postgresql(new_database(), listen=False)
    request.addfinalizer(s.db.stop_now)
    return s


def test_prune_by_count_sets_the_floor(store: SqlStore) -> None:
    box_id, before = _history(store)
    box = SqlMailbox(store, box_id, "INBOX")
    assert _since(store, box, before[0]) == [1, 2, 3, 4, 5, 6, 7]
    dropped = _run(store, lambda tx: prune(tx, None, 3))  # keep the newest 3: UIDs 5, 6, 7
    assert dropped == 4
    assert _since(store, box, before[0]) is None  # 1-4 forgotten: say so
    assert _since(store, box, before[1]) is None
    assert _since(store, box, before[2]) == [5, 6, 7]  # from the floor on: complete
    assert _since(store, box, before[3]) == [7]
    # changes_since from below the floor: every UID that is not there
    assert _changes(store, box, before[0]) == (1, 2, 3, 4, 5, 6, 7)


def test_prune_by_age(store: SqlStore) -> None:
    box_id, before = _history(store)
    box = SqlMailbox(store, box_id, "INBOX")
    _run(store, lambda tx: tx.execute("UPDATE expunged SET at = 1000 WHERE uid <= 4"))
    assert _run(store, lambda tx: prune(tx, 3600, None, now=1000 + 7200)) == 4
    assert _since(store, box, before[1]) is None
    assert _since(store, box, before[2]) == [5, 6, 7]
    assert _run(store, lambda tx: prune(tx, 3600, None, now=1000 + 7200)) == 0


def test_one_expunge_goes_whole(store: SqlStore) -> None:
    """Tombstones of one EXPUNGE share a modseq; the count limit never
    splits them (else the floor would claim a half-known modseq)."""
    box_id, before = _history(store)
    box = SqlMailbox(store, box_id, "INBOX")
    _run(store, lambda tx: prune(tx, None, 2))  # newest 2: UIDs 7 and 6; 5 shares 6's modseq
    assert _since(store, box, before[2]) is None
    assert _since(store, box, before[3]) == [7]


def test_the_qresync_seam() -> None:
    """SqlMailbox answers IExpungeHistory where the framework has it."""
    history = getattr(interfaces, "IExpungeHistory", None)
    assert hasattr(SqlMailbox, "expunged_since")
    if history is not None:
        assert history.implementedBy(SqlMailbox)


def test_url_options_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "mail.db"
    store = sqlite_from_url(f"sqlite:{path}?expunge_keep=3")
    try:
        assert store._pruner is not None and store._pruner.running
    finally:
        store.keep_expunged(None, None)
        store.db.stop_now()
    store = open_sqlite(str(path))
    _history(store)
    store.db.stop_now()
    out = json.loads(ok("db", "prune", "--store", f"sqlite:{path}", "--keep", "1", "--json"))
    assert out == {"dropped": 6}
    with pytest.raises(ValueError):
        sqlite_from_url(f"sqlite:{path}?expunge_days=0")
