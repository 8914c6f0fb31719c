"""NOTIFY's limit on watched mailboxes (RFC 5465 §3.1 "too expensive",
§5.8 NOTIFICATIONOVERFLOW), configurable, on every store."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.imap.session import ServerConfig
from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import run_transcript

SCRIPT = r"""
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE x/1
S: a2 OK Create completed
C: a3 NOTIFY SET (personal (MessageNew MessageExpunge))
S: a3 NO [NOTIFICATIONOVERFLOW] NOTIFY would watch 3 mailboxes (at most 2)
C: a4 NOTIFY SET (subtree x (MessageNew MessageExpunge)) (personal (MailboxName))
S: a4 OK NOTIFY completed
S~2 \* OK .*
C2: b1 LOGIN alice secret
S~2 b1 OK .*
C2: b2 APPEND x/1 {8+}
C2: Subject:
S: * STATUS x/1 (MESSAGES 1 UIDNEXT 2 UNSEEN 1)
S~2 b2 OK .*
C2: b3 CREATE x/2
S: * LIST (\HasNoChildren) "/" x/2
S: * OK [NOTIFICATIONOVERFLOW] Too many mailboxes to watch
S2: b3 OK Create completed
C2: b4 APPEND x/1 {8+}
C2: Subject:
S~2 b4 OK .*
C2: b5 CREATE y
S2: b5 OK Create completed
C: a5 NOOP
S: a5 OK NOOP completed
"""


class _Overflow(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def test_overflow(self) -> None:
        store = self.make_store()
        self.addCleanup(lambda: defer.maybeDeferred(store.close))
        await run_transcript(SCRIPT, store, config=ServerConfig(notify_max_mailboxes=2))


class MemoryOverflow(_Overflow):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirOverflow(_Overflow):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


class SqliteOverflow(_Overflow):
    def make_store(self) -> Any:
        return sqlite_from_url(f"sqlite:{self.mktemp()}.db")


del _Overflow
