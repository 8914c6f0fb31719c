"""``mailframe db check`` / ``db migrate`` on real databases, run as a user
runs them (a child process)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mailframe.store.sql import open_postgresql, open_sqlite
from mailframe.store.sql.db import Tx
from mailframe.store.sql.rows import Prepared, append_rows, bump, create_row, expunge_rows
from mailframe.store.sql.schema import SCHEMA_VERSION
from tests.cli._support import mf, ok
from tests.store.sql.pgcluster import new_database


def _fill(tx: Tx) -> int:
    account = tx.one("INSERT INTO accounts (username) VALUES ('alice') RETURNING id")[0]
    box = create_row(tx, int(account), "INBOX")
    big = b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 40_000  # chunked (> 256 KiB)
    messages = [b"Subject: a\r\n\r\none\r\n", b"Subject: b\r\n\r\ntwo\r\n", big]
    result = append_rows(tx, box, [Prepared(m, frozenset(), None) for m in messages])
    assert result is not None
    bumped = bump(tx, box)
    assert bumped is not None
    expunge_rows(tx, box, [2], bumped[1])
    return box


def _sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "mail.db"
    store = open_sqlite(str(path))
    store.db.run_sync(_fill, write=True)
    store.db.stop_now()
    return path


def test_check_consistent_counts(tmp_path: Path) -> None:
    path = _sqlite_db(tmp_path)
    out = json.loads(ok("db", "check", "--store", f"sqlite:{path}", "--bodies", "--json"))
    assert out["ok"] and out["problems"] == []
    assert out["schema_version"] == SCHEMA_VERSION
    assert out["counts"]["mailbox_messages"] == 2
    assert out["counts"]["messages"] == 2  # the expunged one collected
    assert out["counts"]["text_documents"] == 2
    assert out["counts"]["sort_keys"] == 2
    assert out["counts"]["expunged"] == 1
    assert out["counts"]["body_chunks"] >= 2


def test_check_finds_and_repairs(tmp_path: Path) -> None:
    path = _sqlite_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    # an orphaned body and message (a crash between statements could not
    # leave these -- one transaction -- but a hand edit or a bug could)
    conn.execute("INSERT INTO bodies (hash, size, content, chunks) VALUES ('x', 1, x'41', 0)")
    body = conn.execute("SELECT max(id) FROM bodies").fetchone()[0]
    conn.execute(
        "INSERT INTO messages (body_id, size, internaldate, internaldate_ts, info, info_version) "
        "VALUES (?, 1, '2024-01-01T00:00:00+00:00', 0, x'00', 0)",
        (body,),
    )
    conn.execute("INSERT INTO bodies (hash, size, content, chunks) VALUES ('y', 1, x'42', 0)")
    conn.execute("DELETE FROM search_fts WHERE rowid = 1")  # an unindexed message
    conn.execute(  # SORT keys lost
        "DELETE FROM message_sort WHERE message_id = (SELECT min(message_id) FROM mailbox_messages)"
    )
    conn.execute("UPDATE mailboxes SET uidnext = 2")  # UIDs would be reused
    conn.execute("UPDATE bodies SET content = x'00' WHERE id = 1")  # damaged bytes
    conn.close()

    r = mf("db", "check", "--store", f"sqlite:{path}")
    assert r.returncode == 1
    text = r.stdout.decode()
    for needle in [
        "orphaned messages",
        "orphaned bodies",
        "messages missing from the text index",
        "messages without their SORT keys",
        "UIDNEXT is not above",
        "do not add up to their size",
    ]:
        assert needle in text, (needle, text)

    r = mf("db", "check", "--store", f"sqlite:{path}", "--repair", "--json")
    out = json.loads(r.stdout)
    # the orphaned message, its body and the other orphaned body; one
    # document; one message's SORT keys
    assert out["repaired"] == 5
    remaining = "\n".join(out["problems"])
    assert "orphaned" not in remaining and "text index" not in remaining
    assert "SORT keys" not in remaining
    # what repair must not touch: held messages' bytes and counters
    assert "UIDNEXT is not above" in remaining and "add up to their size" in remaining
    assert r.returncode == 1


def test_migrate_a_version_1_database(tmp_path: Path) -> None:
    path = _sqlite_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE search_fts")
    conn.execute("DROP INDEX messages_text_unusual")
    conn.execute("ALTER TABLE messages DROP COLUMN text_state")
    conn.execute("ALTER TABLE mailboxes DROP COLUMN expunge_floor")
    conn.execute("DROP INDEX expunged_modseq")
    conn.execute("ALTER TABLE expunged DROP COLUMN at")
    conn.execute("CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq)")
    conn.execute("DELETE FROM counters WHERE name = 'text_version'")
    conn.execute("DROP TABLE message_sort")
    conn.execute("DELETE FROM counters WHERE name = 'sort_version'")
    conn.execute("ALTER TABLE mailboxes DROP COLUMN used_messages")
    conn.execute("ALTER TABLE mailboxes DROP COLUMN used_bytes")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.close()
    r = mf("db", "check", "--store", f"sqlite:{path}")
    assert r.returncode == 1 and b"run `mailframe db migrate`" in r.stdout
    out = json.loads(ok("db", "migrate", "--store", f"sqlite:{path}", "--json"))
    assert out == {"from": 1, "to": SCHEMA_VERSION, "indexed": 2}
    assert "consistent" in ok("db", "check", "--store", f"sqlite:{path}")


def test_migrate_a_version_3_database(tmp_path: Path) -> None:
    """3 -> 4 by ``db migrate``: the text index rebuilt (four columns)."""
    from tests.store.sql.test_migrate import _as_version_3

    path = _sqlite_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    _as_version_3("sqlite", conn.execute)
    conn.close()
    r = mf("db", "check", "--store", f"sqlite:{path}")
    assert r.returncode == 1 and b"run `mailframe db migrate`" in r.stdout
    out = json.loads(ok("db", "migrate", "--store", f"sqlite:{path}", "--json"))
    assert out == {"from": 3, "to": SCHEMA_VERSION, "indexed": 2}
    assert "consistent" in ok("db", "check", "--store", f"sqlite:{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(search_fts)")]
    conn.close()
    assert columns == ["hdr", "fields", "body", "nested"]


def test_wrong_urls(tmp_path: Path) -> None:
    r = mf("db", "check", "--store", f"sqlite:{tmp_path}/absent.db")
    assert r.returncode == 2 and b"no database at" in r.stderr
    r = mf("db", "check", "--store", f"maildir:{tmp_path}")
    assert r.returncode == 2 and b"not a database store URL" in r.stderr


def test_check_postgresql() -> None:
    conninfo = new_database()
    store = open_postgresql(conninfo, listen=False)
    store.db.run_sync(_fill, write=True)
    store.db.stop_now()
    url = "postgresql:///?" + "&".join(
        f"{k}={v}" for k, v in (part.split("=", 1) for part in conninfo.split())
    )
    out = json.loads(ok("db", "check", "--store", url, "--bodies", "--json"))
    assert out["ok"], out
    assert out["counts"]["text_documents"] == 2
