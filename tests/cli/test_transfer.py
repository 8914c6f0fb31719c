"""``mailframe import`` / ``export``: Maildir trees, stores and mbox files,
keeping UIDVALIDITY, UIDs, flags, keywords and internal dates; resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mailframe.cli._common import wait
from mailframe.store.maildir import MaildirStore
from tests.cli._support import ok
from tests.support.server import PLUGIN_ROOT

FLAGS = [frozenset(), frozenset({"\\Seen"}), frozenset({"\\Seen", "\\Answered", "$Label1"}),
         frozenset({"\\Flagged", "\\Draft", "todo"}), frozenset({"\\Deleted", "\\Seen"})]


def _fill(root: Path, user: str, n: int) -> None:
    """A Maildir tree with ``n`` messages over three mailboxes, with gaps
    in the UIDs (expunged messages) and all kinds of flags."""
    store = MaildirStore(str(root))

    async def go() -> None:
        acct = await store.account(user)
        await acct.create_mailbox("Lists/python")
        await acct.create_mailbox("Sent", frozenset({"\\Sent"}))
        zone = timezone(timedelta(hours=-5))
        for i in range(n):
            name = ("INBOX", "Lists/python", "Sent")[i % 3]
            box = await acct.mailbox(name)
            body = (f"From: s{i}@example.org\r\nSubject: message {i}\r\n"
                    f"Message-ID: <{i}@example.org>\r\n\r\nFrom here on, line {i}\r\n"
                    + "x" * (i % 50) + "\r\n").encode()
            when = datetime(2024, 1, 1, 12, 0, tzinfo=zone) + timedelta(minutes=i)
            await box.append(body, FLAGS[i % len(FLAGS)], when)
        inbox = await acct.mailbox("INBOX")
        await inbox.store([5, 9], "add", frozenset({"\\Deleted"}))
        await inbox.expunge([5, 9])
        await acct.subscribe("Lists/python")
        await store.close()

    wait(go())


def _dump(url: str, user: str) -> dict[str, Any]:
    """Everything that must survive: per mailbox UIDVALIDITY, UIDNEXT and
    per UID the flags, internal date (with zone) and bytes."""
    from mailframe.store import open_store

    store = open_store(url)

    async def go() -> dict[str, Any]:
        acct = await store.account(user)
        out: dict[str, Any] = {"subscriptions": sorted(await acct.subscriptions())}
        for entry in await acct.list_mailboxes():
            box = await acct.mailbox(entry.name)
            snap = await box.snapshot()
            msgs = {}
            for rec in await box.records([s.uid for s in snap.messages]):
                msgs[rec.uid] = (sorted(rec.flags), rec.internaldate.isoformat(), await box.read(rec.uid))
            out[entry.name] = (sorted(entry.attributes), snap.uidvalidity, snap.uidnext, msgs)
        await store.close()
        return out

    return wait(go())


def test_maildir_tree_to_store_and_back_is_identical(tmp_path: Path) -> None:
    _fill(tmp_path / "orig", "alice", 300)
    before = _dump("maildir:" + str(tmp_path / "orig"), "alice")
    assert sum(len(v[3]) for k, v in before.items() if k != "subscriptions") == 298
    store = "maildir:" + str(tmp_path / "server")
    out = json.loads(ok("import", str(tmp_path / "orig" / "alice"), "bob", "--store", store,
                        "--json"))
    assert out["copied"] == 298 and out["renumbered"] == 0
    assert all(m["uids_kept"] for m in out["mailboxes"])
    assert _dump(store, "bob") == before
    ok("export", "bob", "maildir:" + str(tmp_path / "back" / "carol"), "--store", store)
    assert _dump("maildir:" + str(tmp_path / "back"), "carol") == before
    # a second run finds everything there
    again = json.loads(ok("import", str(tmp_path / "orig" / "alice"), "bob", "--store", store,
                          "--json"))
    assert (again["copied"], again["skipped"]) == (0, 298)
    assert _dump(store, "bob") == before


def test_mbox_export_and_import_round_trip(tmp_path: Path) -> None:
    _fill(tmp_path / "orig", "alice", 40)
    src = "maildir:" + str(tmp_path / "orig")
    before = _dump(src, "alice")
    ok("export", "alice", str(tmp_path / "mbox"), "--store", src)
    assert sorted(p.relative_to(tmp_path / "mbox").as_posix()
                  for p in (tmp_path / "mbox").rglob("*.mbox")) == [
        "INBOX.mbox", "Lists.mbox", "Lists/python.mbox", "Sent.mbox"]
    text = (tmp_path / "mbox" / "INBOX.mbox").read_bytes()
    assert b"\n>From here on" in text and b"X-UID: 1\n" in text
    store = "maildir:" + str(tmp_path / "server")
    ok("import", "mbox:" + str(tmp_path / "mbox"), "bob", "--store", store)
    after = _dump(store, "bob")
    for name in ("INBOX", "Lists/python", "Sent"):
        _attrs, validity, uidnext, msgs = before[name]
        _a2, validity2, uidnext2, msgs2 = after[name]
        assert (validity2, uidnext2) == (validity, uidnext)
        assert sorted(msgs2) == sorted(msgs)
        for uid, (flags, when, body) in msgs.items():
            flags2, when2, body2 = msgs2[uid]
            assert (flags2, body2) == (flags, body)
            # mbox keeps the instant (UTC), not the zone
            assert datetime.fromisoformat(when2) == datetime.fromisoformat(when)
    # one mailbox into a single file, and that file into another user's folder
    ok("export", "alice", str(tmp_path / "sent.mbox"), "--mailbox", "Sent", "--store", src)
    ok("import", str(tmp_path / "sent.mbox"), "dave", "--mailbox", "Archive", "--store", store)
    assert len(_dump(store, "dave")["Archive"][3]) == len(before["Sent"][3])


def test_killed_import_resumes(tmp_path: Path) -> None:
    _fill(tmp_path / "orig", "alice", 600)
    before = _dump("maildir:" + str(tmp_path / "orig"), "alice")
    store = "maildir:" + str(tmp_path / "server")
    env = dict(os.environ, PYTHONPATH=PLUGIN_ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "mailframe.cli", "import",
                             str(tmp_path / "orig" / "alice"), "bob", "--store", store],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:  # plain progress lines: not a terminal
        if line.startswith(b"INBOX: ") and int(line.split(b": ")[1].split(b"/")[0]) >= 100:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _dump(store, "bob")
    assert 0 < len(partial["INBOX"][3]) < len(before["INBOX"][3])
    out = json.loads(ok("import", str(tmp_path / "orig" / "alice"), "bob", "--store", store,
                        "--json"))
    assert out["skipped"] >= len(partial["INBOX"][3])
    assert _dump(store, "bob") == before
    assert "consistent" in ok("check", "bob", "--store", store)
