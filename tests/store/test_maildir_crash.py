"""Crash safety and many writers on one Maildir, with real processes.

- A child appends in a loop and reports each UID it was told; it is killed
  with SIGKILL at random moments, several times.  Every reported message
  must be there, intact, under the reported UID; UIDs only ascend; a
  damaged index repairs itself.
- Two stores in two processes and an external MDA-like writer dropping
  files into ``new/``, all at once: no UID is given twice, none is lost.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = r"""
import hashlib, sys
from mailframe.store.maildir import MaildirStore

def result(d):
    out = []
    d.addBoth(out.append)
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]

path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
box = result(result(MaildirStore(path).account("u")).mailbox("INBOX"))
print("READY", flush=True)
if count >= 0:
    sys.stdin.readline()  # wait for "GO", so that writers really overlap
i = 0
while count < 0 or i < count:
    body = b"%s-%d " % (tag.encode(), i) * 50
    msg = (b"Subject: %s %d\r\nX-Sum: %s\r\n\r\n" % (tag.encode(), i,
           hashlib.sha1(body).hexdigest().encode())) + body + b"\r\n"
    uid = result(box.append(msg, frozenset({"\\Seen"} if i % 3 == 0 else ()), None))
    print("OK", uid, i, flush=True)
    i += 1
print("DONE", flush=True)
"""




def expected_message(tag: str, i: int) -> bytes:
    body = b"%s-%d " % (tag.encode(), i) * 50
    head = b"Subject: %s %d\r\nX-Sum: %s\r\n\r\n" % (
        tag.encode(),
        i,
        hashlib.sha1(body).hexdigest().encode(),
    )
    return head + body + b"\r\n"


def spawn(path: str, tag: str, count: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, tag, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == b"READY\n", line
    return proc


def acks(lines: list[bytes]) -> list[tuple[int, int]]:
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"OK":
            out.append((int(parts[1]), int(parts[2])))
    return out


def check_box(path: str, acked: dict[int, bytes]) -> list[int]:
    store = MaildirStore(path)
    box = result(result(store.account("u")).mailbox("INBOX"))
    snap = result(box.snapshot())
    uids = [s.uid for s in snap.messages]
    assert uids == sorted(set(uids))
    for uid, content in acked.items():
        assert uid in uids, f"acknowledged UID {uid} lost"
        assert result(box.read(uid)) == content, f"UID {uid} damaged"
    for record in result(box.records(uids)):
        assert record.size > 0
    result(store.close())
    return uids


def test_sigkill_loses_no_acknowledged_message() -> None:
    path = tempfile.mkdtemp(prefix="mf-crash-")
    try:
        _crash_rounds(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _crash_rounds(path: str) -> None:
    rng = random.Random(4)
    acked: dict[int, bytes] = {}
    last_uid = 0
    for round_ in range(5):
        tag = f"r{round_}"
        proc = spawn(path, tag, -1)
        time.sleep(rng.uniform(0.05, 0.35))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        got = acks(out.splitlines())
        for uid, i in got:
            assert uid > last_uid, "UIDs must only ascend, across crashes too"
            last_uid = uid
            acked[uid] = expected_message(tag, i)
        index = os.path.join(path, "u", "mailframe-index")
        if round_ == 2 and os.path.exists(index):
            # damage the index in the middle: it must be rebuilt, not trusted
            with open(index, "r+b") as f:
                f.seek(os.path.getsize(index) // 2)
                f.write(b"\x00garbage\tline\n")
        if round_ == 3 and os.path.exists(index):
            os.unlink(index)
    assert len(acked) >= 5, "the child appended almost nothing"
    print(f"{len(acked)} acknowledged appends over 5 SIGKILLed children")
    uids = check_box(path, acked)
    # whatever was renamed into cur/ but not acknowledged is a whole message
    # (it may be there, with a UID above every acknowledged one before it)
    store = MaildirStore(path)
    box = result(result(store.account("u")).mailbox("INBOX"))
    for uid in uids:
        data = result(box.read(uid))
        assert data.startswith(b"Subject: r") and data.endswith(b"\r\n"), data[:40]
    # one more writer after the crashes gets a fresh, larger UID
    new_uid = result(box.append(b"Subject: after\r\n\r\nx\r\n", frozenset(), None))
    assert new_uid > max(uids)
    result(store.close())


@pytest.mark.timeout(60)
def test_two_processes_and_an_mda_never_share_a_uid() -> None:
    path = tempfile.mkdtemp(prefix="mf-conc-")
    try:
        _concurrent_writers(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _concurrent_writers(path: str) -> None:
    # create the Maildir first so the MDA has a new/ to drop into
    result(result(MaildirStore(path).account("u")).mailbox("INBOX"))
    maildir = os.path.join(path, "u")
    a = spawn(path, "a", 40)
    b = spawn(path, "b", 40)
    for proc in (a, b):
        assert proc.stdin is not None
        proc.stdin.write(b"GO\n")
        proc.stdin.flush()
    dropped = []
    for i in range(25):
        data = b"Subject: mda %d\n\nbody %d\n" % (i, i)
        name = f"{int(time.time())}.mda{i}_{os.getpid()}.testhost"
        tmp = os.path.join(maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(maildir, "new", name))
        dropped.append(data.replace(b"\n", b"\r\n"))
        time.sleep(0.01)
    # read through the same buffered pipe spawn() used (communicate() with
    # a timeout would bypass what readline() buffered)
    assert a.stdout is not None and b.stdout is not None
    out_a, out_b = a.stdout.read(), b.stdout.read()
    a.wait(50)
    b.wait(50)
    assert a.returncode == 0 and b.returncode == 0
    acks_a, acks_b = acks(out_a.splitlines()), acks(out_b.splitlines())
    assert len(acks_a) == len(acks_b) == 40
    uids_a, uids_b = [u for u, _ in acks_a], [u for u, _ in acks_b]
    assert uids_a == sorted(uids_a) and uids_b == sorted(uids_b)
    # the writers did overlap: neither got one contiguous block of UIDs
    assert max(uids_a) > min(uids_b) and max(uids_b) > min(uids_a), (uids_a, uids_b)
    assert not set(uids_a) & set(uids_b), "two processes handed out one UID"
    acked = {u: expected_message("a", i) for u, i in acks_a}
    acked.update({u: expected_message("b", i) for u, i in acks_b})
    uids = check_box(path, acked)
    assert len(uids) == 80 + 25, len(uids)
    store = MaildirStore(path)
    box = result(result(store.account("u")).mailbox("INBOX"))
    others = [u for u in uids if u not in acked]
    contents = []
    for uid in others:
        contents.append(result(box.read(uid)))
    assert sorted(contents) == sorted(dropped)
    # the uidlist agrees: every UID once, ascending
    with open(os.path.join(maildir, "dovecot-uidlist")) as f:
        listed = [int(line.split()[0]) for line in f.read().splitlines()[1:]]
    assert listed == sorted(set(listed))
    assert set(uids) <= set(listed)
    result(store.close())


@pytest.mark.timeout(90)
def test_two_servers_and_an_mda_over_imap() -> None:
    """Two ``twistd mailframe`` processes on one Maildir, clients appending
    through both while an MDA drops files into new/: every message gets one
    UID, both servers agree on them, and a session selected on one server
    hears of the other's mail on NOOP."""
    import imaplib
    import threading
    from pathlib import Path

    from tests.support.server import ServerProcess

    work = tempfile.mkdtemp(prefix="mf-2srv-")
    store = "maildir:" + os.path.join(work, "mail")
    one = ServerProcess(Path(work) / "one", store=store)
    two = ServerProcess(Path(work) / "two", store=store)
    try:
        one.start()
        two.start()
        watcher = imaplib.IMAP4("127.0.0.1", one.imap_port)
        watcher.login("alice", "secret")
        watcher.select("INBOX")
        maildir = os.path.join(work, "mail", "alice")
        uids: dict[str, list[int]] = {"one": [], "two": []}

        def client(name: str, port: int) -> None:
            c = imaplib.IMAP4("127.0.0.1", port)
            c.login("alice", "secret")
            for i in range(15):
                typ, data = c.append(
                    "INBOX", None, None, b"Subject: %s %d\r\n\r\nx\r\n" % (name.encode(), i)
                )
                assert typ == "OK", data
                m = data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()
                uids[name].append(int(m[1]))
            c.logout()

        threads = [
            threading.Thread(target=client, args=("one", one.imap_port)),
            threading.Thread(target=client, args=("two", two.imap_port)),
        ]
        for t in threads:
            t.start()
        for i in range(10):
            name = f"{int(time.time())}.mda{i}.testhost"
            with open(os.path.join(maildir, "tmp", name), "wb") as f:
                f.write(b"Subject: mda %d\n\nbody\n" % i)
            os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
            time.sleep(0.03)
        for t in threads:
            t.join(60)
        assert len(uids["one"]) == len(uids["two"]) == 15
        assert not set(uids["one"]) & set(uids["two"])
        seen = []
        for server in (one, two):
            c = imaplib.IMAP4("127.0.0.1", server.imap_port)
            c.login("alice", "secret")
            c.select("INBOX")
            typ, data = c.uid("SEARCH", "ALL")
            assert typ == "OK"
            seen.append([int(u) for u in data[0].split()])
            c.logout()
        assert seen[0] == seen[1]
        assert len(seen[0]) == len(set(seen[0])) == 40
        assert set(uids["one"]) | set(uids["two"]) <= set(seen[0])
        typ, _ = watcher.noop()
        exists = watcher.untagged_responses.get("EXISTS", [b"0"])[-1]
        assert isinstance(exists, bytes) and int(exists) == 40, exists
        watcher.logout()
    finally:
        one.stop()
        two.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.timeout(60)
