"""LIST and LSUB match INBOX in any case (RFC 3501 §5.1), as Dovecot 2.3
does: a pattern lists INBOX, and the names below it, when it matches any
spelling of their leading INBOX -- the rest of the name keeps its case.
The expected lists are Dovecot 2.3.19's answers to the same commands over
the same mailboxes (separator "/")."""

from __future__ import annotations

import re

from twisted.trial.unittest import SynchronousTestCase

from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for

#: pattern -> the names Dovecot lists over INBOX, INBOX/sub, ideas, Ideas,
#: inboxy and In.
DOVECOT = {
    "i*": ["INBOX", "INBOX/sub", "ideas", "inboxy"],
    "I*": ["INBOX", "INBOX/sub", "Ideas", "In"],
    "in%": ["INBOX", "inboxy"],
    "inbox/%": ["INBOX/sub"],
    "Inbox/*": ["INBOX/sub"],
    "inbox": ["INBOX"],
    "inBOX*": ["INBOX", "INBOX/sub"],
    "ib*": [],
    "INB%": ["INBOX"],
    "*box": ["INBOX"],
    "inbox%": ["INBOX", "inboxy"],
}


class InboxCaseTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.conn = connect(context_for(MemoryStore()))
        # the session's idle timer would be left for the next test's reactor
        self.addCleanup(self.conn.protocol.connectionLost, None)
        self.conn.send(b"a LOGIN alice secret")
        for n, name in enumerate(["INBOX/sub", "ideas", "Ideas", "inboxy", "In"]):
            self.conn.send(b"c%d CREATE %s" % (n, name.encode()))
        self.conn.collect()
        self.conn.lines.clear()

    def listed(self, command: bytes) -> list[str]:
        self.conn.send(b"t " + command)
        self.conn.collect()
        lines, self.conn.lines = self.conn.lines, []
        self.assertTrue(lines[-1].startswith(b"t OK"), lines)
        found = [re.search(rb'"/" (.*)$', line) for line in lines[:-1]]
        return sorted(m.group(1).decode().strip('"') for m in found if m)

    def test_patterns_match_inbox_in_any_case(self) -> None:
        for pattern, names in DOVECOT.items():
            with self.subTest(pattern=pattern):
                self.assertEqual(self.listed(b'LIST "" "%s"' % pattern.encode()), names)

    def test_lsub_too(self) -> None:
        self.conn.send(b"s1 SUBSCRIBE INBOX")
        self.conn.send(b"s2 SUBSCRIBE INBOX/sub")
        self.conn.collect()
        self.conn.lines.clear()
        self.assertEqual(self.listed(b'LSUB "" i*'), ["INBOX", "INBOX/sub"])
