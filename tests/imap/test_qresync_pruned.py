"""QRESYNC when the expunge tombstones a client needs are gone (RFC 7162
§3.2.5.2, §3.2.6): the server must then report every UID of the client's
known range that no longer exists, so a client that was offline still ends
up exactly in sync.  Tombstones go when a store prunes them (the memory
log's ``forget_tombstones``, Maildir's compaction) or with a lost index
(Maildir rebuilds ``mailframe-index``, mbox its ``.mailframe`` JSON).
Played through the real protocol with the transcript runner."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mailframe.store.maildir import from_url as maildir_from_url
from mailframe.store.mbox import from_url as mbox_from_url
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import run_transcript

LOGIN = """\
S~ \\* OK \\[CAPABILITY .*\\] mailframe ready\\.
C: a1 LOGIN alice secret
S~ a1 OK \\[CAPABILITY .*\\] Logged in
"""


def _append(n: int) -> str:
    return (
        f"C: p{n} APPEND INBOX {{12+}}\nC: Subject: {n}\nC: \n"
        f"S~ p{n} OK \\[APPENDUID \\d+ {n}\\] Append completed\n"
    )


FILL = LOGIN + "".join(_append(n) for n in range(1, 6)) + "C: a9 LOGOUT\nS: * BYE Logging out\nS: a9 OK Logout completed\n"

# UIDs 2 and 3 go; UID 5 gets \Flagged (after the client's modseq).
CHANGE = LOGIN + """\
C: a2 SELECT INBOX
S*
S~ a2 OK \\[READ-WRITE\\] Select completed
C: a3 STORE 2:3 +FLAGS.SILENT (\\Deleted)
S: a3 OK Store completed
C: a4 EXPUNGE
S: * 3 EXPUNGE
S: * 2 EXPUNGE
S: a4 OK Expunge completed
C: a5 UID STORE 5 +FLAGS.SILENT (\\Flagged)
S: a5 OK Store completed
C: a9 LOGOUT
S: * BYE Logging out
S: a9 OK Logout completed
"""

SELECT_HEAD = """\
S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
S: * OK [PERMANENTFLAGS ()] Read-only mailbox.
S: * 3 EXISTS
S: * 0 RECENT
S: * OK [UNSEEN 1] First unseen.
S: * OK [UIDVALIDITY {uv}] UIDs valid
S: * OK [UIDNEXT 6] Predicted next UID
S~ \\* OK \\[HIGHESTMODSEQ \\d+\\] Highest
"""


async def _mailbox(store: Any) -> Any:
    account = await store.account("alice")
    return await account.mailbox("INBOX")


class _Pruned(TestCase):
    """Fill, note what the client knows, change, lose the tombstones,
    resynchronise."""

    def make_store(self) -> Any:
        raise NotImplementedError

    async def lose_tombstones(self, store: Any) -> Any:
        """Make ``store`` forget the expunges; may return a new store."""
        raise NotImplementedError

    #: FETCH lines the resync shows for UIDs 1, 4 (unchanged for the
    #: client) and 5: after a lost index every modseq is new.
    fetch_all = False

    async def test_resync_reports_the_known_range(self) -> None:
        store = self.make_store()
        try:
            await run_transcript(FILL, store)
            st = await (await _mailbox(store)).status()
            uv, ms = st.uidvalidity, st.highestmodseq
            await run_transcript(CHANGE, store)
            store = await self.lose_tombstones(store)
            # RFC 7162 §3.1.2: modseqs never go backwards, index or not.
            self.assertGreater((await (await _mailbox(store)).status()).highestmodseq, ms)
            fetches = (
                "S~ \\* 1 FETCH \\(UID 1 FLAGS \\(\\) MODSEQ \\(\\d+\\)\\)\n"
                "S~ \\* 2 FETCH \\(UID 4 FLAGS \\(\\) MODSEQ \\(\\d+\\)\\)\n"
                if self.fetch_all
                else ""
            ) + "S~ \\* 3 FETCH \\(UID 5 FLAGS \\(\\\\Flagged\\) MODSEQ \\(\\d+\\)\\)\n"
            head = SELECT_HEAD.format(uv=uv)
            script = LOGIN + f"""\
