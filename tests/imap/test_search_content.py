"""SEARCH BODY / TEXT over message bytes (RFC 3501 §6.4.4; issues 10, 16):
bytes read in bounded groups with one IBatchReadMailbox.read_many call per
group (Maildir), never one store call per message; a big message read only
where BODY / TEXT look (its text parts and nested headers), never whole;
matching done off the reactor thread; answers those of the matcher on the
whole message, on the memory store and on Maildir alike."""

from __future__ import annotations

import base64
import threading
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from mailframe import message as mm
from mailframe.imap.commands import search_content
from mailframe.store._maildir_mailbox import MaildirMailbox
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.wait import until_written


def _small(i: int) -> bytes:
    token = b"needle-%d" % (i % 5)
    body = b"plain words of a body line\r\n" * (40 + i % 60)
    return b"From: a%d@example.org\r\nSubject: m %d\r\n\r\n%s%s\r\n%s" % (i, i, body, token, body)


def _big(token: bytes, nested_subject: bytes) -> bytes:
    """A multipart/mixed message of ~1.3 MB: a small text part holding
    ``token``, a base64 attachment and an encapsulated message whose
    Subject is ``nested_subject`` (TEXT finds it, BODY does not)."""
    blob = base64.encodebytes(bytes(range(256)) * 4000).replace(b"\n", b"\r\n")
    return (
        b"From: big@example.org\r\nSubject: big one\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsome text " + token + b" here\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: " + nested_subject
        + b"\r\nFrom: inner@example.org\r\n\r\ninner body\r\n--b1--\r\n"
    )


async def _search(store: Any, messages: list[bytes], commands: list[bytes]) -> list[bytes]:
    await deferLater(reactor, 0, lambda: None)  # run with the reactor: stores and IO use threads
    inbox = await (await store.account("alice")).mailbox("INBOX")
    for raw in messages:
        await inbox.append(raw, frozenset(), None)
    conn = connect(context_for(store))
    data = b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n"
    data += b"".join(b"t%d %s\r\n" % (i, c) for i, c in enumerate(commands))
    conn.protocol.dataReceived(data)
    out = await until_written(conn.transport, b"t%d OK" % (len(commands) - 1))
    conn.protocol.connectionLost(None)
    return [line for line in out.split(b"\r\n") if line.startswith(b"* SEARCH")]


def _expected(messages: list[bytes], needle: str, text: bool) -> bytes:
    match = mm.text_matches if text else mm.body_matches
    seqs = [b"%d" % (i + 1) for i, raw in enumerate(messages) if match(mm.parse(raw), raw, needle)]
    return b" ".join([b"* SEARCH", *seqs])


COMMANDS = [
    (b"SEARCH BODY needle-3", "needle-3", False),
    (b"SEARCH TEXT NEEDLE-1", "needle-1", False),
    (b"SEARCH BODY bigtoken", "bigtoken", False),
    (b"SEARCH TEXT bigtoken", "bigtoken", True),
    (b"SEARCH BODY inner-subject", "inner-subject", False),
    (b"SEARCH TEXT inner-subject", "inner-subject", True),
    (b"SEARCH TEXT big@example", "big@example", True),
]


class ContentSearchTests(TestCase):
    def messages(self) -> list[bytes]:
        out = [_small(i) for i in range(400)]
        out.insert(17, _big(b"bigtoken", b"inner-subject"))
        out.insert(300, _big(b"other", b"other"))
        return out

    def spy(self) -> tuple[list[int], list[list[int]], list[int]]:
        """Count MaildirMailbox reads: whole-message reads, read_many
        groups, and the size of every ranged read's answer."""
        whole: list[int] = []
        groups: list[list[int]] = []
        ranged: list[int] = []
        read, read_many = MaildirMailbox.read, MaildirMailbox.read_many

        def counting_read(box: MaildirMailbox, uid: int, start: int = 0, end: int | None = None) -> Any:
            if start == 0 and end is None:
                whole.append(uid)
            d = read(box, uid, start, end)
            d.addCallback(lambda data: ranged.append(len(data)) or data)
            return d

        def counting_many(box: MaildirMailbox, uids: Any) -> Any:
            groups.append(list(uids))
            return read_many(box, uids)

        self.patch(MaildirMailbox, "read", counting_read)
        self.patch(MaildirMailbox, "read_many", counting_many)
        return whole, groups, ranged

    async def test_maildir_reads_in_groups_and_big_messages_by_range(self) -> None:
        messages = self.messages()
        store = MaildirStore(self.mktemp())
        self.addCleanup(store.close)
        whole, groups, ranged = self.spy()
        got = await _search(store, messages, [c for c, _, _ in COMMANDS])
        self.assertEqual(got, [_expected(messages, n, t) for _, n, t in COMMANDS])
        self.assertEqual(whole, [])  # no message read alone, whole
        total = sum(len(m) for m in messages if len(m) <= search_content.WHOLE_MAX)
        per_search = total // search_content.GROUP_BYTES + 2
        self.assertLessEqual(len(groups), per_search * len(COMMANDS))
        for group in groups:
            self.assertLessEqual(len(group), search_content.BATCH)
        self.assertTrue(ranged)  # the big messages: their text parts only
        self.assertLess(max(ranged), 64 * 1024)

    async def test_memory_store_answers_the_same(self) -> None:
        messages = self.messages()
        got = await _search(MemoryStore(), messages, [c for c, _, _ in COMMANDS])
        self.assertEqual(got, [_expected(messages, n, t) for _, n, t in COMMANDS])

    async def test_matching_runs_off_the_reactor_thread(self) -> None:
        threads: list[bool] = []
        match = search_content._match_group

        def recording(*args: Any) -> Any:
            threads.append(threading.current_thread() is threading.main_thread())
            return match(*args)

        self.patch(search_content, "_match_group", recording)
        messages = [_small(i) for i in range(50)]
        store = MaildirStore(self.mktemp())
        self.addCleanup(store.close)
        got = await _search(store, messages, [b"SEARCH BODY needle-2"])
        self.assertEqual(got, [_expected(messages, "needle-2", False)])
        self.assertTrue(threads)
        self.assertNotIn(True, threads)


class GroupTests(TestCase):
    def test_groups_are_bounded_and_in_order(self) -> None:
        class R:
            def __init__(self, size: int) -> None:
                self.size = size

        sizes = [100_000, 900_000, 5_000_000, 10, 1_500_000, 700_000, 30]
        entries = [(i + 1, i + 1, R(s)) for i, s in enumerate(sizes)]
        got = search_content.groups(entries, 1_000_000)
        self.assertEqual([e for g in got for e in g], entries)
        for g in got:
            counted = sum(min(e[2].size, search_content.WHOLE_MAX) for e in g)
            self.assertTrue(len(g) == 1 or counted <= 1_000_000)
