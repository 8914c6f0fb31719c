"""Every parameter the grammar reads is applied or refused (issue 11,
defect 11): with CONDSTORE switched off, its parameters are BAD with a
reason rather than quietly ignored; and the selected view's bookkeeping
of announced keywords (defect 2)."""

from __future__ import annotations

import re

import pytest
from twisted.trial.unittest import SynchronousTestCase

from mailframe.imap.session import ServerConfig
from mailframe.imap.view import SelectedView
from mailframe.records import Changes, FlagState, Snapshot
from mailframe.store.memory import MemoryStore
from mailframe.testing.transcript import connect, context_for


class CondstoreOffTests(SynchronousTestCase):
    def test_condstore_parameters_are_refused_when_not_offered(self) -> None:
        conn = connect(context_for(MemoryStore(), config=ServerConfig(condstore=False)))
        self.addCleanup(lambda: conn.protocol.lost or conn.protocol.connectionLost(None))
        conn.protocol.dataReceived(
            b"a0 LOGIN alice secret\r\na1 APPEND INBOX {1+}\r\nm\r\n"
            b"a2 SELECT INBOX (CONDSTORE)\r\na3 STATUS INBOX (HIGHESTMODSEQ)\r\n"
            b'a4 LIST "" INBOX RETURN (STATUS (HIGHESTMODSEQ))\r\na5 SELECT INBOX\r\n'
            b"a6 FETCH 1 (FLAGS) (CHANGEDSINCE 1)\r\na7 FETCH 1 MODSEQ\r\n"
            b"a8 STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)\r\na9 SEARCH NOT MODSEQ 1\r\n"
            b"a10 FETCH 1 FLAGS\r\n"
        )
        out = conn.transport.value()
        self.assertNotIn(b" CONDSTORE", out.split(b"\r\n", 2)[1])  # not advertised
        self.assertNotIn(b"MODSEQ (", out)
        self.assertNotIn(b"[HIGHESTMODSEQ", out)
        answers = dict(re.findall(rb"^(a\d+) (OK|NO|BAD)", out, re.M))
        for tag in (b"a2", b"a3", b"a4", b"a6", b"a7", b"a8", b"a9"):
            self.assertEqual(answers[tag], b"BAD", tag)
        self.assertIn(b"a2 BAD CONDSTORE is not offered\r\n", out)
        self.assertEqual(answers[b"a10"], b"OK")


def _view(*flag_sets: frozenset[str]) -> SelectedView:
    msgs = tuple(FlagState(uid=i + 1, flags=f, modseq=1) for i, f in enumerate(flag_sets))
    return SelectedView(Snapshot(uidvalidity=1, uidnext=len(msgs) + 1, highestmodseq=1, messages=msgs), False)


def test_keywords_are_announced_once_and_stay() -> None:
    view = _view(frozenset({"$a"}), frozenset())
    assert view.announce_keywords() == {"$a"}  # at SELECT, always
    assert view.announce_keywords() is None
    view.set_flags(FlagState(2, frozenset({"\\Seen"}), 2))  # a system flag: nothing new
    assert view.announce_keywords() is None
    view.set_flags(FlagState(2, frozenset({"$b"}), 3))
    assert view.announce_keywords() == {"$a", "$b"}
    view.set_flags(FlagState(2, frozenset(), 4))  # gone from messages, kept in FLAGS
    view.set_flags(FlagState(1, frozenset(), 5))
    assert view.announce_keywords() is None
    view.set_flags(FlagState(1, frozenset({"$a"}), 6))  # announced before
    assert view.announce_keywords() is None


def test_new_messages_and_others_changes_are_announced() -> None:
    view = _view(frozenset())
    assert view.announce_keywords() == frozenset()
    changes = Changes(
        changed=(FlagState(1, frozenset({"$x"}), 2), FlagState(2, frozenset({"NIL"}), 3)),
        expunged=(), highestmodseq=3, uidnext=3,
    )
    view.catch_up(changes, allow_expunge=True)
    assert view.announce_keywords() == {"$x", "NIL"}


@pytest.mark.parametrize("flags", [frozenset({"\\Seen", "\\Deleted"}), frozenset()])
def test_system_flags_alone_announce_nothing_new(flags: frozenset[str]) -> None:
    view = _view(flags)
    view.announce_keywords()
    view.set_flags(FlagState(1, frozenset({"\\Answered", "\\Flagged", "\\Draft"}), 2))
    assert view.announce_keywords() is None
