"""SEARCH and UID SEARCH (RFC 3501 §6.4.4), ESEARCH results (RFC 4731),
MODSEQ (RFC 7162 §3.1.5) and OLDER/YOUNGER (RFC 5032).

Keys are evaluated per message against the cheapest source that answers
them: the session view (flags, numbers), then backend records
(dates, sizes, cached headers), and only for BODY/TEXT the message bytes,
read in bounded groups and matched off the reactor
(:mod:`mailframe.imap.commands.search_content`).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, cast

from mailframe import message as mm
from mailframe.imap.command import Search
from mailframe.imap.commands.context import register, use_searcher
from mailframe.imap.commands.mailbox import uid_set
from mailframe.imap.commands.results import partial_value, save_result
from mailframe.imap.commands.search_columns import (
    Row,
    column_for,
    columnable,
    rows_for,
    rows_in_order,
)
from mailframe.imap.commands.search_content import search_content
from mailframe.imap.context import SelectedContext
from mailframe.imap.registry import SELECTED, Reply, command, not_by_sequence
from mailframe.imap.search_keys import resolve as resolve_extension_keys
from mailframe.imap.search_pushdown import for_store
from mailframe.imap.serialize import Atom, Raw, Value
from mailframe.imap.types import (
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
    search_leaves,
)
from mailframe.interfaces import ISearchableMailbox

BATCH = 512

VIEW, RECORD, CONTENT = 0, 1, 2


def _level(key: SearchKey) -> int:
    if isinstance(key, SearchBody):
        return CONTENT
    if isinstance(key, (SearchDate, SearchSize, SearchHeader, SearchWithin, SearchModSeq)):
        return RECORD
    return VIEW


def needs(key: SearchKey) -> int:
    """The deepest source a key needs: VIEW, RECORD or CONTENT."""
    return max(map(_level, search_leaves(key)), default=VIEW)


def uses_modseq(key: SearchKey) -> bool:
    return any(isinstance(k, SearchModSeq) for k in search_leaves(key))


class _Context:
    """What one message's evaluation may look at."""

    def __init__(self, view: Any, now: float) -> None:
        self.view = view
        self.now = now
        self.largest_uid = view.uids[-1] if view.uids else 0
        self.exists = view.exists
        self.seq = 0
        self.uid = 0
        self.record: Any = None
        self.raw: mm.Content = b""


def matches(key: SearchKey, c: _Context) -> bool:
    """Evaluate ``key`` for the message in ``c`` (RFC 3501 §6.4.4)."""
    return bool(_matches(key, c))


#: The sent date of a message with no usable Date header (Dovecot's choice).
NO_SENT_DATE = date(1970, 1, 1)


def _matches(key: SearchKey, c: _Context) -> Any:
    if isinstance(key, SearchAll):
        return True
    if isinstance(key, SearchFlag):
        return _has_flag(c.view, c.uid, key.flag) == key.present
    if isinstance(key, SearchSet):
        if key.numbers.saved:
            return c.uid in c.view.saved
        if key.uid:
            return key.numbers.contains(c.uid, c.largest_uid)
        return key.numbers.contains(c.seq, c.exists)
    if isinstance(key, SearchAnd):
        return all(matches(k, c) for k in key.keys)
    if isinstance(key, SearchOr):
        return matches(key.left, c) or matches(key.right, c)
    if isinstance(key, SearchNot):
        return not matches(key.key, c)
    if isinstance(key, SearchModSeq):
        return bool(c.record.modseq >= key.modseq)
    if isinstance(key, SearchSize):
        if key.op == "larger":
            return c.record.size > key.size
        return c.record.size < key.size
    if isinstance(key, SearchDate):
        # "disregarding time and timezone": the date as it stands in the
        # message's own zone.
        if key.saved:  # RFC 8514 §3; no save date: the internal date
            day = (c.record.savedate or c.record.internaldate).date()
        elif not key.sent:
            day = c.record.internaldate.date()
        else:
            # No Date, or one that does not parse: Dovecot 2.3 takes the
            # epoch (1-Jan-1970) as the sent date, so SENTBEFORE matches
            # such a message and SENTSINCE does not; we answer as it does.
            record = c.record
            day = (record.sent_date if isinstance(record, Row) else record.info.sent_date) or NO_SENT_DATE
        if key.op == "before":
            return day < key.when
        if key.op == "on":
            return day == key.when
        return day >= key.when
    if isinstance(key, SearchWithin):
        age = c.now - c.record.internaldate.timestamp()
        return age >= key.seconds if key.op == "older" else age <= key.seconds
    if isinstance(key, SearchHeader):
        if isinstance(c.record, Row):
            return c.record.header_matches(key.name, key.value)
        return mm.header_matches(c.record.info, key.name, key.value)
    if isinstance(key, SearchBody):
        if key.text:
            return mm.text_matches(c.record.info, c.raw, key.value)
        return mm.body_matches(c.record.info, c.raw, key.value)
    raise AssertionError(f"unknown search key {key!r}")


