"""ISearchableMailbox: the store's answer equals the framework matcher's.

Random mailboxes (flags, sizes, internal dates, some expunged, some
\\Recent) and random keys over flags, sequence and UID sets, sizes,
internal dates, modseqs, \\Recent and NOT/OR/AND: ``run_search`` with the
store answering (memory and Maildir both provide ISearchableMailbox) must
give exactly what the framework's own matcher gives over a wrapper that
hides the interface.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from zope.interface import implementer

from mailframe.imap.commands.search import run_search
from mailframe.imap.types import (
    STAR,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SequenceSet,
)
from mailframe.imap.view import SelectedView
from mailframe.interfaces import IMailbox, ISearchableMailbox
from mailframe.records import NewMessage, StoreMode
from mailframe.store.maildir import MaildirStore
from mailframe.store.memory import MemoryStore
from tests.support.deferreds import result as _done

FLAGS = ["\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "$Label", "\\Recent"]
DAY0 = date(2024, 1, 1)


@implementer(IMailbox)
class _Hidden:
    """The same mailbox without ISearchableMailbox: the framework matches."""

    def __init__(self, box: Any) -> None:
        self._box = box

    def __getattr__(self, name: str) -> Any:
        if name == "search":
            raise AttributeError(name)
        return getattr(self._box, name)


class _IO:
    async def pause(self) -> None:
        return None


class _Session:
    def __init__(self, view: SelectedView, mailbox: Any) -> None:
        self.view, self.mailbox, self.io = view, mailbox, _IO()




numbers = st.integers(min_value=1, max_value=14) | st.just(STAR)
seqsets = st.lists(st.tuples(numbers, numbers), min_size=1, max_size=3).map(
    lambda r: SequenceSet(tuple(r))
)
leaf: st.SearchStrategy[SearchKey] = st.one_of(
    st.just(SearchAll()),
    st.builds(SearchFlag, st.sampled_from(FLAGS + ["$label", "\\Draft"]), st.booleans()),
    st.builds(SearchSet, seqsets, st.booleans()),
    st.builds(SearchSize, st.sampled_from(["larger", "smaller"]), st.integers(0, 400)),
    st.builds(
        SearchDate,
        st.sampled_from(["before", "on", "since"]),
        st.integers(0, 6).map(lambda d: DAY0 + timedelta(days=d)),
        sent=st.booleans(),
        saved=st.booleans(),
    ),
    st.builds(SearchModSeq, st.integers(1, 30)),
)
keys = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(SearchNot, inner),
        st.builds(SearchOr, inner, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda ks: SearchAnd(tuple(ks))),
    ),
    max_leaves=6,
)
mailboxes = st.lists(
    st.tuples(
        st.frozensets(st.sampled_from(FLAGS[:5])),
        st.integers(10, 300),
        st.integers(0, 5),
        st.booleans(),
    ),
    max_size=12,
)


def _fill(box: Any, spec: list[tuple[frozenset[str], int, int, bool]]) -> SelectedView:
    batch = [
        NewMessage(
            b"Subject: m\r\n\r\n" + b"x" * size,
            flags,
            datetime(2024, 1, 1, 12, tzinfo=UTC) + timedelta(days=day),
        )
        for flags, size, day, _ in spec
    ]
    uids = list(_done(box.append_many(batch)).uids) if batch else []
    gone = [uid for uid, (_, _, _, drop) in zip(uids, spec, strict=True) if drop]
    if gone:
        _done(box.store(gone, StoreMode.ADD, frozenset({"\\Deleted"})))
        _done(box.expunge(gone))
    lo, hi = _done(box.claim_recent())
    snap = _done(box.snapshot())
    recent = [m.uid for m in snap.messages if lo <= m.uid < hi and m.uid % 2]
    return SelectedView(snap, False, recent)


def _compare(box: Any, spec: Any, key: SearchKey) -> None:
    assert ISearchableMailbox.providedBy(box)
    view = _fill(box, spec)
    assert not ISearchableMailbox.providedBy(_Hidden(box))
    pushed = _done(defer.Deferred.fromCoroutine(run_search(_Session(view, box), key)))
    matched = _done(defer.Deferred.fromCoroutine(run_search(_Session(view, _Hidden(box)), key)))
    assert [(s, u) for s, u, _ in pushed] == [(s, u) for s, u, _ in matched], key
    if any(isinstance(k, SearchModSeq) for k in _leaves(key)):
        assert pushed == matched


def _leaves(key: SearchKey) -> list[SearchKey]:
    if isinstance(key, SearchNot):
        return _leaves(key.key)
    if isinstance(key, SearchOr):
        return _leaves(key.left) + _leaves(key.right)
    if isinstance(key, SearchAnd):
        return [k for sub in key.keys for k in _leaves(sub)]
    return [key]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mailboxes, keys)
def test_memory_pushdown_equals_matcher(spec: Any, key: SearchKey) -> None:
    box = _done(_done(MemoryStore().account("u")).mailbox("INBOX"))
    _compare(box, spec, key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mailboxes, keys)
def test_maildir_pushdown_equals_matcher(spec: Any, key: SearchKey) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = MaildirStore(root)
        box = _done(_done(store.account("u")).mailbox("INBOX"))
        try:
            _compare(box, spec, key)
        finally:
            store.close()


def test_unanswerable_keys_fall_back() -> None:
    """Header keys are not answerable from state: the store says None."""
    from mailframe.imap.types import SearchHeader

    box = _done(_done(MemoryStore().account("u")).mailbox("INBOX"))
    _done(box.append(b"Subject: hi\r\n\r\nx\r\n"))
    assert _done(box.search(SearchHeader("SUBJECT", "hi"), [1])) is None
    assert _done(box.search(SearchFlag("\\Seen", False), [1])) == [1]
