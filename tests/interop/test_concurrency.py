"""Several clients at once, and other programs writing the Maildir:
concurrent APPENDs from many connections, an IDLE session hearing all of
them, mail dropped into the Maildir by another program (an MDA), and
CONDSTORE (RFC 7162) as IMAPClient uses it."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from imapclient import IMAPClient

from tests.interop import messages as M
from tests.interop.conftest import Account, mail_root
from tests.interop.imaplib_support import connect, ok


def client(account: Account) -> IMAPClient:
    c = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    c.login(account.user, account.password)
    return c


def test_concurrent_appends_unique_uids_and_idle_hears_all(account: Account) -> None:
    writers, per_writer = 4, 8
    watcher = connect(account)
    ok(watcher.select("INBOX"))
    watcher.send(b"W1 IDLE\r\n")
    assert watcher.readline().startswith(b"+ ")

    def write(n: int) -> list[int]:
        c = client(account)
        uids = []
        for i in range(per_writer):
            resp = c.append("INBOX", M.plain(f"w{n}-{i}", f"writer {n} message {i}\r\n"))
            uids.append(int(resp.split()[2].rstrip(b"]")))  # [APPENDUID v uid]
        c.logout()
        return uids

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(write, range(writers)))
    total = writers * per_writer
    all_uids = sorted(u for r in results for u in r)
    assert all_uids == list(range(1, total + 1))
    for r in results:
        assert r == sorted(r)  # each writer's UIDs ascend

    # The IDLE session was told; the last EXISTS it saw counts everything.
    # (the socket timeout only keeps a server that stops pushing from
    # hanging the test; push latency is measured in bench/)
    watcher.sock.settimeout(30.0)
    last_exists = 0
    while last_exists < total:
        line = watcher.readline()
        assert line.startswith(b"* "), line  # only untagged news while idling
        if line.endswith(b" EXISTS\r\n"):
            last_exists = int(line.split()[1])
    assert last_exists == total
    watcher.sock.settimeout(10)
    watcher.send(b"DONE\r\n")
    while not watcher.readline().startswith(b"W1 "):
        pass
    found = ok(watcher.search(None, "BODY", "writer"))[0].split()
    assert len(found) == total
    watcher.logout()


def test_mail_dropped_into_maildir_by_another_program(account: Account) -> None:
    """An MDA writes tmp/ then renames into new/ (the Maildir protocol); an
    idling client hears EXISTS, and a flag set by renaming the file (as a
    local mail reader does) shows up as a FETCH FLAGS update."""
    c = connect(account)
    ok(c.append("INBOX", None, None, M.SIMPLE))  # creates the Maildir
    ok(c.select("INBOX"))
    c.take()
    maildir = mail_root(account) / account.user
    assert (maildir / "new").is_dir() or (maildir / "cur").is_dir()
    c.send(b"I1 IDLE\r\n")
    assert c.readline().startswith(b"+ ")
    c.sock.settimeout(30.0)  # a guard against hanging, not a latency bound (bench/)

    name = f"{int(time.time())}.M1P{os.getpid()}.otherprogram"
    (maildir / "tmp").mkdir(exist_ok=True)
    (maildir / "tmp" / name).write_bytes(M.MULTIPART)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)
    got = c.readline()  # pushed while the client sends nothing (RFC 2177)
    assert got == b"* 2 EXISTS\r\n", got

    # Seen by another program: new/NAME -> cur/NAME:2,S
    def find() -> str:
        for sub in ("new", "cur"):
            for entry in os.listdir(maildir / sub):
                if entry.startswith(name):
                    return os.path.join(sub, entry)
        raise AssertionError("delivered file vanished")

    current = find()
    os.rename(maildir / current, maildir / "cur" / (name + ":2,S"))
    lines: list[bytes] = []
    while len(lines) < 10:
        line = c.readline()
        lines.append(line)
        if b"FETCH" in line:
            break
    assert any(line.startswith(b"* 2 FETCH (FLAGS (") and b"\\Seen" in line for line in lines), lines
    c.sock.settimeout(10)
    c.send(b"DONE\r\n")
    while not c.readline().startswith(b"I1 "):
        pass
    assert ok(c.fetch("2", "(BODY.PEEK[])"))[0][1] == M.MULTIPART
    c.logout()


def test_condstore_with_imapclient(account: Account) -> None:
    c = client(account)
    assert b"CONDSTORE" in c.capabilities()
    c.append("INBOX", M.SIMPLE)
    c.append("INBOX", M.MULTIPART)
    info = c.select_folder("INBOX")
    base = info[b"HIGHESTMODSEQ"]
    got = c.fetch([1, 2], ["MODSEQ", "FLAGS"])
    modseqs = {uid: d[b"MODSEQ"][0] for uid, d in got.items()}
    assert all(0 < m <= base for m in modseqs.values())
    c.add_flags([2], [b"\\Flagged"])
    changed = c.fetch([1, 2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {base}"])
    assert list(changed) == [2]
    assert set(changed[2][b"FLAGS"]) == {b"\\Flagged", b"\\Recent"}
    assert changed[2][b"MODSEQ"][0] > base
    assert c.search(["MODSEQ", str(base + 1)]) == [2]
    # STORE UNCHANGEDSINCE fails for a message changed after that modseq.
    c._imap.untagged_responses.clear()
    typ, _ = c._imap.uid("STORE", "2", f"(UNCHANGEDSINCE {base})", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    assert c._imap.untagged_responses.get("MODIFIED") == [b"2"]
    assert set(c.get_flags([2])[2]) == {b"\\Flagged", b"\\Recent"}
    c.logout()
