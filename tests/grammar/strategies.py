"""Hypothesis strategies for every command the grammar produces, in the
canonical form the grammar gives (upper-cased keywords, canonical system
flags, "INBOX" normalised)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st

from mailframe.imap import command as c
from mailframe.imap._chars import ATOM_CHARS
from mailframe.imap.grammar import LIST_RETURN, LIST_SELECT, SPECIAL_USE, STATUS_ITEMS
from mailframe.imap.grammar_fetch import SIMPLE_ATTS
from mailframe.imap.grammar_reader import SYSTEM_FLAGS
from mailframe.imap.grammar_search import RETURN_OPTIONS
from mailframe.imap.types import (
    STAR,
    AppendMessage,
    FetchAtt,
    ListOptions,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchWithin,
    Section,
    SequenceSet,
)

U32 = 0xFFFFFFFF
U63 = 0x7FFFFFFFFFFFFFFF

_ATOM_ALPHABET = "".join(sorted(chr(b) for b in ATOM_CHARS))
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
atoms = st.text(_ATOM_ALPHABET, min_size=1, max_size=8)
upper_atoms = atoms.map(str.upper)
tags = st.text(_ATOM_ALPHABET.replace("+", "") + "]", min_size=1, max_size=6)
mailboxes = text.map(lambda n: "INBOX" if n.upper() == "INBOX" else n)
field_names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=10)

keywords = atoms
system = st.sampled_from(sorted(set(SYSTEM_FLAGS.values()) - {"\\Recent"}))
# A client may store keywords and the five settable system flags; other
# "\\" names (flag-extensions) are refused (test_errors).
store_flags = st.frozensets(st.one_of(system, keywords), max_size=4)


@st.composite
def sequence_sets(draw: st.DrawFn, allow_saved: bool = True) -> SequenceSet:
    if allow_saved and draw(st.integers(0, 9)) == 0:
        return SequenceSet((), saved=True)
    number = st.one_of(st.just(STAR), st.integers(1, U32))
    ranges = draw(st.lists(st.one_of(
        number.map(lambda n: (n, n)), st.tuples(number, number)), min_size=1, max_size=4))
    return SequenceSet(tuple(ranges))


dates = st.dates(date(1000, 1, 1), date(9999, 12, 31))
date_times = st.builds(
    lambda d, secs, mins: datetime(d.year, d.month, d.day, tzinfo=timezone(timedelta(minutes=mins)))
    + timedelta(seconds=secs),
    st.dates(date(1000, 1, 2), date(9999, 12, 30)),
    st.integers(0, 86399),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)

_flag_keys = st.one_of(
    st.builds(SearchFlag, st.sampled_from(sorted(set(SYSTEM_FLAGS.values()) - {"\\Recent"})), st.booleans()),
    st.just(SearchFlag("\\Recent")),
    st.builds(SearchFlag, keywords, st.booleans()),
)
search_leaves: st.SearchStrategy[SearchKey] = st.one_of(
    st.just(SearchAll()),
    _flag_keys,
    st.builds(SearchDate, st.sampled_from(["before", "on", "since"]), dates, st.booleans()),
    st.builds(SearchSize, st.sampled_from(["larger", "smaller"]), st.integers(0, U63)),
    st.builds(SearchHeader, st.one_of(st.sampled_from(["FROM", "TO", "CC", "BCC", "SUBJECT"]), field_names), text),
    st.builds(SearchBody, text, st.booleans()),
    st.builds(SearchSet, sequence_sets(), st.booleans()),
    st.builds(SearchModSeq, st.integers(0, U63)),
    st.builds(SearchWithin, st.sampled_from(["older", "younger"]), st.integers(1, U32)),
)
search_keys: st.SearchStrategy[SearchKey] = st.recursive(
    search_leaves,
    lambda inner: st.one_of(
        st.builds(SearchNot, inner),
        st.builds(SearchOr, inner, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda ks: SearchAnd(tuple(ks))),
    ),
    max_leaves=8,
)

parts = st.lists(st.integers(1, U32), max_size=3).map(tuple)
partials = st.none() | st.tuples(st.integers(0, U63), st.integers(1, U63))


@st.composite
def sections(draw: st.DrawFn) -> Section:
    part = draw(parts)
    choices = [None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"] + (["MIME"] if part else [])
    text_ = draw(st.sampled_from(choices))
    fields: tuple[str, ...] = ()
    if text_ and text_.startswith("HEADER.FIELDS"):
        fields = tuple(draw(st.lists(field_names, min_size=1, max_size=3)))
    return Section(part, text_, fields)


fetch_atts = st.one_of(
    st.sampled_from(sorted(SIMPLE_ATTS)).map(FetchAtt),
    st.builds(lambda s, p, q: FetchAtt("BODY[]", s, p, q), sections(), st.booleans(), partials),
    st.builds(lambda s, p, q: FetchAtt("BINARY[]", Section(s), p, q), parts, st.booleans(), partials),
    parts.map(lambda s: FetchAtt("BINARY.SIZE", Section(s))),
)


@st.composite
def fetches(draw: st.DrawFn, tag: str) -> c.Fetch:
    uid = draw(st.booleans())
    changed = draw(st.none() | st.integers(0, U63))
    vanished = uid and changed is not None and draw(st.booleans())
    items = tuple(draw(st.lists(fetch_atts, min_size=1, max_size=4)))
    return c.Fetch(tag, draw(sequence_sets()), items, uid, changed, vanished)


@st.composite
def list_commands(draw: st.DrawFn, tag: str) -> c.List:
    if draw(st.booleans()):
        return c.List(tag, draw(text), (draw(text),), lsub=True)
    select = draw(st.frozensets(st.sampled_from(sorted(LIST_SELECT))))
    if "RECURSIVEMATCH" in select and not select - {"RECURSIVEMATCH", "REMOTE"}:
        select = frozenset()
    returns = set(draw(st.frozensets(st.sampled_from(sorted(LIST_RETURN)))))
    status: tuple[str, ...] = ()
    if draw(st.booleans()):
        returns.add("STATUS")
        status = tuple(draw(st.lists(st.sampled_from(sorted(STATUS_ITEMS)), min_size=1, max_size=3)))
    patterns = tuple(draw(st.lists(text, min_size=1, max_size=3)))
    return c.List(tag, draw(text), patterns, options=ListOptions(select, frozenset(returns), status))


append_messages = st.one_of(
    st.builds(AppendMessage, st.binary(max_size=20).map(lambda b: b.replace(b"\x00", b"")),
              store_flags, st.none() | date_times, st.just(False)),
    st.builds(AppendMessage, st.binary(max_size=20), store_flags, st.none() | date_times, st.just(True)),
)

special_uses = st.frozensets(st.one_of(
    st.sampled_from(sorted(SPECIAL_USE.values())),
    atoms.map(lambda a: "\\" + a).filter(lambda f: f.upper() not in SPECIAL_USE),
), max_size=3)


def _commands(tag: str) -> st.SearchStrategy[c.Command]:
    seqs = sequence_sets()
    bare = [c.Capability, c.Noop, c.Logout, c.StartTLS, c.Check, c.Close, c.Unselect, c.Namespace, c.Idle,
            c.Unauthenticate]
    return st.one_of(
        st.sampled_from(bare).map(lambda cls: cls(tag)),
        st.just(c.Compress(tag, "DEFLATE")),
        st.builds(c.Login, st.just(tag), text, text),
        st.builds(c.Authenticate, st.just(tag), upper_atoms, st.one_of(
            st.none(), st.just(b"="), st.binary(min_size=1, max_size=30).map(base64.b64encode))),
        st.builds(c.Id, st.just(tag), st.none() | st.lists(st.tuples(text, st.none() | text), max_size=3).map(tuple)),
        st.builds(c.Enable, st.just(tag), st.lists(upper_atoms, min_size=1, max_size=3).map(tuple)),
        st.builds(c.Select, st.just(tag), mailboxes, st.booleans(), st.booleans(), st.none() | st.tuples(
            st.integers(1, U32), st.integers(0, U63), st.none() | sequence_sets(allow_saved=False))),
        st.builds(c.Create, st.just(tag), mailboxes, special_uses),
        st.builds(c.Delete, st.just(tag), mailboxes),
        st.builds(c.Subscribe, st.just(tag), mailboxes),
        st.builds(c.Unsubscribe, st.just(tag), mailboxes),
        st.builds(c.Rename, st.just(tag), mailboxes, mailboxes),
        list_commands(tag),
        st.builds(c.Status, st.just(tag), mailboxes,
                  st.lists(st.sampled_from(sorted(STATUS_ITEMS)), min_size=1, max_size=4).map(tuple)),
        st.builds(c.Append, st.just(tag), mailboxes, st.lists(append_messages, min_size=1, max_size=3).map(tuple)),
        st.builds(c.Expunge, st.just(tag), st.none() | seqs),
        st.builds(c.Search, st.just(tag), search_keys, st.booleans(),
                  st.sampled_from([None, "UTF-8", "US-ASCII"]),
                  st.none() | st.lists(st.sampled_from(sorted(RETURN_OPTIONS)), unique=True, max_size=3).map(tuple)),
        fetches(tag),
        st.builds(c.Store, st.just(tag), seqs, st.sampled_from(["set", "add", "remove"]), store_flags,
                  st.booleans(), st.booleans(), st.none() | st.integers(0, U63)),
        st.builds(c.Copy, st.just(tag), seqs, mailboxes, st.booleans()),
        st.builds(c.Move, st.just(tag), seqs, mailboxes, st.booleans()),
    )


commands: st.SearchStrategy[c.Command] = st.builds(
    lambda tag, cmd: dataclasses.replace(cmd, tag=tag), tags, _commands("t"))
