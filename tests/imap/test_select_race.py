"""SELECT/EXAMINE while another session changes the mailbox: the answer
describes one state, the snapshot it was built from, and whatever changed
after it is told at the next command, as Dovecot does.

imaptest's qresync mode (ENABLE QRESYNC, ``SELECT (QRESYNC (uidvalidity
modseq))`` from a view a client saved) failed on Maildir with two workers
with "Message count dropped N -> M", then a FETCH BAD and a panic: an
expunge and a delivery landed between the SELECT's snapshot and its
tagged OK, and the catch-up that followed every command sent ``VANISHED``
and ``EXISTS`` inside the SELECT response.  A client resynchronising with
QRESYNC restores its saved view when it reads ``[UIDVALIDITY]`` and, at
the tagged OK, sets the message count to the EXISTS it read before that
(RFC 7162 §3.2.5.1 puts EXISTS first, as RFC 3501 §6.3.1 does), so a later
EXISTS or VANISHED in the same response is undone and the client's
numbering is wrong from then on.  Nothing asks for a catch-up there: the
client hears of those changes at its next command (RFC 3501 §7, §5.2).

The race is made deterministic by changing the mailbox through the real
store from inside ``claim_recent`` (which SELECT calls after taking its
snapshot), as a concurrent session would.  The message that arrived in
between was claimed as \\Recent by this SELECT (RFC 3501 §2.3.2: no other
session may see it as recent), so it is \\Recent here when it is told.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.base import LogMailbox
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import run_transcript
from tests.support.transcripts import THREE_MESSAGES

SETUP = THREE_MESSAGES

QRESYNC = SETUP + """\
C: a5 ENABLE QRESYNC
S: * ENABLED QRESYNC
S: a5 OK ENABLE completed
C: a6 EXAMINE INBOX
S*
S~ \\* OK \\[UIDVALIDITY (?P<uv>\\d+)\\] UIDs valid
S*
S~ \\* OK \\[HIGHESTMODSEQ (?P<ms>\\d+)\\] Highest
S*
S~ a6 OK \\[READ-ONLY\\] Examine completed
C: a7 UNSELECT
S: a7 OK Unselect completed
C: a9 SELECT INBOX (QRESYNC (${uv} ${ms}))
S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.
S: * 3 EXISTS
S: * 3 RECENT
S: * OK [UNSEEN 1] First unseen.
S~ \\* OK \\[UIDVALIDITY \\d+\\] UIDs valid
S: * OK [UIDNEXT 4] Predicted next UID
S~ \\* OK \\[HIGHESTMODSEQ \\d+\\] Highest
S: a9 OK [READ-WRITE] Select completed
C: a10 NOOP
S: * VANISHED 2
S: * 3 EXISTS
S: * 3 RECENT
S~ a10 OK \\[HIGHESTMODSEQ \\d+\\] NOOP completed
C: a11 UID FETCH 1:* (FLAGS)
S: * 1 FETCH (UID 1 FLAGS (\\Recent))
S: * 2 FETCH (UID 3 FLAGS (\\Recent))
S: * 3 FETCH (UID 4 FLAGS (\\Recent))
S: a11 OK Fetch completed
"""

PLAIN = SETUP + """\
C: a5 SELECT INBOX
S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.
S: * 3 EXISTS
S: * 3 RECENT
S: * OK [UNSEEN 1] First unseen.
S~ \\* OK \\[UIDVALIDITY \\d+\\] UIDs valid
S: * OK [UIDNEXT 4] Predicted next UID
S~ \\* OK \\[HIGHESTMODSEQ \\d+\\] Highest
S: a5 OK [READ-WRITE] Select completed
C: a6 NOOP
S: * 2 EXPUNGE
S: * 3 EXISTS
S: * 3 RECENT
S: a6 OK NOOP completed
"""


class SelectRace(TestCase):
    def race(self) -> None:
        """At the next claim_recent() (SELECT, after its snapshot), expunge
        UID 2 and deliver a message, as another session would."""
        original = LogMailbox.claim_recent

        def claim_recent(mailbox: Any) -> Any:
            self.patch(LogMailbox, "claim_recent", original)

            async def meanwhile() -> Any:
                await mailbox.expunge_uids([2])
                await mailbox.append(b"Subject: 4\r\n\r\n")
                return await original(mailbox)

            return defer.Deferred.fromCoroutine(meanwhile())

        self.patch(LogMailbox, "claim_recent", claim_recent)

    async def test_qresync_select_tells_changes_at_the_next_command(self) -> None:
        """The SELECT (QRESYNC ...) response holds one EXISTS and no
        VANISHED but what the client's modseq asks for; the expunge and
        the delivery that raced it come with the NOOP."""
        self.race()
        await run_transcript(QRESYNC, MemoryStore(), users={"alice": "secret"})

    async def test_select_tells_changes_at_the_next_command(self) -> None:
        """Without QRESYNC likewise: no EXPUNGE or second EXISTS inside
        the SELECT response (Dovecot sends none there either)."""
        self.race()
        await run_transcript(PLAIN, MemoryStore(), users={"alice": "secret"})