def test_idle_on_one_server_hears_mail_delivered_by_another_program() -> None:
    """RFC 2177 IDLE on a twistd mailframe hears, within a few seconds,
    mail that another program dropped into new/ (the watcher poll)."""
    import socket
    from pathlib import Path

    from tests.support.server import ServerProcess

    work = tempfile.mkdtemp(prefix="mf-idle-")
    server = ServerProcess(Path(work) / "srv", store="maildir:" + os.path.join(work, "mail"))
    try:
        server.start()
        sock = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
        f = sock.makefile("rwb")

        def command(line: bytes) -> list[bytes]:
            f.write(line + b"\r\n")
            f.flush()
            out: list[bytes] = []
            while True:
                got = f.readline()
                assert got, out
                out.append(got)
                if got.startswith(line.split()[0] + b" "):
                    return out

        f.readline()  # greeting
        assert command(b"a LOGIN alice secret")[-1].startswith(b"a OK")
        assert command(b"b SELECT INBOX")[-1].startswith(b"b OK")
        f.write(b"c IDLE\r\n")
        f.flush()
        assert f.readline().startswith(b"+")
        maildir = os.path.join(work, "mail", "alice")
        name = f"{int(time.time())}.idle.testhost"
        with open(os.path.join(maildir, "tmp", name), "wb") as out:
            out.write(b"Subject: while idling\n\nhello\n")
        os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
        sock.settimeout(30)  # a hang guard only: push latency is measured in bench/
        line = f.readline()  # pushed while the client only listens (RFC 2177)
        assert line == b"* 1 EXISTS\r\n", line
        f.write(b"DONE\r\n")
        f.flush()
        while not (line := f.readline()).startswith(b"c "):
            assert line
        assert line.startswith(b"c OK")
        sock.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
