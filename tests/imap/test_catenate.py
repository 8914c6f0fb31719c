"""CATENATE (RFC 4469) through the real protocol on every store: the
UIDVALIDITY of a URL checked, TOOBIG before anything is read, large parts
copied in chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.imap.commands import catenate
from mailframe.imap.session import ServerConfig, server_limits
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import run_transcript

HEAD = b"From: a@example.com\r\nSubject: big\r\n\r\n"
LOGIN = "S~ \\* OK .*\nC: a1 LOGIN alice secret\nS~ a1 OK .*\n"


class _Catenate(TestCase):
    make_store: Callable[[Any], Any]

    async def _prepared(self, body: bytes) -> tuple[Any, int]:
        store = self.make_store()
        self.addCleanup(lambda: defer.maybeDeferred(store.close))
        account = await store.account("alice")
        inbox = await account.mailbox("INBOX")
        await inbox.append(HEAD + body)
        return store, (await inbox.status()).uidvalidity

    async def test_uidvalidity_that_matches(self) -> None:
        store, uv = await self._prepared(b"body\r\n")
        await run_transcript(
            LOGIN
            + f'C: a2 APPEND INBOX CATENATE (URL "/INBOX;UIDVALIDITY={uv}/;UID=1/;SECTION=HEADER" TEXT {{3+}}\n'
            + "C: x\n"
            + "C: )\n"
            + f"S: a2 OK [APPENDUID {uv} 2] Append completed\n"
            + f'C: a3 APPEND INBOX CATENATE (URL "/INBOX;UIDVALIDITY={uv + 1}/;UID=1")\n'
            + f"S: a3 NO [BADURL /INBOX;UIDVALIDITY={uv + 1}/;UID=1] Invalid URL: UIDVALIDITY does not match\n"
            + "C: a4 UID FETCH 2 BODY.PEEK[]\n"
            + "S: a4 BAD No mailbox selected\n"
            + "C: a5 EXAMINE INBOX\n"
            + "S*\n"
            + "S: a5 OK [READ-ONLY] Examine completed\n"
            + 'C: a6 APPEND INBOX CATENATE (URL ";UID=1/;SECTION=TEXT")\n'
            + "S: * 3 EXISTS\n"
            + "S: * 3 RECENT\n"
            + f"S: a6 OK [APPENDUID {uv} 3] Append completed\n"
            + "C: a7 UID FETCH 2:3 BODY.PEEK[]\n"
            + "S: * 2 FETCH (UID 2 BODY[] {40}\n"
            + "S: From: a@example.com\n"
            + "S: Subject: big\n"
            + "S: \n"
            + "S: x\n"
            + "S: )\n"
            + "S: * 3 FETCH (UID 3 BODY[] {6}\n"
            + "S: body\n"
            + "S: )\n"
            + "S: a7 OK Fetch completed\n",
            store,
        )

    async def test_toobig_before_reading(self) -> None:
        """The parts add up to more than the message size limit: NO
        [TOOBIG] (RFC 4469 §4.2), and nothing was read or stored."""
        store, uv = await self._prepared(b"x" * 200 + b"\r\n")
        config = ServerConfig(limits=server_limits(max_literal=400))
        reads: list[int] = []
        account = await store.account("alice")
        inbox = await account.mailbox("INBOX")
        cls = type(inbox)
        original = cls.read

        def counting(this: Any, uid: int, start: int = 0, end: int | None = None) -> Any:
            reads.append(uid)
            return original(this, uid, start, end)

        self.patch(cls, "read", counting)  # observe the real store's reads
        await run_transcript(
            LOGIN
            + 'C: a2 APPEND INBOX CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=1")\n'
            + "S: a2 NO [TOOBIG] Message would be larger than 400 octets\n"
            + 'C: a3 APPEND INBOX CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=1/;PARTIAL=0.100")\n'
            + f"S: a3 OK [APPENDUID {uv} 2] Append completed\n"
            + "C: a4 STATUS INBOX (MESSAGES)\n"
            + "S: * STATUS INBOX (MESSAGES 2)\n"
            + "S: a4 OK Status completed\n",
            store,
            config=config,
        )
        self.assertEqual(reads, [1, 1])  # only for a3

    async def test_large_part_read_in_chunks(self) -> None:
        body = b"".join(b"%07d line of a large message\r\n" % i for i in range(40_000))
        store, uv = await self._prepared(body)
        self.patch(catenate, "CHUNK", 64 * 1024)
        await run_transcript(
            LOGIN
            + 'C: a2 APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;SECTION=TEXT" TEXT {2+}\n'
            + "C: \n"
            + "C: )\n"
            + f"S: a2 OK [APPENDUID {uv} 2] Append completed\n",
            store,
        )
        account = await store.account("alice")
        inbox = await account.mailbox("INBOX")
        self.assertEqual(await inbox.read(2), body + b"\r\n")


class MemoryCatenate(_Catenate):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirCatenate(_Catenate):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


class SqliteCatenate(_Catenate):
    def make_store(self) -> Any:
        return sqlite_from_url(f"sqlite:{self.mktemp()}.db")


del _Catenate
