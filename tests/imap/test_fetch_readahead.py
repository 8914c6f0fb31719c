"""FETCH bodies read ahead (issue 16): the next group's files are read
through IBatchReadMailbox.read_many while the current group is encoded.
A message another session expunges after FETCH looked up its record --
whether its group was already being read or not -- is skipped, the others
are served whole, and the command ends ``OK [EXPUNGEISSUED]`` (Dovecot's
answer, RFC 2180 §4.1), byte for byte what the message-at-a-time path
(the memory store) answers."""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.imap.commands import fetch as fetch_cmd
from mailframe.records import StoreMode
from mailframe.store._maildir_mailbox import MaildirMailbox
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryMailbox, MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.wait import until_written

SIZE = 30_000  # about 34 messages per read-ahead group


def _messages(count: int) -> list[bytes]:
    out = []
    for i in range(count):
        head = b"From: a%d@example.org\r\nSubject: message %d\r\n\r\n" % (i, i)
        out.append(head + ((b"body line %d\r\n" % i) * (SIZE // 12))[:SIZE])
    return out


async def _answer(test: TestCase, store: Any, cls: Any, gone: list[int], command: bytes) -> bytes:
    inbox = await (await store.account("alice")).mailbox("INBOX")
    for raw in _messages(100):
        await inbox.append(raw, frozenset(), None)
    original = cls.records

    def records(mailbox: Any, uids: Any) -> Any:
        d = original(mailbox, uids)
        test.patch(cls, "records", original)

        def then(found: Any) -> Any:
            # as another session's EXPUNGE removes them, after the records
            marked = defer.maybeDeferred(mailbox.store, gone, StoreMode.ADD, frozenset({"\\Deleted"}))
            marked.addCallback(lambda _: mailbox.expunge(gone))
            return marked.addCallback(lambda _: found)

        return d.addCallback(then)

    test.patch(cls, "records", records)
    conn = connect(context_for(store))
    conn.protocol.dataReceived(b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\na3 " + command + b"\r\n")
    out = await until_written(conn.transport, b"a3 OK")
    conn.protocol.connectionLost(None)
    return out[out.index(b"a2 OK") :]


class ReadAheadExpungeTests(TestCase):
    async def check(self, gone: list[int], command: bytes) -> None:
        self.assertGreater(100 * SIZE, 2 * fetch_cmd.PREFETCH_BYTES)  # several groups
        maildir = MaildirStore(self.mktemp())
        self.addCleanup(maildir.close)
        batched = await _answer(self, maildir, MaildirMailbox, gone, command)
        single = await _answer(self, MemoryStore(), MemoryMailbox, gone, command)
        self.assertEqual(batched, single)
        served = [int(n) for n in re.findall(rb"^\* (\d+) FETCH", batched, re.M)]
        self.assertEqual(served, [n for n in range(1, 101) if n not in gone])
        self.assertIn(b"a3 OK [EXPUNGEISSUED]", batched)
        for n in served:
            raw = _messages(100)[n - 1]
            self.assertIn(b"* %d FETCH (BODY[] {%d}\r\n" % (n, len(raw)) + raw + b")\r\n", batched)

    async def test_expunged_in_the_first_group(self) -> None:
        await self.check([3], b"FETCH 1:100 BODY.PEEK[]")

    async def test_expunged_in_a_group_read_ahead(self) -> None:
        await self.check([40, 99], b"FETCH 1:100 BODY.PEEK[]")
