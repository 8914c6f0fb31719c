"""The compiled view-level SEARCH agrees with the key interpreter."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from mailframe.imap.commands.search import _Context, _search_view, matches
from mailframe.imap.types import (
    STAR,
    SearchAll,
    SearchAnd,
    SearchFlag,
    SearchNot,
    SearchOr,
    SearchSet,
    SequenceSet,
)
from mailframe.imap.view import SelectedView
from mailframe.records import FlagState, Snapshot

FLAGS = ["\\Seen", "\\Flagged", "\\Deleted", "\\Recent", "$Work", "$work", "Junk"]
numbers = st.integers(min_value=1, max_value=40) | st.just(STAR)
seqsets = st.lists(st.tuples(numbers, numbers), min_size=1, max_size=3).map(
    lambda r: SequenceSet(tuple(r))
)
leaves = st.one_of(
    st.just(SearchAll()),
    st.builds(SearchFlag, st.sampled_from(FLAGS), st.booleans()),
    st.builds(SearchSet, seqsets, st.booleans()),
)
keys = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(SearchNot, inner),
        st.builds(SearchOr, inner, inner),
        st.builds(SearchAnd, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    ),
    max_leaves=8,
)
mailboxes = st.lists(
    st.tuples(st.integers(1, 60), st.frozensets(st.sampled_from([f for f in FLAGS if f != "\\Recent"]))),
    max_size=25,
    unique_by=lambda t: t[0],
)


@settings(max_examples=300, deadline=None)
@given(keys, mailboxes, st.sets(st.integers(1, 60)), st.sets(st.integers(1, 60)))
def test_compiled_search_equals_interpreted(key, messages, recent, ghosts) -> None:  # type: ignore[no-untyped-def]
    """Also for keys answered by flag set (search.flag_search), with
    messages expunged but not yet told (ghosts: they match nothing)."""
    messages = sorted(messages)
    snap = Snapshot(1, 61, 1, tuple(FlagState(u, f, 1) for u, f in messages))
    view = SelectedView(snap, False, recent)
    view.ghosts = set(ghosts)  # UIDs not in the view among them: ignored
    c = _Context(view, time.time())
    expected = []
    for i, u in enumerate(view.uids):
        if u in view.ghosts:
            continue
        c.seq, c.uid = i + 1, u
        if matches(key, c):
            expected.append((i + 1, u, 0))
    assert _search_view(view, key) == expected
