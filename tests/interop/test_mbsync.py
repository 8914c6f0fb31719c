"""mbsync (Debian ``isync``): two-way sync of several folders with flags,
changes on both sides, synced again, no duplicates, nothing lost."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.interop import messages as M
from tests.interop.cli_support import bulk_append, need, run, seed, server_view
from tests.interop.conftest import Account
from tests.interop.imaplib_support import connect, ok
from tests.interop.maildir_view import deliver, folder_view, remove, set_flags

SEEN, FLAGGED, ANSWERED = b"\\Seen", b"\\Flagged", b"\\Answered"


def _config(account: Account, home: Path) -> Path:
    cfg = home / "mbsyncrc"
    (home / "mail").mkdir()
    cfg.write_text(f"""\
IMAPAccount test
Host {account.host}
Port {account.port}
User {account.user}
Pass {account.password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path {home}/mail/
Inbox {home}/inbox
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Remove None
Expunge Both
Sync All
SyncState *
""")
    return cfg


def _mbsync(cfg: Path, *options: str) -> subprocess.CompletedProcess[bytes]:
    mbsync = need("mbsync", "isync")
    return run([mbsync, *options, "-c", str(cfg), "-a"], timeout=60)


def _mid(message: bytes) -> bytes:
    return message.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]


def test_mbsync_two_way(account: Account, tmp_path: Path) -> None:
    need("mbsync", "isync")
    a1, a2 = M.plain("a1"), M.plain("a2")
    p1, p2 = M.plain("python-1"), M.plain("python-2")
    seed(account, "INBOX", [(M.SIMPLE, r"(\Seen)"), (M.MULTIPART, r"(\Flagged)"), (a1, None)])
    seed(account, "Lists/python", [(p1, r"(\Seen \Answered)"), (p2, None)])
    seed(account, "Archive", [(a2, r"(\Seen)")])
    s1 = M.plain("sent-1")
    seed(account, "Sent Items", [(s1, r"(\Seen \Draft)")])
    cfg = _config(account, tmp_path)
    _mbsync(cfg)

    inbox, python, archive = tmp_path / "inbox", tmp_path / "mail/Lists/python", tmp_path / "mail/Archive"
    expected = {
        "INBOX": {_mid(M.SIMPLE): {SEEN}, _mid(M.MULTIPART): {FLAGGED}, _mid(a1): set()},
        "Lists/python": {_mid(p1): {SEEN, ANSWERED}, _mid(p2): set()},
        "Archive": {_mid(a2): {SEEN}},
    }
    assert folder_view(tmp_path / "mail/Sent Items") == {_mid(s1): {SEEN, b"\\Draft"}}
    assert folder_view(inbox) == expected["INBOX"]
    assert folder_view(python) == expected["Lists/python"]
    assert folder_view(archive) == expected["Archive"]
    # Bodies arrive intact (mbsync stores LF line ends locally).
    files = [p for p in (inbox / "cur").iterdir()] + [p for p in (inbox / "new").iterdir()]
    assert any(p.read_bytes().endswith(b"\n\n" + M.MULTIPART_TEXT.replace(b"\r\n", b"\n"))
               for p in files)

    # Changes on the server: flag, new mail, expunge.
    c = connect(account)
    ok(c.select("INBOX"))
    ok(c.store("3", "+FLAGS.SILENT", r"(\Flagged \Seen)"))       # a1
    ok(c.store("1", "+FLAGS.SILENT", r"\Deleted"))               # SIMPLE
    ok(c.expunge())
    a3 = M.plain("a3-server-new")
    ok(c.append("Archive", r"(\Answered)", None, a3))
    c.logout()
    # Changes locally: flags, a new message, a deletion, a new folder.
    set_flags(python, _mid(p2), "S")
    set_flags(inbox, _mid(M.MULTIPART), "")
    remove(archive, _mid(a2))
    p3 = M.plain("python-3-local")
    deliver(python, "1700000000.local1.host", p3)
    d1 = M.plain("draft-local")
    deliver(tmp_path / "mail/Drafts", "1700000001.local2.host", d1)

    _mbsync(cfg)
    expected = {
        "INBOX": {_mid(M.MULTIPART): set(), _mid(a1): {FLAGGED, SEEN}},
        "Lists/python": {_mid(p1): {SEEN, ANSWERED}, _mid(p2): {SEEN}, _mid(p3): set()},
        "Archive": {_mid(a3): {ANSWERED}},
        "Drafts": {_mid(d1): set()},
        "Sent Items": {_mid(s1): {SEEN, b"\\Draft"}},
    }
    for folder, want in expected.items():
        assert server_view(account, folder) == want, folder
    assert folder_view(inbox) == expected["INBOX"]
    assert folder_view(python) == expected["Lists/python"]
    assert folder_view(archive) == expected["Archive"]
    assert folder_view(tmp_path / "mail/Drafts") == expected["Drafts"]

    # A third run changes nothing and duplicates nothing.
    _mbsync(cfg)
    for folder, want in expected.items():
        assert server_view(account, folder) == want, folder
    assert folder_view(python) == expected["Lists/python"]
    c = connect(account)
    assert sorted(ok(c.list())) == sorted([
        b'(\\HasNoChildren) "/" INBOX', b'(\\HasNoChildren) "/" Archive',
        b'(\\HasNoChildren) "/" Drafts', b'(\\HasChildren) "/" Lists',
        b'(\\HasNoChildren) "/" Lists/python', b'(\\HasNoChildren) "/" "Sent Items"'])
    c.logout()


def test_mbsync_many_messages_pipelined(account: Account, tmp_path: Path) -> None:
    """200 messages of assorted sizes pulled in one run (mbsync pipelines
    its FETCHes), then 50 flag changes pushed back: every message arrives
    once, intact, and the flags land on the right messages."""
    need("mbsync", "isync")
    bulk = [M.plain(f"bulk-{i}", f"line {i}\r\n" * (1 + (i * 37) % 400)) for i in range(200)]
    seed(account, "Bulk", [])
    bulk_append(account, "Bulk", [(m, r"(\Seen)" if i % 3 == 0 else None) for i, m in enumerate(bulk)])
    cfg = _config(account, tmp_path)
    trace = _mbsync(cfg, "-Dn").stdout.decode("utf-8", "replace")
    # mbsync pipelined its commands and the server answered every one, in
    # order, each with OK (a server that stalls on pipelined input makes
    # mbsync time out instead; how fast is measured in bench/)
    sent = re.findall(r"(?m)^(?:\(\d+ in progress\) )?>>> (\d+) ", trace)
    done = re.findall(r"(?m)^(\d+) (OK|NO|BAD)\b", trace)
    assert [tag for tag, _ in done] == sent and {st for _, st in done} == {"OK"}, trace[-2000:]
    in_flight = [int(n) for n in re.findall(r"(?m)^\((\d+) in progress\) >>> ", trace)]
    assert max(in_flight, default=0) >= 10, "mbsync did not pipeline its FETCHes"
    folder = tmp_path / "mail/Bulk"
    view = folder_view(folder)
    assert view == {_mid(m): ({SEEN} if i % 3 == 0 else set()) for i, m in enumerate(bulk)}
    # Byte-exact apart from LF line ends and the X-TUID header mbsync adds.
    local = sorted(re.sub(rb"(?m)^X-TUID: .*\n", b"", p.read_bytes())
                   for sub in ("cur", "new") for p in (folder / sub).iterdir())
    assert local == sorted(m.replace(b"\r\n", b"\n") for m in bulk)

    for i in range(0, 200, 4):
        set_flags(folder, _mid(bulk[i]), "F" + ("S" if i % 3 == 0 else ""))
    _mbsync(cfg)
    want = {_mid(m): ({SEEN} if i % 3 == 0 else set()) | ({FLAGGED} if i % 4 == 0 else set())
            for i, m in enumerate(bulk)}
    assert server_view(account, "Bulk") == want