C: a2 ENABLE QRESYNC
S: * ENABLED QRESYNC
S: a2 OK ENABLE completed
C: a3 EXAMINE INBOX (QRESYNC ({uv} {ms} 1:5))
{head}S: * VANISHED (EARLIER) 2:3
{fetches}S: a3 OK [READ-ONLY] Examine completed
C: a4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {ms} VANISHED)
S: * VANISHED (EARLIER) 2:3
{fetches}S: a4 OK Fetch completed
C: a5 EXAMINE INBOX (QRESYNC ({uv} {ms} 1:5 (1 1)))
S: * OK [CLOSED] Previous mailbox closed.
{head}S: * VANISHED (EARLIER) 2:3
{fetches}S: a5 OK [READ-ONLY] Examine completed
C: a6 EXAMINE INBOX (QRESYNC ({uv} {ms} 1,4:5 (1:2 1,4)))
S: * OK [CLOSED] Previous mailbox closed.
{head}{fetches}S: a6 OK [READ-ONLY] Examine completed
C: a7 EXAMINE INBOX (QRESYNC ({uv} {ms} 1:5 (1:3 1,4,5)))
S: * OK [CLOSED] Previous mailbox closed.
{head}{fetches}S: a7 OK [READ-ONLY] Examine completed
C: a8 LOGOUT
S: * BYE Logging out
S: a8 OK Logout completed
"""
            await run_transcript(script, store)
        finally:
            await defer.maybeDeferred(store.close)


class MemoryPruned(_Pruned):
    def make_store(self) -> Any:
        self.store = MemoryStore()
        return self.store

    async def lose_tombstones(self, store: Any) -> Any:
        mailbox = await _mailbox(store)
        self.assertEqual(mailbox.log.forget_tombstones(mailbox.log.highestmodseq), 2)
        return store


class MaildirLostIndex(_Pruned):
    fetch_all = True

    def make_store(self) -> Any:
        self.root = self.mktemp()
        return maildir_from_url(f"maildir:{self.root}/mail")

    async def lose_tombstones(self, store: Any) -> Any:
        await defer.maybeDeferred(store.close)
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root):
            if "mailframe-index" in files:
                os.remove(os.path.join(dirpath, "mailframe-index"))
                removed += 1
        self.assertGreater(removed, 0)
        return maildir_from_url(f"maildir:{self.root}/mail")


class MboxLostIndex(_Pruned):
    fetch_all = True

    def make_store(self) -> Any:
        self.root = self.mktemp()
        return mbox_from_url(f"mbox:{self.root}/%u")

    async def lose_tombstones(self, store: Any) -> Any:
        await defer.maybeDeferred(store.close)
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if dirpath.endswith(".mailframe") and name.endswith(".json"):
                    os.remove(os.path.join(dirpath, name))
                    removed += 1
        self.assertGreater(removed, 0)
        return mbox_from_url(f"mbox:{self.root}/%u")


del _Pruned


def test_maildir_compaction_records_what_it_pruned(tmp_path: Any, monkeypatch: Any) -> None:
    """Maildir's compaction drops the oldest tombstones beyond its limit
    and remembers up to which modseq, across a restart, so QRESYNC knows
    it must fall back (IExpungeHistory.expunged_since answers None)."""
    from mailframe.store import _maildir_state
    from mailframe.store.maildir import MaildirStore
    from tests.support.deferreds import result

    def inbox() -> Any:
        return result(result(MaildirStore(str(tmp_path)).account("u")).mailbox("INBOX"))

    box = inbox()
    uids = [result(box.append(b"Subject: %d\r\n\r\nx\r\n" % i, frozenset(), None)) for i in range(4)]
    marks = []
    for uid in uids[:3]:
        result(box.store([uid], "add", frozenset({"\\Deleted"})))
        result(box.expunge([uid]))
        marks.append(result(box.status()).highestmodseq)
    monkeypatch.setattr(_maildir_state, "MAX_TOMBSTONES", 1)
    folder = box.folder
    with folder.lock:
        folder.scanner.catch_up()
        folder.index.checkpoint()
    fresh = inbox()
    assert result(fresh.expunged_since(0)) is None
    assert result(fresh.expunged_since(marks[0])) is None
    assert result(fresh.expunged_since(marks[1])) == [uids[2]]
