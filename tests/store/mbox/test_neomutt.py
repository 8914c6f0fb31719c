"""neomutt interop on the mbox files a running mailframe serves.

``twistd mailframe --store mbox:...`` serves a user's INBOX file while
neomutt (Debian ``neomutt``: ``+fcntl``, so it locks the file with fcntl as
the store does) opens the very same file directly, driven in a
pseudo-terminal by ``script`` with pushed key commands.  neomutt flags,
deletes and marks unread; an IMAP client IDLEing in the mailbox hears of
each change from the server (RFC 2177, RFC 3501 §7.4.1), and a new command
sees them with the UIDs and UIDVALIDITY kept.  The other way, what
mailframe appends and flags over IMAP is what neomutt finds in the file
(Status / X-Status headers).  Skipped only without neomutt or script.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.interop.cli_support import need, run
from tests.support.server import ServerProcess

RC = """\
set mbox_type=mbox
set mail_check=0
set wait_key=no
set sort=mailbox-order
set mark_old=no
set delete=yes
set move=no
set confirmappend=no
set header_cache=""
set charset="utf-8"
"""


def message(subject: str) -> bytes:
    return (b"From: a@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n"
            b"body of %s\r\n" % (subject.encode(), subject.encode(), subject.encode()))


def neomutt(home: Path, mbox: Path, keys: str) -> None:
    """Run neomutt on the mbox file with ``keys`` pushed."""
    binary = need("neomutt", "neomutt")
    script = need("script", "bsdutils")
    rc = home / "muttrc"
    rc.write_text(RC)
    cmd = f"{binary} -n -F {rc} -f {mbox} -e 'push \"{keys}\"'"
    env = dict(os.environ, TERM="xterm", LC_ALL="C.UTF-8", HOME=str(home))
    run([script, "-qec", cmd, "/dev/null"], env=env, timeout=30)


def flags_by_subject(c: imaplib.IMAP4) -> dict[str, tuple[int, set[bytes]]]:
    typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, header = item
        subject = header.decode().split(":", 1)[1].strip()
        uid = int(meta.split(b"UID ", 1)[1].split()[0])
        flags = set(meta.split(b"FLAGS (", 1)[1].split(b")", 1)[0].split())
        out[subject] = (uid, flags)
    return out


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    need("neomutt", "neomutt")
    need("script", "bsdutils")
    root = Path(tempfile.mkdtemp(prefix="mf-neomutt-mbox-"))
    with ServerProcess(tmp_path / "server", store=f"mbox:{root}/%u") as server:
        yield server, root / "alice" / "inbox"
    shutil.rmtree(root, ignore_errors=True)


def login(server: ServerProcess) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("alice", server.users["alice"])
    return c


def test_neomutt_changes_reach_an_idle_client_and_mailframes_reach_neomutt(
        served: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    server, mbox = served
    c = login(server)
    for subject, flags in (("alpha", None), ("beta", None), ("gamma", "(\\Seen)")):
        assert c.append("INBOX", flags, None, message(subject))[0] == "OK"
    typ, data = c.select("INBOX")
    assert typ == "OK"
    validity = c.untagged_responses.get("UIDVALIDITY", [b"0"])[0]
    before = flags_by_subject(c)
    assert {s: u for s, (u, _) in before.items()} == {"alpha": 1, "beta": 2, "gamma": 3}

    watcher = IMAPClient("127.0.0.1", server.imap_port, ssl=False)
    watcher.login("alice", server.users["alice"])
    watcher.select_folder("INBOX")
    watcher.idle()
    try:
        # neomutt flags alpha, deletes beta, marks gamma unread, and syncs the file
        neomutt(tmp_path, mbox, (
            "<limit>~s alpha<enter><flag-message>"
            "<limit>~s beta<enter><delete-message>"
            "<limit>~s gamma<enter><toggle-new>"
            "<sync-mailbox><quit>"))
        heard: list[tuple[object, ...]] = []
        # the server checks watched files every second; the limit only
        # keeps a broken server from hanging the suite
        for _ in range(20):
            heard += watcher.idle_check(timeout=1)
            expunged = [r for r in heard if r[1] == b"EXPUNGE"]
            fetches = {r[0]: r[2] for r in heard if r[1] == b"FETCH"}
            if expunged and len(fetches) >= 2:
                break
        assert [r[0] for r in heard if r[1] == b"EXPUNGE"] == [2], heard  # beta, seq 2
        seen_flags = {seq: set(dict(zip(v[::2], v[1::2], strict=True))[b"FLAGS"])
                      for seq, v in ((r[0], r[2]) for r in heard if r[1] == b"FETCH")}
        # sequence numbers as each FETCH was sent: alpha 1; gamma 3 before
        # the EXPUNGE, 2 after (RFC 3501 §7.4.1)
        assert b"\\Flagged" in seen_flags[1], heard
        gamma = seen_flags.get(2, seen_flags.get(3))
        assert gamma is not None and b"\\Seen" not in gamma, heard
    finally:
        watcher.idle_done()
        watcher.logout()

    # a new command sees the same: UIDs and UIDVALIDITY kept
    c.noop()
    after = flags_by_subject(c)
    assert set(after) == {"alpha", "gamma"}
    assert after["alpha"][0] == 1 and b"\\Flagged" in after["alpha"][1]
    assert after["gamma"][0] == 3 and b"\\Seen" not in after["gamma"][1]
    c.select("INBOX")
    assert c.untagged_responses.get("UIDVALIDITY", [b"0"])[0] == validity
    typ, data = c.uid("FETCH", "1", "(BODY.PEEK[TEXT])")
    assert typ == "OK" and data[0][1] == b"body of alpha\r\n", data

    # the other way: mailframe flags and appends, neomutt reads the file
    assert c.uid("STORE", "3", "+FLAGS", "(\\Answered \\Seen)")[0] == "OK"
    assert c.uid("STORE", "1", "+FLAGS", "(\\Seen)")[0] == "OK"
    assert c.append("INBOX", None, None, message("delta"))[0] == "OK"
    c.logout()
    replied, flagged, delta = (tmp_path / n for n in ("replied", "flagged", "delta"))
    neomutt(tmp_path, mbox, (
        f"<limit>~Q<enter><pipe-message>cat > {replied}<enter>"
        f"<limit>~F ~R<enter><pipe-message>cat > {flagged}<enter>"
        f"<limit>~s delta ~N<enter><pipe-message>cat > {delta}<enter>"
        "<quit>"))
    assert b"Subject: gamma" in replied.read_bytes()  # X-Status: A, Status: R
    assert b"Subject: alpha" in flagged.read_bytes()  # X-Status: F, Status: R
    assert b"body of delta" in delta.read_bytes()  # new: no Status R
