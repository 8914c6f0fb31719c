"""QUOTA against Dovecot 2.3 on the same Maildir (``quota = maildir:User
quota``, ``quota_rule = *:storage=1M:messages=3``): both servers give the
same GETQUOTAROOT answers, agree on ``maildirsize`` and refuse the same
APPEND.  Skipped only when the ``dovecot`` binary is missing."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import SkipTest, TestCase

from mailframe.imap import serialize
from mailframe.imap.commands.quota import quota_list
from mailframe.imap.serialize import Atom
from mailframe.quota import QUOTA_ROOT, QuotaLimits
from mailframe.store.maildir import MaildirStore
from mailframe.store.quota import QuotaStore
from tests.store.test_maildir_dovecot import CONF, DOVECOT, MSG, Dovecot

QUOTA_CONF = CONF.replace(
    "protocols = imap\n",
    "protocols = imap\nmail_plugins = quota\n"
    "protocol imap {{\n  mail_plugins = $mail_plugins imap_quota\n}}\n"
    "plugin {{\n  quota = maildir:User quota\n  quota_rule = *:storage=1M:messages=3\n}}\n",
)
LIMITS = QuotaLimits(1 << 20, 3)


def dovecot_quota(server: Dovecot) -> list[bytes]:
    c = server.client("alice")
    try:
        typ, data = c._simple_command("GETQUOTAROOT", "INBOX")  # type: ignore[attr-defined]
        assert typ == "OK", data
        return [
            b"* QUOTAROOT " + c.untagged_responses.pop("QUOTAROOT")[0],
            b"* QUOTA " + c.untagged_responses.pop("QUOTA")[0],
        ]
    finally:
        c.logout()


class DovecotQuotaTests(TestCase):
    def setUp(self) -> None:
        if DOVECOT is None:
            raise SkipTest("dovecot binary not found (apt-get install dovecot-imapd)")
        self.root = tempfile.mkdtemp(prefix="mf-quota-")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.makedirs(os.path.join(self.root, "mail"))
        self.store = QuotaStore(MaildirStore(os.path.join(self.root, "mail", "%u")),
                                lambda user: LIMITS)

    async def mailframe_lines(self) -> list[bytes]:
        account = await self.store.account("alice")
        usage, limits = await account.quota()
        return [
            serialize.untagged(Atom("QUOTAROOT"), Atom("INBOX"), QUOTA_ROOT).rstrip(b"\r\n"),
            serialize.untagged(Atom("QUOTA"), QUOTA_ROOT, quota_list(usage, limits)).rstrip(b"\r\n"),
        ]

    def give_back(self, server: Dovecot) -> None:
        """What mailframe wrote (as root) becomes Dovecot's mail user's."""
        os.chmod(self.root, 0o755)
        if os.getuid() != 0:
            return
        for dirpath, _dirs, files in os.walk(os.path.join(self.root, "mail")):
            os.chown(dirpath, server.uid, server.gid)
            for name in files:
                os.chown(os.path.join(dirpath, name), server.uid, server.gid)

    def maildirsize(self) -> str:
        with open(os.path.join(self.root, "mail", "alice", "maildirsize")) as f:
            return f.read()

    async def test_same_answers_same_maildirsize(self) -> None:
        account = await self.store.account("alice")
        inbox = await account.mailbox("INBOX")
        for i in range(2):
            await inbox.append(MSG % (i, i, i))
        ours = await self.mailframe_lines()
        size = len(MSG % (0, 0, 0)) * 2
        self.assertEqual(self.maildirsize(), f"1048576S,3C\n{size} 2\n")
        # Dovecot on the same Maildir reads mailframe's maildirsize.
        server = Dovecot(os.path.join(self.root, "dc"), QUOTA_CONF.replace(
            "maildir:{d}/mail/%u", f"maildir:{self.root}/mail/%u"))
        self.addCleanup(server.stop)
        self.give_back(server)
        self.assertEqual(dovecot_quota(server), ours)
        self.assertEqual(ours[1], b'* QUOTA "User quota" (STORAGE 1 1024 MESSAGE 2 3)')
        # Dovecot appends the third message: its delta line, summed by both.
        c = server.client("alice")
        self.assertEqual(c.append("INBOX", None, None, MSG % (3, 3, 3))[0], "OK")
        typ, data = c.append("INBOX", None, None, MSG % (4, 4, 4))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[OVERQUOTA]", data[0])
        c.logout()
        self.assertEqual(self.maildirsize().split("\n")[0], "1048576S,3C")
        theirs = dovecot_quota(server)
        self.assertEqual(await self.mailframe_lines(), theirs)
        self.assertIn(b"MESSAGE 3 3", theirs[1])
        # and mailframe refuses the fourth as Dovecot did.
        from mailframe.errors import OverQuota
        from mailframe.quota import ensure_room

        with self.assertRaises(OverQuota):
            await ensure_room(account, len(MSG), 1)
        await self.store.close()
