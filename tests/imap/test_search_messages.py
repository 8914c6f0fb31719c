"""SEARCH over message contents through the protocol (issue 11 defect 7):
address keys match the parsed addresses as ENVELOPE shows them, and the
SENT* keys take 1-Jan-1970 as the sent date of a message whose Date is
missing or does not parse, as Dovecot 2.3.19 answers (measured against it)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from twisted.trial.unittest import TestCase

from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for
from tests.support.wait import until_written

EST = timezone(timedelta(hours=-5))


async def search(messages: list[tuple[bytes, datetime | None]], *commands: bytes) -> list[bytes]:
    """The untagged SEARCH line answering each command."""
    store = MemoryStore()
    inbox = await (await store.account("alice")).mailbox("INBOX")
    for raw, when in messages:
        await inbox.append(raw, frozenset(), when)
    conn = connect(context_for(store))
    data = b"a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n"
    data += b"".join(b"t%d SEARCH %s\r\n" % (i, c) for i, c in enumerate(commands))
    conn.protocol.dataReceived(data)
    last = b"t%d OK" % (len(commands) - 1)
    out = await until_written(conn.transport, last)
    conn.protocol.connectionLost(None)
    return [line for line in out.split(b"\r\n") if line.startswith(b"* SEARCH")]


class AddressSearchTests(TestCase):
    async def test_comments_inside_an_address_and_unclosed_brackets(self) -> None:
        messages = [
            (b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: x@y\r\n\r\nb\r\n", None),
            (b"From: a@b\r\nTo: <no-close@example.com\r\n\r\nb\r\n", None),
            (b"From: user-from@domain.org (Real From)\r\nTo: x@y\r\n\r\nb\r\n", None),
        ]
        got = await search(
            messages,
            b"FROM user-from@domain.org",
            b"TO example.com",
            b"TO no-close",
            b'FROM "real from"',
            b"FROM comment",
        )
        self.assertEqual(
            got, [b"* SEARCH 1 3", b"* SEARCH", b"* SEARCH 2", b"* SEARCH 3", b"* SEARCH"]
        )


class SentDateFallbackTests(TestCase):
    async def test_missing_or_bad_date_is_the_epoch_like_dovecot(self) -> None:
        when = datetime(2020, 2, 1, 23, 30, tzinfo=EST)
        messages = [
            (b"Subject: no date\r\n\r\nbody\r\n", when),
            (b"Date: garbage\r\nSubject: bad date\r\n\r\nbody\r\n", when),
            (b"Date: Wed, 5 Feb 2020 10:00:00 +0000\r\nSubject: dated\r\n\r\nbody\r\n", when),
        ]
        got = await search(
            messages,
            b"SENTON 1-Feb-2020",
            b"SENTBEFORE 2-Feb-2020",
            b"SENTSINCE 2-Feb-2020",
            b"SENTON 5-Feb-2020",
            b"NOT SENTON 1-Feb-2020",
            b"SENTON 1-Jan-1970",
        )
        self.assertEqual(
            got,
            [b"* SEARCH", b"* SEARCH 1 2", b"* SEARCH 3", b"* SEARCH 3", b"* SEARCH 1 2 3",
             b"* SEARCH 1 2"],
        )