def _has_flag(view: Any, uid: int, flag: str) -> bool:
    if flag == "\\Recent":
        return uid in view.recent
    return flag_in(view.stored_flags(uid), flag)


def flag_in(flags: frozenset[str], flag: str) -> bool:
    """System flags are stored in their RFC spelling; keywords compare
    without regard to case (RFC 3501 §2.3.2 names them atoms)."""
    if flag in flags:
        return True
    if flag.startswith("\\") or not flags:
        return False
    want = flag.lower()
    return any(f.lower() == want for f in flags)


#: A compiled view-level key: (seq, uid, stored flags, recent?) -> bool.
ViewPredicate = Callable[[int, int, frozenset[str], bool], bool]


def compile_view_key(
    key: SearchKey, largest_uid: int, exists: int, saved: frozenset[int] = frozenset()
) -> ViewPredicate:
    """Turn a key that needs only the view (flags, numbers; ``needs(key)
    == VIEW``) into one closure, so a search over a big mailbox does not
    interpret the key tree message by message."""
    if isinstance(key, SearchAll):
        return lambda seq, uid, flags, recent: True
    if isinstance(key, SearchFlag):
        flag, present = key.flag, key.present
        if flag == "\\Recent":
            return lambda seq, uid, flags, recent: recent == present
        if flag.startswith("\\"):
            return lambda seq, uid, flags, recent: (flag in flags) == present
        return lambda seq, uid, flags, recent: flag_in(flags, flag) == present
    if isinstance(key, SearchSet):
        numbers = key.numbers
        if numbers.saved:
            return lambda seq, uid, flags, recent: uid in saved
        if key.uid:
            return lambda seq, uid, flags, recent: numbers.contains(uid, largest_uid)
        return lambda seq, uid, flags, recent: numbers.contains(seq, exists)
    if isinstance(key, SearchNot):
        inner = compile_view_key(key.key, largest_uid, exists, saved)
        return lambda seq, uid, flags, recent: not inner(seq, uid, flags, recent)
    if isinstance(key, SearchOr):
        left = compile_view_key(key.left, largest_uid, exists, saved)
        right = compile_view_key(key.right, largest_uid, exists, saved)
        return lambda seq, uid, flags, recent: left(seq, uid, flags, recent) or right(
            seq, uid, flags, recent
        )
    if isinstance(key, SearchAnd):
        parts = [compile_view_key(k, largest_uid, exists, saved) for k in key.keys]
        return lambda seq, uid, flags, recent: all(p(seq, uid, flags, recent) for p in parts)
    raise AssertionError(f"{key!r} needs more than the view")


def flags_only(key: SearchKey) -> bool:
    """Whether ``key`` looks at stored flags alone (no ``\\Recent``, no
    numbers): its answer for a message is a function of the message's
    flag set."""
    return all(
        isinstance(k, SearchAll) or (isinstance(k, SearchFlag) and k.flag != "\\Recent")
        for k in search_leaves(key)
    )


class _Verdict(dict[frozenset[str], int]):
    """A flag set -> 1 or 0 (whether it matches the key), worked out the
    first time the set is looked up (``dict.__getitem__`` stays C)."""

    def __init__(self, test: ViewPredicate) -> None:
        super().__init__()
        self.test = test

    def __missing__(self, flags: frozenset[str]) -> int:
        value = self[flags] = 1 if self.test(0, 0, flags, False) else 0
        return value


def flag_search(view: Any, key: SearchKey, with_uids: bool = True) -> tuple[list[int], list[int]]:
    """(sequence numbers, UIDs: empty unless ``with_uids``) of the
    messages matching a :func:`flags_only` key, as set operations (issue
    16): messages share a handful of flag sets (the view keeps one object
    each), so the key is evaluated once per distinct set, giving a byte
    mask over the sequence (1 where the message matches), and the numbers
    and UIDs are picked through it -- every per-message step runs in C
    (``map``, ``bytearray``, ``compress``), none is a Python test per
    message.  Answers what :func:`matches` answers (RFC 3501 §6.4.4;
    ``tests/imap/test_search_compile.py``)."""
    verdict = _Verdict(compile_view_key(key, 0, 0))
    mask = bytearray(map(verdict.__getitem__, view.flag_column()))
    uids = view.uids
    ghosts = 0
    for uid in view.ghosts:  # expunged, not yet told: matches nothing (RFC 3501 §7.4.1)
        i = bisect_left(uids, uid)
        if i < len(uids) and uids[i] == uid:
            mask[i] = 0
            ghosts += 1
    count = len(uids)
    if not ghosts and 0 not in verdict.values():  # every message (UNSEEN of a new mailbox)
        return list(range(1, count + 1)), (uids.tolist() if with_uids else [])
    if 1 not in verdict.values():
        return [], []
    return list(compress(range(1, count + 1), mask)), (list(compress(uids, mask)) if with_uids else [])


