"""Dovecot interop: one set of mbox files, read and written by both servers.

Dovecot 2.3 runs on a loopback port with a configuration of our own
(``mail_location = mbox:ROOT/%u:INBOX=ROOT/%u/inbox``, ``mbox_lazy_writes
= no`` so that Dovecot's flag changes reach the file at once, no systemd,
passwd-file users).  Dovecot writes mbox files over IMAP (imaplib) that
mailframe opens with the same UIDVALIDITY, UIDs, flags and keywords, and
then both take turns on the same file; mailframe writes files that Dovecot
opens alike.  Skipped only when the ``dovecot`` binary is missing
(``apt-get install dovecot-imapd``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime

from twisted.trial.unittest import SkipTest, TestCase

from mailframe.store.mbox import MboxStore
from tests.store.test_maildir_dovecot import CONF, DOVECOT, MSG, Dovecot, fetch_flags, select

MBOX_CONF = CONF.replace(
    "mail_location = maildir:{d}/mail/%u",
    "mail_location = mbox:{d}/mail/%u:INBOX={d}/mail/%u/inbox\nmbox_write_locks = fcntl dotlock\n"
    # Dovecot's default keeps flag changes in its own index until it next
    # rewrites the file; other programs (mutt, mailframe) see them only then
    "mbox_lazy_writes = no",
)


class DovecotMboxInterop(TestCase):
    conf = MBOX_CONF

    def setUp(self) -> None:
        if DOVECOT is None:
            raise SkipTest("dovecot binary not found (apt-get install dovecot-imapd)")
        self.root = tempfile.mkdtemp(prefix="mf-dovecot-mbox-")
        self.dovecot = Dovecot(self.root, self.conf)
        self.addCleanup(shutil.rmtree, self.root, True)
        self.addCleanup(self.dovecot.stop)

    def store(self) -> MboxStore:
        mail = os.path.join(self.root, "mail", "%u")
        return MboxStore(mail, os.path.join(mail, "inbox"))

    async def test_mailframe_opens_what_dovecot_wrote(self) -> None:
        c = self.dovecot.client("alice")
        assert c.create("Work/Sub")[0] == "OK", self.dovecot.log()
        for i, flags in enumerate(["(\\Seen $Label1)", "(\\Flagged)", None, "(Custom \\Answered)"]):
            assert c.append("INBOX", flags, None, MSG % (i, i, i))[0] == "OK"
        assert c.append("Work/Sub", "(\\Draft)", None, MSG % (10, 10, 10))[0] == "OK"
        validity = select(c, "INBOX")
        assert c.uid("STORE", "2", "+FLAGS", "(\\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        assert c.uid("STORE", "3", "+FLAGS", "($Forwarded \\Seen)")[0] == "OK"
        expected = fetch_flags(c)
        sub_validity = select(c, "Work/Sub")
        sub_expected = fetch_flags(c)
        c.close()
        c.logout()
        assert sorted(expected) == [1, 3, 4]

        store = self.store()
        account = await store.account("alice")
        names = {e.name: e.attributes for e in await account.list_mailboxes()}
        assert {"INBOX", "Work/Sub"} <= set(names), names
        inbox = await account.mailbox("INBOX")
        snap = await inbox.snapshot()
        assert snap.uidvalidity == validity
        assert {s.uid: s.flags for s in snap.messages} == expected
        assert expected[1] == {"\\Seen", "$Label1"}
        assert expected[3] == {"$Forwarded", "\\Seen"}
        assert expected[4] == {"Custom", "\\Answered"}
        assert await inbox.read(3) == MSG % (2, 2, 2)
        sub = await account.mailbox("Work/Sub")
        sub_snap = await sub.snapshot()
        assert sub_snap.uidvalidity == sub_validity
        assert {s.uid: s.flags for s in sub_snap.messages} == sub_expected

        # Both servers on one file: mailframe appends and flags, Dovecot sees it.
        uid = await inbox.append(MSG % (7, 7, 7), frozenset({"$Label1", "NewKw"}), None)
        assert uid == 5
        await inbox.store([1], "remove", frozenset({"\\Seen"}))
        self.dovecot.give_back()
        c = self.dovecot.client("alice")
        assert select(c, "INBOX") == validity
        now = fetch_flags(c)
        assert now[5] == {"$Label1", "NewKw"}, now
        assert now[1] == {"$Label1"}, now
        typ, data = c.uid("FETCH", "5", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == MSG % (7, 7, 7), data
        # ... and Dovecot appends and flags, mailframe sees it on its next command.
        typ, data = c.append("INBOX", "(\\Seen)", None, MSG % (8, 8, 8))
        assert typ == "OK" and b"APPENDUID %d 6" % validity in data[0], data
        assert c.uid("STORE", "4", "+FLAGS", "(\\Flagged)")[0] == "OK"
        c.close()
        c.logout()
        snap = await inbox.snapshot()
        assert [s.uid for s in snap.messages] == [1, 3, 4, 5, 6]
        assert snap.messages[-1].flags == {"\\Seen"}
        assert snap.messages[2].flags == {"Custom", "\\Answered", "\\Flagged"}
        assert await inbox.read(6) == MSG % (8, 8, 8)
        await store.close()

    async def test_dovecot_opens_what_mailframe_wrote(self) -> None:
        store = self.store()
        account = await store.account("bob")
        await account.create_mailbox("Lists/python")
        inbox = await account.mailbox("INBOX")
        when = datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)
        flag_sets = [
            frozenset({"\\Seen"}),
            frozenset({"\\Flagged", "$Label2"}),
            frozenset(),
            frozenset({"\\Deleted"}),
            frozenset({"\\Answered", "$Forwarded", "Work"}),
        ]
        for i, flags in enumerate(flag_sets):
            await inbox.append(MSG % (i, i, i), flags, when)
        assert await inbox.expunge() == [4]
        await inbox.store([3], "add", frozenset({"\\Draft", "Later"}))
        lists = await account.mailbox("Lists/python")
        await lists.append(MSG % (20, 20, 20), frozenset({"\\Seen"}), when)
        snap = await inbox.snapshot()
        ours = {s.uid: s.flags for s in snap.messages}
        lists_validity = (await lists.snapshot()).uidvalidity
        await store.close()
        self.dovecot.give_back()

        c = self.dovecot.client("bob")
        typ, listing = c.list()
        assert typ == "OK"
        text = b"\n".join(x for x in listing if isinstance(x, bytes))
        assert b"Lists/python" in text, text
        assert select(c, "INBOX") == snap.uidvalidity
        assert fetch_flags(c) == ours
        assert ours[5] == {"\\Answered", "$Forwarded", "Work"}
        assert ours[3] == {"\\Draft", "Later"}
        typ, data = c.uid("FETCH", "2", "(BODY.PEEK[] INTERNALDATE RFC822.SIZE)")
        assert typ == "OK"
        assert data[0][1] == MSG % (1, 1, 1)
        assert b'"06-May-2021 07:08:09 +0000"' in data[0][0], data[0][0]
        assert b"RFC822.SIZE %d" % len(MSG % (1, 1, 1)) in data[0][0], data[0][0]
        typ, data = c.status("INBOX", "(UIDNEXT)")
        assert b"UIDNEXT 6" in data[0], data
        assert select(c, "Lists/python") == lists_validity
        assert fetch_flags(c) == {1: frozenset({"\\Seen"})}
        c.close()
        c.logout()


class DovecotMboxConcurrent(TestCase):
    """Dovecot with its built-in lock order (``fcntl dotlock``) and
    mailframe with ``WRITE_LOCKS=fcntl+dotlock`` append to one file at the
    same time: every message lands once, and both number them alike."""

    def setUp(self) -> None:
        if DOVECOT is None:
            raise SkipTest("dovecot binary not found (apt-get install dovecot-imapd)")
        self.root = tempfile.mkdtemp(prefix="mf-dovecot-mbox-")
        conf = MBOX_CONF.replace("mbox_write_locks = fcntl dotlock\n", "")
        self.dovecot = Dovecot(self.root, conf)
        self.addCleanup(shutil.rmtree, self.root, True)
        self.addCleanup(self.dovecot.stop)

    async def test_both_append_at_once(self) -> None:
        from twisted.internet import threads

        mail = os.path.join(self.root, "mail", "%u")
        store = MboxStore(mail, os.path.join(mail, "inbox"), write_locks=("fcntl", "dotlock"))
        inbox = await (await store.account("alice")).mailbox("INBOX")
        await inbox.append(MSG % (0, 0, 0), frozenset(), None)
        self.dovecot.give_back()
        n = 15

        def dovecot_appends() -> list[bytes]:
            c = self.dovecot.client("alice")
            out = []
            for i in range(n):
                typ, data = c.append("INBOX", "(\\Seen)", None, MSG % (100 + i, 100 + i, 100 + i))
                assert typ == "OK", (data, self.dovecot.log())
                out.append(data[0])
            c.logout()
            return out

        d = threads.deferToThread(dovecot_appends)
        ours = [await inbox.append(MSG % (200 + i, 200 + i, 200 + i), frozenset({"Mine"}), None)
                for i in range(n)]
        theirs = await d
        snap = await inbox.snapshot()
        uids = [s.uid for s in snap.messages]
        assert len(uids) == 2 * n + 1 and uids == sorted(set(uids)), uids
        assert set(ours) <= set(uids)
        bodies = sorted([await inbox.read(u) for u in uids])
        expected = sorted([MSG % (0, 0, 0)] + [MSG % (100 + i, 100 + i, 100 + i) for i in range(n)]
                          + [MSG % (200 + i, 200 + i, 200 + i) for i in range(n)])
        assert bodies == expected
        flags = {s.uid: s.flags for s in snap.messages}
        await store.close()
        self.dovecot.give_back()
        c = self.dovecot.client("alice")
        select(c, "INBOX")
        assert fetch_flags(c) == flags
        c.logout()
        assert len(theirs) == n
