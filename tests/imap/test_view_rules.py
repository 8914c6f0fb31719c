"""Table tests for SelectedView's RFC 3501 §7.4.1 rules: which untagged
responses a change produces, when, and with which numbers.

Each row: the view (UID → flags), the store's Changes, whether EXPUNGE is
allowed now (not while answering FETCH, STORE or SEARCH by sequence
number), UID/MODSEQ forms; then the exact untagged responses, the new UIDs
(the caller answers EXISTS/RECENT for them) and the view's UIDs after.
"""

from __future__ import annotations

import pytest

from mailframe.imap.serialize import untagged
from mailframe.imap.view import SelectedView
from mailframe.records import Changes, FlagState, Snapshot

S, F, D = "\\Seen", "\\Flagged", "\\Deleted"


def _view(flags: dict[int, frozenset[str]]) -> SelectedView:
    states = tuple(FlagState(u, f, 1) for u, f in sorted(flags.items()))
    uidnext = max(flags, default=0) + 1
    return SelectedView(Snapshot(7, uidnext, 1, states), readonly=False)


def _changes(changed: dict[int, frozenset[str]], expunged: tuple[int, ...] = (), modseq: int = 9) -> Changes:
    states = tuple(FlagState(u, f, modseq) for u, f in sorted(changed.items()))
    return Changes(highestmodseq=modseq, uidnext=20, changed=states, expunged=expunged)


NONE: frozenset[str] = frozenset()
FIVE = {u: NONE for u in (1, 2, 3, 4, 5)}

ROWS = [
    pytest.param(
        FIVE, _changes({}, (2, 4)), True, False, False,
        [b"* 4 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"], [], [1, 3, 5],
        id="two expunges: highest first, each number as of its moment (Dovecot's order)",
    ),
    pytest.param(
        FIVE, _changes({}, (2, 4)), False, False, False,
        [], [], [1, 2, 3, 4, 5],
        id="no EXPUNGE while numbers must hold (FETCH/STORE/SEARCH by number)",
    ),
    pytest.param(
        FIVE, _changes({}, (5, 1, 3)), True, False, False,
        [b"* 5 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"], [], [2, 4],
        id="expunges reported in descending UID order",
    ),
    pytest.param(
        FIVE, _changes({3: frozenset({S})}), False, False, False,
        [b"* 3 FETCH (FLAGS (\\Seen))\r\n"], [], [1, 2, 3, 4, 5],
        id="another session's flag change: FETCH FLAGS even when EXPUNGE may not be sent",
    ),
    pytest.param(
        FIVE, _changes({3: frozenset({S})}), True, True, True,
        [b"* 3 FETCH (UID 3 MODSEQ (9) FLAGS (\\Seen))\r\n"], [], [1, 2, 3, 4, 5],
        id="UID and MODSEQ forms",
    ),
    pytest.param(
        FIVE, _changes({3: NONE}), True, False, False,
        [], [], [1, 2, 3, 4, 5],
        id="unchanged flags: nothing to say",
    ),
    pytest.param(
        FIVE, _changes({4: frozenset({D})}, (4,)), False, False, False,
        [], [], [1, 2, 3, 4, 5],
        id="a flag change of an expunged message is not sent",
    ),
    pytest.param(
        FIVE, _changes({6: NONE, 7: frozenset({F})}), False, False, False,
        [], [6, 7], [1, 2, 3, 4, 5, 6, 7],
        id="new messages: the caller announces EXISTS (allowed at any time)",
    ),
    pytest.param(
        FIVE, _changes({6: NONE}, (2, 6)), True, False, False,
        [b"* 2 EXPUNGE\r\n"], [6], [1, 3, 4, 5, 6],
        id="appended and expunged after the view: the expunge of the new one waits",
    ),
    pytest.param(
        FIVE, _changes({6: NONE}, (9,)), True, False, False,
        [], [6], [1, 2, 3, 4, 5, 6],
        id="an expunge of a UID the view never knew is ignored",
    ),
    pytest.param(
        {}, _changes({1: NONE}), False, False, False,
        [], [1], [1],
        id="empty mailbox gets its first message",
    ),
]


@pytest.mark.parametrize(
    ("start", "changes", "allow_expunge", "with_uid", "with_modseq", "responses", "new", "after"), ROWS
)
def test_catch_up_rules(
    start: dict[int, frozenset[str]],
    changes: Changes,
    allow_expunge: bool,
    with_uid: bool,
    with_modseq: bool,
    responses: list[bytes],
    new: list[int],
    after: list[int],
) -> None:
    view = _view(start)
    out, got_new = view.catch_up(changes, allow_expunge, with_uid, with_modseq)
    assert [untagged(*r) for r in out] == responses
    assert got_new == new
    assert list(view.uids) == after
    assert view.modseq == changes.highestmodseq


def test_held_expunges_go_out_at_the_next_allowed_moment() -> None:
    """§7.4.1: the EXPUNGE waits (the message is a ghost, its number kept)
    and is sent at the next command that allows it."""
    view = _view(FIVE)
    out, _ = view.catch_up(_changes({}, (2,)), allow_expunge=False)
    assert out == [] and view.exists == 5 and 2 in view.ghosts
    assert view.seq_of(3) == 3
    out, _ = view.catch_up(_changes({}, (), modseq=10), allow_expunge=True)
    assert [untagged(*r) for r in out] == [b"* 2 EXPUNGE\r\n"]
    assert view.exists == 4 and view.ghosts == set()


def test_recent_follows_expunge() -> None:
    view = SelectedView(Snapshot(7, 4, 1, tuple(FlagState(u, NONE, 1) for u in (1, 2, 3))), False, [2, 3])
    view.catch_up(_changes({}, (2,)), allow_expunge=True)
    assert view.recent == {3}
    assert view.flags_of(3) == frozenset({"\\Recent"})