def _search_view(view: Any, key: SearchKey) -> list[tuple[int, int, int]]:
    """A view-level search: by flag set when only flags matter, else one
    pass over the UID and flag lists."""
    if flags_only(key):
        seqs, uids = flag_search(view, key)
        return list(zip(seqs, uids, repeat(0)))
    largest = view.uids[-1] if view.uids else 0
    test = compile_view_key(key, largest, view.exists, view.saved)
    recent, ghosts = view.recent, view.ghosts
    found: list[tuple[int, int, int]] = []
    for i, (uid, flags) in enumerate(view.uid_flags()):
        if ghosts and uid in ghosts:
            continue
        if test(i + 1, uid, flags, uid in recent):
            found.append((i + 1, uid, 0))
    return found


async def _search_store(
    mailbox: Any, key: SearchKey, view: Any, pairs: list[tuple[int, int]]
) -> list[tuple[int, int, int]] | None:
    """Let the store answer (ISearchableMailbox), or None to match here."""
    answer = await mailbox.search(for_store(key, view), list(map(itemgetter(1), pairs)))
    if answer is None:
        return None
    matched = set(answer)
    found = [(seq, uid) for seq, uid in pairs if uid in matched]
    modseqs: dict[int, int] = {}
    if uses_modseq(key) and found:
        modseqs = {st.uid: st.modseq for st in await mailbox.states([u for _, u in found])}
    return [(seq, uid, modseqs.get(uid, 0)) for seq, uid in found]


def _header_key(key: SearchKey) -> SearchHeader | None:
    """The one header key ``key`` is (alone, or the only key of an AND)."""
    while isinstance(key, SearchAnd) and len(key.keys) == 1:
        key = key.keys[0]
    return key if isinstance(key, SearchHeader) else None


def _row_test(key: SearchKey, c: _Context) -> Callable[[], bool]:
    """``key`` compiled for a search over column rows: evaluates the
    message ``c`` holds (header keys with their needle folded once, the
    rest as :func:`matches`)."""
    if isinstance(key, SearchHeader):
        header = mm.header_matcher(key.name, key.value)
        return lambda: header(c.record)
    if isinstance(key, SearchNot):
        inner = _row_test(key.key, c)
        return lambda: not inner()
    if isinstance(key, SearchOr):
        left, right = _row_test(key.left, c), _row_test(key.right, c)
        return lambda: left() or right()
    if isinstance(key, SearchAnd):
        parts = [_row_test(k, c) for k in key.keys]
        return lambda: all(p() for p in parts)
    return lambda: bool(_matches(key, c))


#: Header blocks one pass of :func:`mailframe.message.header_candidates`
#: joins (a few MB of header at a time, however big the mailbox).
HEADER_PASS = 4096


async def _header_search(
    session: SelectedContext, header: SearchHeader, pairs: list[tuple[int, int]], rows: list[Row | None]
) -> list[tuple[int, int, int]]:
    """One header key over the rows of ``pairs`` (in order; None for a
    message expunged meanwhile): the matcher's cheap "no" taken for a
    few thousand rows at once where it applies
    (:func:`mailframe.message.header_candidates`), the matcher for the
    rest (RFC 3501 §6.4.4)."""
    matcher = mm.header_matcher(header.name, header.value)
    found: list[tuple[int, int, int]] = []
    for i in range(0, len(rows), HEADER_PASS):
        if i:
            await session.io.pause()  # other sessions run between passes
        part = rows[i : i + HEADER_PASS]
        known = cast("list[Row]", part)
        cheap = None if None in part else mm.header_candidates([r.header for r in known], header.name, header.value)
        if cheap is None:
            hits = [k for k, r in enumerate(part) if r is not None and matcher(r)]
        else:
            yes, maybe = cheap
            hits = sorted(yes + [k for k in maybe if matcher(known[k])]) if maybe else yes
        found += [(pairs[i + k][0], pairs[i + k][1], 0) for k in hits]
    return found


