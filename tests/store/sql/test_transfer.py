"""``mailframe import`` / ``export`` through the SQLite store: a Maildir
tree into SQLite and back out to Maildir keeps every UIDVALIDITY, UID,
flag, keyword, internal date and byte."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cli._support import ok
from tests.cli.test_transfer import _dump, _fill

ROOT = str(Path(__file__).resolve().parents[3])


def _dump_apart(url: str, user: str) -> Any:
    """``_dump`` in a process of its own: a SQL store's Deferreds need the
    reactor, which runs once per process."""
    code = (
        "import pickle, sys\n"
        "from tests.cli.test_transfer import _dump\n"
        f"sys.stdout.buffer.write(pickle.dumps(_dump({url!r}, {user!r})))\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        check=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    return pickle.loads(out.stdout)


def test_maildir_to_sqlite_and_back_is_identical(tmp_path: Path) -> None:
    _fill(tmp_path / "orig", "alice", 120)
    before = _dump("maildir:" + str(tmp_path / "orig"), "alice")
    store = f"sqlite:{tmp_path / 'mail.db'}"
    out = json.loads(
        ok("import", str(tmp_path / "orig" / "alice"), "bob", "--store", store, "--json")
    )
    assert out["copied"] == 118 and out["renumbered"] == 0
    assert all(m["uids_kept"] for m in out["mailboxes"])
    assert _dump_apart(store, "bob") == before
    ok("export", "bob", "maildir:" + str(tmp_path / "back" / "carol"), "--store", store)
    assert _dump("maildir:" + str(tmp_path / "back"), "carol") == before
    again = json.loads(
        ok("import", str(tmp_path / "orig" / "alice"), "bob", "--store", store, "--json")
    )
    assert (again["copied"], again["skipped"]) == (0, 118)
    assert _dump_apart(store, "bob") == before
