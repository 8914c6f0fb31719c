"""Dovecot interop: one Maildir, read and written by both servers.

Dovecot 2.3 runs on a loopback port with a configuration of our own in a
temporary directory (no systemd, passwd-file users, ``maildir:ROOT/%u``,
``/`` as the separator).  It writes a Maildir over IMAP (python imaplib)
that mailframe then opens — same UIDs, UIDVALIDITY, flags, keywords and
folders — and reads, over IMAP, a Maildir mailframe wrote.  Skipped only
when the ``dovecot`` binary is missing (``apt-get install dovecot-imapd``).
"""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from mailframe.store.maildir import MaildirStore
from tests.support.deferreds import result

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
)
pytestmark = pytest.mark.skipif(
    DOVECOT is None, reason="dovecot binary not found (apt-get install dovecot-imapd)"
)

CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""

MSG = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
    b"Subject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\nBody %d.\r\n"
)
FLAGS_RE = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)")




class Dovecot:
    """A Dovecot on loopback with its own config (``conf``: a template with
    ``{d}``, ``{port}``, ``{uid}``, ``{gid}``), serving files under ``root``."""

    def __init__(self, root: str, conf: str = CONF) -> None:
        self.root = root
        self.uid = 8 if os.getuid() == 0 else os.getuid()
        self.gid = 8 if os.getuid() == 0 else os.getgid()
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        for sub in ("run", "mail", "home", "state"):
            os.makedirs(os.path.join(root, sub))
        os.chmod(root, 0o755)
        os.chmod(os.path.join(root, "run"), 0o755)
        with open(os.path.join(root, "passwd"), "w") as f:
            f.write("alice:{PLAIN}pw\nbob:{PLAIN}pw\n")
        self.conf = os.path.join(root, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(conf.format(d=root, port=self.port, uid=self.uid, gid=self.gid))
        self.give_back()
        assert DOVECOT is not None
        self.proc = subprocess.Popen(
            [DOVECOT, "-c", self.conf, "-F"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not start: {self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        try:
            with open(os.path.join(self.root, "dovecot.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def give_back(self) -> None:
        """Files mailframe wrote (as root) become the mail user's, as they
        would be with both servers running as the same user."""
        if os.getuid() != 0:
            return
        for sub in ("mail", "home"):
            top = os.path.join(self.root, sub)
            for dirpath, _dirnames, filenames in os.walk(top):
                os.chown(dirpath, self.uid, self.gid)
                for name in filenames:
                    os.chown(os.path.join(dirpath, name), self.uid, self.gid)

    def client(self, user: str) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        c.login(user, "pw")
        return c

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    root = tempfile.mkdtemp(prefix="mf-dovecot-")
    server = Dovecot(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def fetch_flags(c: imaplib.IMAP4) -> dict[int, frozenset[str]]:
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
    assert typ == "OK", data
    out: dict[int, frozenset[str]] = {}
    for item in data:
        if not isinstance(item, bytes):
            continue
        m = FLAGS_RE.search(item)
        if m:
            uid = int(m.group(1) or m.group(4))
            flags = (m.group(2) if m.group(1) else m.group(3)).decode()
            out[uid] = frozenset(flags.split()) - {"\\Recent"}
    return out


def select(c: imaplib.IMAP4, name: str) -> int:
    typ, _ = c.select(name)
    assert typ == "OK"
    value = c.untagged_responses["UIDVALIDITY"][0]
    assert isinstance(value, bytes)
    return int(value)


def test_mailframe_opens_what_dovecot_wrote(dovecot: Dovecot) -> None:
    c = dovecot.client("alice")
    assert c.create("Work/Sub")[0] == "OK"
    assert c.create("Caf&AOk-")[0] == "OK"
    assert c.subscribe("Work/Sub")[0] == "OK"
    assert c.subscribe("Caf&AOk-")[0] == "OK"
    for i, flags in enumerate(["(\\Seen $Label1)", "(\\Flagged)", None, "(Custom \\Answered)"]):
        assert c.append("INBOX", flags, None, MSG % (i, i, i))[0] == "OK"
    for i in range(2):
        assert c.append("Work/Sub", "(\\Draft)", None, MSG % (10 + i, 10 + i, 10 + i))[0] == "OK"
    validity = select(c, "INBOX")
    assert c.uid("STORE", "2", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert c.expunge()[0] == "OK"
    assert c.uid("STORE", "3", "+FLAGS", "($Forwarded \\Seen)")[0] == "OK"
    expected = fetch_flags(c)
    sub_validity = select(c, "Work/Sub")
    sub_expected = fetch_flags(c)
    c.logout()
    assert sorted(expected) == [1, 3, 4]

    store = MaildirStore(os.path.join(dovecot.root, "mail", "%u"))
    account = result(store.account("alice"))
    names = {e.name: e.attributes for e in result(account.list_mailboxes())}
    assert {"INBOX", "Work/Sub", "Café"} <= set(names), names
    assert {"Work/Sub", "Café"} <= result(account.subscriptions())
    inbox = result(account.mailbox("INBOX"))
    snap = result(inbox.snapshot())
    assert snap.uidvalidity == validity
    assert {s.uid: s.flags for s in snap.messages} == expected
    assert expected[1] == {"\\Seen", "$Label1"}
    assert expected[3] == {"$Forwarded", "\\Seen"}
    assert expected[4] == {"Custom", "\\Answered"}
    assert result(inbox.read(3)) == MSG % (2, 2, 2)
    sub = result(account.mailbox("Work/Sub"))
    sub_snap = result(sub.snapshot())
    assert sub_snap.uidvalidity == sub_validity
    assert {s.uid: s.flags for s in sub_snap.messages} == sub_expected

    # Both servers at once: mailframe appends and flags, Dovecot sees it.
    uid = result(inbox.append(MSG % (7, 7, 7), frozenset({"$Label1", "NewKw"}), None))
    assert uid == 5
    result(inbox.store([1], "remove", frozenset({"\\Seen"})))
    dovecot.give_back()
    c = dovecot.client("alice")
    assert select(c, "INBOX") == validity
    now = fetch_flags(c)
    assert now[5] == {"$Label1", "NewKw"}
    assert now[1] == {"$Label1"}
    # ... and Dovecot appends, mailframe sees the next UID.
    typ, data = c.append("INBOX", "(\\Seen)", None, MSG % (8, 8, 8))
    assert typ == "OK" and b"APPENDUID %d 6" % validity in data[0], data
    c.logout()
    snap = result(inbox.snapshot())
    assert [s.uid for s in snap.messages] == [1, 3, 4, 5, 6]
    assert snap.messages[-1].flags == {"\\Seen"}
    result(store.close())


def test_dovecot_opens_what_mailframe_wrote(dovecot: Dovecot) -> None:
    store = MaildirStore(os.path.join(dovecot.root, "mail", "%u"))
    account = result(store.account("bob"))
    result(account.create_mailbox("Lists/python"))
    result(account.create_mailbox("Café"))
    result(account.subscribe("Lists/python"))
    result(account.subscribe("Café"))
    inbox = result(account.mailbox("INBOX"))
    when = datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)
    flag_sets = [
        frozenset({"\\Seen"}),
        frozenset({"\\Flagged", "$Label2"}),
        frozenset(),
        frozenset({"\\Deleted"}),
        frozenset({"\\Answered", "$Forwarded", "Work"}),
    ]
    for i, flags in enumerate(flag_sets):
        result(inbox.append(MSG % (i, i, i), flags, when))
    assert result(inbox.expunge()) == [4]
    result(inbox.store([3], "add", frozenset({"\\Draft"})))
    lists = result(account.mailbox("Lists/python"))
    result(lists.append(MSG % (20, 20, 20), frozenset({"\\Seen"}), when))
    snap = result(inbox.snapshot())
    ours = {s.uid: s.flags for s in snap.messages}
    lists_validity = result(lists.snapshot()).uidvalidity
    result(store.close())
    dovecot.give_back()

    c = dovecot.client("bob")
    typ, listing = c.list()
    assert typ == "OK"
    text = b"\n".join(x for x in listing if isinstance(x, bytes))
    assert b'"/" Lists/python' in text and b"Caf&AOk-" in text, text
    typ, lsub = c.lsub()
    assert any(b"Lists/python" in x for x in lsub if isinstance(x, bytes)), lsub
    assert any(b"Caf&AOk-" in x for x in lsub if isinstance(x, bytes)), lsub
    assert select(c, "INBOX") == snap.uidvalidity
    assert fetch_flags(c) == ours
    assert ours[5] == {"\\Answered", "$Forwarded", "Work"}
    typ, data = c.uid("FETCH", "2", "(BODY.PEEK[] INTERNALDATE)")
    assert typ == "OK"
    assert data[0][1] == MSG % (1, 1, 1)
    assert b'"06-May-2021 07:08:09 +0000"' in data[0][0], data[0][0]
    assert select(c, "Lists/python") == lists_validity
    assert fetch_flags(c) == {1: frozenset({"\\Seen"})}
    c.logout()