async def run_search(session: SelectedContext, key: SearchKey) -> list[tuple[int, int, int]]:
    """(seq, uid, modseq) of every message in the view that matches
    ``key`` (modseq 0 when the search did not need records)."""
    key = await resolve_extension_keys(session, key)  # EMAILID (RFC 8474 §6) ...
    view = session.view
    mailbox = session.mailbox
    level = needs(key)
    if level == VIEW:
        return _search_view(view, key)
    if view.ghosts:
        pairs = [(i + 1, u) for i, u in enumerate(view.uids) if u not in view.ghosts]
    else:
        pairs = list(zip(range(1, len(view.uids) + 1), view.uids, strict=True))
    if ISearchableMailbox.providedBy(mailbox):
        pushed = await _search_store(mailbox, key, view, pairs)
        if pushed is not None:
            return pushed
    c = _Context(view, time.time())
    found: list[tuple[int, int, int]] = []
    if level == RECORD and columnable(key):
        # header, date and size keys: the mailbox's kept columns (issue 16)
        header = _header_key(key)
        if header is not None:
            # one header key (SUBJECT, FROM ...): a column when the field
            # was searched before, else the rows in sequence order, in
            # passes over thousands of headers at once (_header_search)
            uids = list(map(itemgetter(1), pairs))
            folded = mm.fold_case(header.value)
            if folded and "\x00" not in folded:
                column = await column_for(session, header.name, uids)
                if column is not None:  # a field searched before: one str.find pass
                    return [(pairs[k][0], pairs[k][1], 0) for k in column.find(folded)]
            ordered = await rows_in_order(session, uids)
            return await _header_search(session, header, pairs, ordered)
        rows = await rows_for(session, [u for _, u in pairs])
        test = _row_test(key, c)
        for n, (seq, uid) in enumerate(pairs):
            if n and not n % BATCH:
                await session.io.pause()  # a cold row decodes: other sessions run between batches
            c.seq, c.uid, c.record = seq, uid, rows.get(uid)
            if c.record is not None and test():
                found.append((seq, uid, 0))
        return found
    if level == CONTENT:

        def content_test(seq: int, uid: int, record: Any, raw: mm.Content) -> bool:
            c.seq, c.uid, c.record, c.raw = seq, uid, record, raw
            try:
                return matches(key, c)
            finally:
                c.raw = b""

        return await search_content(session, key, pairs, content_test)
    for i in range(0, len(pairs), BATCH):
        if i:
            await session.io.pause()  # let other sessions run between batches
        batch = pairs[i : i + BATCH]
        records: dict[int, Any] = {}
        if level >= RECORD:
            records = {r.uid: r for r in await mailbox.records([u for _, u in batch])}
        for seq, uid in batch:
            c.seq, c.uid = seq, uid
            if level >= RECORD:
                c.record = records.get(uid)
                if c.record is None:
                    continue
            if matches(key, c):
                found.append((seq, uid, c.record.modseq if c.record is not None else 0))
    return found


#: ``b" 1 2 3 ..."``: the numbers 1 to len-ish written once, so a result
#: that is one run of numbers (``SEARCH UNSEEN`` or ``ALL`` of a mailbox,
#: UIDs without gaps) is a slice of it, not a formatting per number.
_RUN = bytearray()
_RUN_TOP = 0
#: Largest number the run is written up to (about 1.3 MB).
RUN_MAX = 200_000


def _run_offset(n: int) -> int:
    """Where `` n`` starts in :data:`_RUN` (each number its digits and a space)."""
    at, width, low = 0, 1, 1
    while n >= low * 10:
        at += (low * 10 - low) * (width + 1)
        width, low = width + 1, low * 10
    return at + (n - low) * (width + 1)


def numbers_wire(numbers: list[int]) -> bytes:
    """`` n1 n2 ...`` of a search result (RFC 3501 §7.2.5), ascending
    and without duplicates as every result here is: one run from
    :data:`_RUN` when the numbers have no gap, else formatted in one
    ``%`` over all of them."""
    global _RUN_TOP
    count = len(numbers)
    if count < 64 or numbers[-1] - numbers[0] != count - 1 or numbers[-1] > RUN_MAX:
        return (b" %d" * count) % tuple(numbers)
    first, last = numbers[0], numbers[-1]
    if last > _RUN_TOP:
        top = min(max(last, 2 * _RUN_TOP), RUN_MAX)
        _RUN.extend((b" %d" * (top - _RUN_TOP)) % tuple(range(_RUN_TOP + 1, top + 1)))
        _RUN_TOP = top
    return bytes(_RUN[_run_offset(first) : _run_offset(last + 1)])


