"""FETCH over many messages (issue 16): bodies read ahead in bounded
groups through IBatchReadMailbox.read_many (Maildir), responses gathered
into blocks, big literals streamed in steps -- the bytes on the wire are
exactly those of the message-at-a-time path (the memory store, which has
no batch read), for messages from a few bytes to several streaming steps,
with NUL octets, across the prefetch-group and records-batch limits."""

from __future__ import annotations

import random
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.imap.commands import fetch as fetch_cmd
from mailframe.imap.fetch_response import STREAM_CHUNK
from mailframe.interfaces import IBatchReadMailbox
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.wait import until_written


def _messages() -> list[bytes]:
    rnd = random.Random(16)
    sizes = [rnd.choice((40, 900, 3000, 20_000, 60_000, 70_000)) for _ in range(290)]
    sizes += [2 * STREAM_CHUNK + 17, fetch_cmd.INLINE_MAX, fetch_cmd.INLINE_MAX + 1]
    out = []
    for i, size in enumerate(sizes):
        head = b"From: a%d@example.org\r\nSubject: message %d\r\n\r\n" % (i, i)
        line = (b"line %d of the body, some text\r\n" % i) * (size // 30 + 1)
        body = line[:size]
        if i % 7 == 0:
            body = body[:10] + b"\x00" + body[11:]  # NUL goes out as 0x80 (RFC 3501 §4.3)
        out.append(head + body)
    return out


async def _answers(store: Any, messages: list[bytes], commands: list[bytes]) -> bytes:
    inbox = await (await store.account("alice")).mailbox("INBOX")
    for raw in messages:
        await inbox.append(raw, frozenset(), None)
    conn = connect(context_for(store))
    lines = b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n"
    for i, c in enumerate(commands):
        lines += b"t%d %s\r\n" % (i, c)
    conn.protocol.dataReceived(lines)
    last = b"t%d OK" % (len(commands) - 1)
    out = await until_written(conn.transport, last)
    conn.protocol.connectionLost(None)
    return out[out.index(b"a2 OK") :]


COMMANDS = [
    b"FETCH 1:* (UID BODY.PEEK[])",
    b"FETCH 1:* (RFC822.SIZE RFC822.TEXT BODY.PEEK[TEXT])",
    b"FETCH 2:250 (BODY.PEEK[]<5.100> BODY.PEEK[1] RFC822)",
]


class BatchedFetchTests(TestCase):
    async def test_maildir_batches_answer_as_the_memory_store(self) -> None:
        messages = _messages()
        maildir = MaildirStore(self.mktemp())
        self.addCleanup(maildir.close)
        box = await (await maildir.account("alice")).mailbox("INBOX")
        self.assertTrue(IBatchReadMailbox.providedBy(box))
        self.assertFalse(IBatchReadMailbox.providedBy(await (await MemoryStore().account("a")).mailbox("INBOX")))
        batched = await _answers(maildir, messages, COMMANDS)
        single = await _answers(MemoryStore(), messages, COMMANDS)
        self.assertIn(b"t2 OK", batched)
        self.assertEqual(batched, single)
        # and the bodies are the messages (NUL as 0x80)
        for i, raw in enumerate(messages):
            want = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (i + 1, i + 1, len(raw)) + raw.replace(b"\x00", b"\x80")
            self.assertIn(want, batched)


class GroupTests(TestCase):
    def test_groups_are_bounded_and_in_order(self) -> None:
        class R:
            def __init__(self, size: int) -> None:
                self.size = size

        rnd = random.Random(3)
        present = [(i + 1, i + 1, R(rnd.randrange(1, 3 * fetch_cmd.INLINE_MAX))) for i in range(400)]
        groups = fetch_cmd._groups(present)
        self.assertEqual([e for g in groups for e in g], present)
        for g in groups:
            small = sum(r.size for _, _, r in g if r.size <= fetch_cmd.INLINE_MAX)
            self.assertLessEqual(small, fetch_cmd.PREFETCH_BYTES)
