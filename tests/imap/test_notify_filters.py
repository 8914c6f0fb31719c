"""NOTIFY's SUBSCRIBED filter follows the subscription list (RFC 5465
§6.4: "If the subscription list changes, the server MUST reevaluate the
list"), on every store.  (The NOOP after a5 waits for that: the session
evaluates the list again before it reads its next command.)"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.memory import MemoryStore
from mailframe.store.sql import sqlite_from_url
from mailframe.testing.transcript import run_transcript

SCRIPT = r"""
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 CREATE box
S: a2 OK Create completed
C: a3 NOTIFY SET STATUS (subscribed (MessageNew MessageExpunge SubscriptionChange)) (mailboxes nope (MessageNew MessageExpunge))
S: a3 OK NOTIFY completed
S~2 \* OK .*
C2: b1 LOGIN alice secret
S~2 b1 OK .*
C2: b2 APPEND box {8+}
C2: Subject:
S~2 b2 OK .*
C2: b3 SUBSCRIBE box
S: * LIST (\HasNoChildren \Subscribed) "/" box
S2: b3 OK Subscribe completed
C2: b4 APPEND box {8+}
C2: Subject:
S: * STATUS box (MESSAGES 2 UIDNEXT 3 UNSEEN 2)
S~2 b4 OK .*
C2: b5 UNSUBSCRIBE box
S: * LIST (\HasNoChildren) "/" box
S2: b5 OK Unsubscribe completed
C2: b6 APPEND box {8+}
C2: Subject:
S~2 b6 OK .*
C2: b7 CREATE nope
S2: b7 OK Create completed
C: a4 NOOP
S: a4 OK NOOP completed
C: a5 SUBSCRIBE box
S: a5 OK Subscribe completed
C: a6 NOOP
S: a6 OK NOOP completed
C2: b8 APPEND box {8+}
C2: Subject:
S: * STATUS box (MESSAGES 4 UIDNEXT 5 UNSEEN 4)
S~2 b8 OK .*
"""


class _Filters(TestCase):
    def make_store(self) -> Any:
        raise NotImplementedError

    async def test_subscribed_filter(self) -> None:
        store = self.make_store()
        self.addCleanup(lambda: defer.maybeDeferred(store.close))
        await run_transcript(SCRIPT, store)


class MemoryFilters(_Filters):
    def make_store(self) -> Any:
        return MemoryStore()


class MaildirFilters(_Filters):
    def make_store(self) -> Any:
        return maildir_from_url(f"maildir:{self.mktemp()}/mail")


class SqliteFilters(_Filters):
    def make_store(self) -> Any:
        return sqlite_from_url(f"sqlite:{self.mktemp()}.db")


del _Filters
