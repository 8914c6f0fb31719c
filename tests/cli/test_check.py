"""``mailframe check`` / ``reindex``: find and repair index/file
disagreements, never losing mail."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli._support import mf, ok


def _deliver(tmp_path: Path, n: int) -> str:
    store = "maildir:" + str(tmp_path / "mail")
    for i in range(n):
        r = mf("deliver", "--store", store, "-u", "alice",
               stdin=f"Subject: m{i}\nMessage-ID: <{i}@x>\n\nbody {i}\n".encode())
        assert r.returncode == 0, r.stderr
    return store


def test_check_reports_and_repairs(tmp_path: Path) -> None:
    store = _deliver(tmp_path, 4)
    inbox = tmp_path / "mail" / "alice"
    assert "consistent" in ok("check", "alice", "--store", store)
    # UID 1's file, by its base name in dovecot-uidlist ("1 :BASE" or
    # "1 K... :BASE"); names sort by time, which ties within a second
    records = (inbox / "dovecot-uidlist").read_text().splitlines()[1:]
    base = next(line.split(" :", 1)[1].split(":2,")[0]
                for line in records if line.split(" ", 1)[0] == "1")
    first = next(n for n in os.listdir(inbox / "cur") if n.split(":2,")[0] == base)
    # a file gone behind the index's back, one dropped in with no UID, and a
    # damaged cache blob
    (inbox / "cur" / first).unlink()
    (inbox / "cur" / "1700000000.stray.host:2,S").write_bytes(b"Subject: stray\n\nhi\n")
    cache = inbox / "mailframe-cache"
    data = bytearray(cache.read_bytes())
    idx = data.index(b"3\n")
    data[idx + 2 : idx + 12] = b"#" * 10
    cache.write_bytes(bytes(data))
    r = mf("check", "alice", "--store", store, "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)["mailboxes"][0]
    assert report["index_without_file"] == [1]
    assert report["files_without_uid"] == ["cur/1700000000.stray.host:2,S"]
    assert report["bad_cache"] == [3]
    text = mf("check", "alice", "--store", store)
    assert text.returncode == 1 and b"without a UID" in text.stdout
    ok("check", "alice", "--store", store, "--repair")
    again = json.loads(ok("check", "alice", "--store", store, "--json"))
    assert again["ok"] and again["problems"] == 0
    # nothing deleted: the three left and the stray are all there, UIDs kept
    listed = json.loads(ok("mailbox", "status", "alice", "INBOX", "--json", "--store", store))
    assert listed["messages"] == 4
    assert b"body 1" in mf("mailbox", "fetch", "alice", "INBOX", "2", "--store", store).stdout
    assert b"stray" in mf("mailbox", "fetch", "alice", "INBOX", "5", "--store", store).stdout


def test_reindex_keeps_uids(tmp_path: Path) -> None:
    store = _deliver(tmp_path, 3)
    (tmp_path / "mail" / "alice" / "mailframe-index").write_bytes(b"garbage\n")
    out = json.loads(ok("reindex", "alice", "INBOX", "--store", store, "--json"))
    assert out == [{"mailbox": "INBOX", "messages": 3}]
    for uid in (1, 2, 3):
        body = mf("mailbox", "fetch", "alice", "INBOX", str(uid), "--store", store).stdout
        assert f"body {uid - 1}".encode() in body
    assert mf("reindex", "alice", "Nope", "--store", store).returncode == 1