def _expunge_ok(cmd: Search) -> bool:
    """EXPUNGE/VANISHED may follow UID SEARCH, but not one whose criteria
    hold message numbers (RFC 7162 §3.2.10, RFC 9051 §7.5.1): they would
    shift under the client."""
    if not not_by_sequence(cmd):
        return False
    return not any(isinstance(k, SearchSet) and not k.uid and not k.numbers.saved for k in search_leaves(cmd.key))


@command(Search, SELECTED, expunge_ok=_expunge_ok)
async def search(session: SelectedContext, cmd: Search) -> Reply:
    mm.check_charset(cmd.charset)  # parsed commands were checked by the grammar already
    if cmd.returns is None and "IMAP4rev2" in session.enabled:
        # RFC 9051 §6.4.4: a rev2 SEARCH answers ESEARCH, as RETURN (ALL)
        cmd = replace(cmd, returns=())
    modseq = uses_modseq(cmd.key)
    if modseq:
        session.enable_condstore()
    saving = cmd.returns is not None and "SAVE" in cmd.returns
    if saving:
        session.view.saved = frozenset()  # a failed SEARCH leaves $ empty (RFC 5182 §2.1)
    found: list[tuple[int, int, int]] = []
    if flags_only(cmd.key):  # by flag set, no (seq, uid, modseq) per message
        need_uids = cmd.uid or (cmd.returns is not None and bool({"SAVE", "UPDATE"} & set(cmd.returns)))
        seqs, uids = flag_search(session.view, cmd.key, need_uids)
        numbers = uids if cmd.uid else seqs
    else:
        found = await run_search(session, cmd.key)
        numbers = list(map(itemgetter(1 if cmd.uid else 0), found))
        uids = list(map(itemgetter(1), found))
    if cmd.returns is None:
        # the numbers written in one go (RFC 3501 §7.2.5 ``* SEARCH n n ...``)
        values: list[Value] = [Raw(b"SEARCH" + numbers_wire(numbers))]
        if modseq and found:
            highest = max(map(itemgetter(2), found))
            values.append([Atom("MODSEQ"), highest])
        session.untagged(*values)
        return Reply("Search completed")
    # ESEARCH (RFC 4731 §3.1): an empty RETURN list means ALL; SAVE alone
    # answers nothing (RFC 5182 §2.1).
    wanted = {r.upper() for r in cmd.returns} - {"SAVE", "PARTIAL", "UPDATE", "CONTEXT"}
    update = "UPDATE" in cmd.returns  # RFC 5267 §4: follow the result
    if update:
        register(session, cmd.tag, cmd.key, cmd.uid, uids)
    if saving:
        save_result(session.view, uids, wanted)
        if not wanted and cmd.partial is None and not update:
            return Reply("Search completed")
    if not wanted and cmd.partial is None and not update:
        wanted = {"ALL"}
    out: list[Value] = [Atom("ESEARCH"), [Atom("TAG"), cmd.tag.encode()]]
    if cmd.uid:
        out.append(Atom("UID"))
    if numbers:
        if "MIN" in wanted:
            out += [Atom("MIN"), min(numbers)]
        if "MAX" in wanted:
            out += [Atom("MAX"), max(numbers)]
        if "ALL" in wanted:
            out += [Atom("ALL"), Atom(uid_set(sorted(numbers)))]
    if "COUNT" in wanted:
        out += [Atom("COUNT"), len(numbers)]
    if cmd.partial is not None:
        out += partial_value(numbers, cmd.partial)
    if modseq and numbers:
        out += [Atom("MODSEQ"), _esearch_modseq(found, wanted, cmd.uid)]
    session.untagged(*out)
    return Reply("Search completed")


def _esearch_modseq(found: list[tuple[int, int, int]], wanted: set[str], uid: bool) -> int:
    """The MODSEQ of an ESEARCH answer (RFC 7162 §3.1.5 with RFC 4731 §3.2):
    with only MIN and/or MAX asked, the highest modseq of the message(s)
    returned; with ALL or COUNT, the highest of every match."""
    if wanted & {"ALL", "COUNT"} or not wanted & {"MIN", "MAX"}:
        return max(m for _, _, m in found)
    index = 1 if uid else 0
    ends = [min(found, key=lambda f: f[index]), max(found, key=lambda f: f[index])]
    picked = [e for e, name in zip(ends, ("MIN", "MAX"), strict=True) if name in wanted]
    return max(m for _, _, m in picked)


use_searcher(run_search)  # CONTEXT=SEARCH updates search with the same matcher
