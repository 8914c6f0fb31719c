"""SEARCH's quick paths (issue 16): one system-flag key over the view's
flag sets, one header key straight over the column rows, and the
``* SEARCH`` numbers written in one go answer exactly what the general
evaluation answers (the same key written so that it takes the general
path: ``NOT NOT``, ``OR k k``), on the memory store and Maildir (RFC
3501 §6.4.4, §7.2.5)."""

from __future__ import annotations

import re
from typing import Any

from twisted.trial.unittest import TestCase

from mailframe.imap.driver import SessionDriver
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore

SENDERS = ['"Ann O\'Neil" <ann@example.org>', "ben@example.net", "=?utf-8?q?J=C3=B6rg?= <jorg@example.de>",
           "carl (the boss) <carl@example.com>", '"Dee, D." <dee@example.org>']
SUBJECTS = ["kiwi report", "=?utf-8?b?S2l3aSDDnGJlcg==?=", "apple", "Re: KIWI", "nothing"]


def _message(i: int) -> bytes:
    return (f"From: {SENDERS[i % 5]}\r\nTo: x{i}@example.org\r\nSubject: {SUBJECTS[(i // 5) % 5]} {i}\r\n"
            f"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody {i}\r\n").encode()


PAIRS = [
    # flag keys go by flag set (search.flag_search); with a sequence set
    # beside them they take the per-message path
    (b"SEARCH UNSEEN", b"SEARCH UNSEEN 1:*"),
    (b"SEARCH FLAGGED", b"SEARCH FLAGGED 1:*"),
    (b"SEARCH DELETED", b"SEARCH NOT UNDELETED 1:*"),
    (b"SEARCH KEYWORD $work", b"SEARCH KEYWORD $Work 1:*"),
    (b"SEARCH UNKEYWORD $Work", b"SEARCH NOT KEYWORD $work 1:*"),
    (b"SEARCH OR FLAGGED NOT SEEN", b"SEARCH OR FLAGGED NOT SEEN 1:*"),
    (b"SEARCH NOT NOT UNSEEN", b"SEARCH UNSEEN 1:*"),
    (b"SEARCH ALL", b"SEARCH 1:*"),
    (b"SEARCH DRAFT", b"SEARCH DRAFT 1:*"),
    (b"UID SEARCH FLAGGED", b"UID SEARCH FLAGGED 1:*"),
    (b"SEARCH SUBJECT kiwi", b"SEARCH OR SUBJECT kiwi SUBJECT kiwi"),
    (b"SEARCH FROM example.org", b"SEARCH OR FROM example.org FROM example.org"),
    (b'SEARCH FROM "ann o"', b'SEARCH NOT NOT FROM "ann o"'),
    (b"SEARCH FROM boss", b"SEARCH NOT NOT FROM boss"),
    (b"SEARCH FROM jorg", b"SEARCH NOT NOT FROM jorg"),
    (b"SEARCH HEADER To x1", b"SEARCH NOT NOT HEADER To x1"),
    (b"SEARCH SUBJECT nomatch", b"SEARCH NOT NOT SUBJECT nomatch"),
    (b"UID SEARCH SEEN", b"UID SEARCH NOT UNSEEN"),
]

#: ESEARCH (RFC 4731) and RETURN (SAVE) by flag set against the general path
ESEARCH_PAIRS = [
    (b"SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN", b"SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN 1:*"),
    (b"UID SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED", b"UID SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED 1:*"),
    (b"SEARCH RETURN (SAVE COUNT) FLAGGED", b"SEARCH RETURN (COUNT) $"),
    (b"UID SEARCH RETURN (ALL) DRAFT", b"UID SEARCH RETURN (ALL) DRAFT 1:*"),
]


class FastPathTests(TestCase):
    async def answers(self, store: Any) -> None:
        box = await (await store.account("alice")).mailbox("INBOX")
        for i in range(60):
            flags = {"\\Seen"} if i % 3 else set()
            if i % 4 == 0:
                flags.add("\\Flagged")
            if i % 5 == 0:
                flags.add("$Work")
            await box.append(_message(i), frozenset(flags), None)
        driver = SessionDriver(store, {"alice": "secret"}) if isinstance(store, MemoryStore) else None
        if driver is None:
            from mailframe.testing.transcript import connect, context_for
            from tests.support.wait import until_written

            async def run(lines: list[bytes]) -> bytes:
                conn = connect(context_for(store))
                conn.protocol.dataReceived(b"".join(b"t%d %s\r\n" % (i, c) for i, c in enumerate(lines)))
                out = await until_written(conn.transport, b"t%d OK" % (len(lines) - 1))
                conn.protocol.connectionLost(None)
                return out
        else:
            async def run(lines: list[bytes]) -> bytes:
                return b"".join(driver.send(b"t%d %s\r\n" % (i, c)) for i, c in enumerate(lines))

        commands = [b"LOGIN alice secret", b"SELECT INBOX"]
        for fast, general in PAIRS:
            commands += [fast, general]
        for fast, general in ESEARCH_PAIRS:
            commands += [fast, general]
        out = await run(commands)
        esearch = [re.sub(rb"\(TAG \"t\d+\"\) ", b"", e) for e in re.findall(rb"\* ESEARCH[^\r\n]*", out)]
        self.assertEqual(len(esearch), 2 * len(ESEARCH_PAIRS))
        for n, (fast, _general) in enumerate(ESEARCH_PAIRS):
            self.assertEqual(esearch[2 * n], esearch[2 * n + 1], fast)
        found = re.findall(rb"\* SEARCH[^\r\n]*", out)
        self.assertEqual(len(found), 2 * len(PAIRS))
        for n, (fast, _general) in enumerate(PAIRS):
            self.assertEqual(found[2 * n], found[2 * n + 1], fast)
        self.assertIn(b"* SEARCH 1 4 7 ", out)  # UNSEEN: every third
        self.assertIn(b"* SEARCH\r\n", out)  # nothing found: no trailing space

    async def test_memory(self) -> None:
        await self.answers(MemoryStore())

    async def test_maildir(self) -> None:
        store = MaildirStore(self.mktemp())
        self.addCleanup(store.close)
        await self.answers(store)
