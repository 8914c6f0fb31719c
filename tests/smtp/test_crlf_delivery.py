"""SMTP/LMTP delivery and ``mailframe deliver`` store bare-LF mail with
CRLF line ends on every store, sizes counting the octets served (issue 11
defect 13; Dovecot converts when it saves)."""

from __future__ import annotations

from typing import Any

from twisted.trial import unittest

from mailframe.smtp import Delivery
from mailframe.smtp.deliver_tool import _parser, run
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from tests.smtp._support import Users, read_mailbox

LF = b"Subject: lf\nContent-Type: text/plain\n\nline 1\nline 2\r\nbare CR\r stays\n"
CRLF = b"Subject: lf\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\nbare CR\r stays\r\n"


class _Tests(unittest.TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def _size(self, store: Any) -> int:
        box = await (await store.account("alice")).mailbox("INBOX")
        uids = [s.uid for s in (await box.snapshot()).messages]
        (record,) = await box.records(uids[-1:])
        assert record.info.size == record.size
        return int(record.size)

    async def test_delivery_stores_crlf(self) -> None:
        store = self.make_store()
        await Delivery(store, Users("alice")).deliver("alice", LF)
        self.assertEqual(await read_mailbox(store, "alice"), [CRLF])
        self.assertEqual(await self._size(store), len(CRLF))

    async def test_deliver_tool_stores_crlf(self) -> None:
        store = self.make_store()
        args = _parser().parse_args(["-u", "alice"])
        self.assertEqual(await run(args, LF, store=store, directory=Users("alice")), 0)
        self.assertEqual(await read_mailbox(store, "alice"), [CRLF])


class MemoryCRLFTests(_Tests):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirCRLFTests(_Tests):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


del _Tests
