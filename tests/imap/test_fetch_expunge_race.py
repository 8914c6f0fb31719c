"""FETCH when another session expunges a message between the records
FETCH looked up and the reading of its body (the imaptest stress run on
sqlite hit it as ``NO [EXPUNGEISSUED]`` for the whole command).

Dovecot skips such a message and ends with ``OK [EXPUNGEISSUED] Some
messages were already expunged.``: the other messages are served (RFC
2180 §4.1), nothing half of the gone one is sent, and the client hears of
the expunge where expunges may be told.  The race is made deterministic
by expunging through the real store right after ``records()`` answered,
as a concurrent session would.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.memory import MemoryMailbox, MemoryStore
from mailframe.testing.transcript import run_transcript
from tests.support.transcripts import THREE_MESSAGES

SETUP = THREE_MESSAGES + """\
C: a5 SELECT INBOX
S*
S~ a5 OK .*
"""


class FetchExpungeRace(TestCase):
    def race(self, uid: int) -> None:
        """After the next records() call, expunge ``uid`` as another
        session would."""
        original = MemoryMailbox.records

        def records(mailbox: Any, uids: Any) -> Any:
            d = original(mailbox, uids)
            self.patch(MemoryMailbox, "records", original)

            def then(found: Any) -> Any:
                # as another session's UID MOVE (or DELETE) removes it
                gone = defer.Deferred.fromCoroutine(mailbox.expunge_uids([uid]))
                return gone.addCallback(lambda _: found)

            return d.addCallback(then)

        self.patch(MemoryMailbox, "records", records)

    async def test_fetch_serves_the_others(self) -> None:
        self.race(2)
        await run_transcript(SETUP + """\
C: a6 FETCH 1:3 (BODY.PEEK[])
S: * 1 FETCH (BODY[] {12}
S: Subject: 1
S: )
S: * 3 FETCH (BODY[] {12}
S: Subject: 3
S: )
S: a6 OK [EXPUNGEISSUED] Some messages were already expunged.
C: a7 NOOP
S: * 2 EXPUNGE
S: a7 OK NOOP completed
""", MemoryStore(), users={"alice": "secret"})

    async def test_uid_fetch_serves_the_others(self) -> None:
        self.race(2)
        await run_transcript(SETUP + """\
C: a6 UID FETCH 1:3 (BODY.PEEK[])
S: * 1 FETCH (UID 1 BODY[] {12}
S: Subject: 1
S: )
S: * 3 FETCH (UID 3 BODY[] {12}
S: Subject: 3
S: )
S: * 2 EXPUNGE
S: a6 OK [EXPUNGEISSUED] Some messages were already expunged.
""", MemoryStore(), users={"alice": "secret"})
