"""Every search key and fetch attribute form (RFC 3501 §6.4.4, §6.4.5)."""

from __future__ import annotations

from datetime import date

import pytest

from mailframe.imap import command as c
from mailframe.imap.types import (
    STAR,
    FetchAtt,
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

from .helpers import parse, round_trips


def seq(*ranges: tuple[int, int]) -> SequenceSet:
    return SequenceSet(tuple(ranges))


UNSEEN = SearchFlag("\\Seen", False)

KEYS: list[tuple[bytes, SearchKey]] = [
    (b"ALL", SearchAll()),
    (b"ANSWERED", SearchFlag("\\Answered")),
    (b"BCC fred", SearchHeader("BCC", "fred")),
    (b"BEFORE 1-Feb-1994", SearchDate("before", date(1994, 2, 1))),
    (b'BODY "hello world"', SearchBody("hello world")),
    (b"CC {3}\r\nbob", SearchHeader("CC", "bob")),
    (b"DELETED", SearchFlag("\\Deleted")),
    (b"DRAFT", SearchFlag("\\Draft")),
    (b"FLAGGED", SearchFlag("\\Flagged")),
    (b'FROM "Smith"', SearchHeader("FROM", "Smith")),
    (b"HEADER Message-ID <a@b>", SearchHeader("MESSAGE-ID", "<a@b>")),
    (b'HEADER X-Spam ""', SearchHeader("X-SPAM", "")),
    (b"KEYWORD $Forwarded", SearchFlag("$Forwarded")),
    (b"LARGER 1024", SearchSize("larger", 1024)),
    (b"NEW", SearchAnd((SearchFlag("\\Recent"), UNSEEN))),
    (b"NOT SEEN", SearchNot(SearchFlag("\\Seen"))),
    (b"OLD", SearchNot(SearchFlag("\\Recent"))),
    (b'ON "07-Feb-1994"', SearchDate("on", date(1994, 2, 7))),
    (b"OR SEEN FLAGGED", SearchOr(SearchFlag("\\Seen"), SearchFlag("\\Flagged"))),
    (b"RECENT", SearchFlag("\\Recent")),
    (b"SEEN", SearchFlag("\\Seen")),
    (b"SENTBEFORE 1-Jan-2000", SearchDate("before", date(2000, 1, 1), sent=True)),
    (b"SENTON 31-dec-1999", SearchDate("on", date(1999, 12, 31), sent=True)),
    (b"SENTSINCE 29-Feb-2024", SearchDate("since", date(2024, 2, 29), sent=True)),
    (b"SINCE 1-Feb-1994", SearchDate("since", date(1994, 2, 1))),
    (b"SMALLER 10000", SearchSize("smaller", 10000)),
    (b"SUBJECT afternoon", SearchHeader("SUBJECT", "afternoon")),
    (b'TEXT "string not in mailbox"', SearchBody("string not in mailbox", text=True)),
    (b"TO {4}\r\nJane", SearchHeader("TO", "Jane")),
    (b"UID 1:100,200", SearchSet(seq((1, 100), (200, 200)), uid=True)),
    (b"UNANSWERED", SearchFlag("\\Answered", False)),
    (b"UNDELETED", SearchFlag("\\Deleted", False)),
    (b"UNDRAFT", SearchFlag("\\Draft", False)),
    (b"UNFLAGGED", SearchFlag("\\Flagged", False)),
    (b"UNKEYWORD $Junk", SearchFlag("$Junk", False)),
    (b"UNSEEN", UNSEEN),
    (b"2:4", SearchSet(seq((2, 4)))),
    (b"*", SearchSet(seq((STAR, STAR)))),
    (b"5:2,*:3", SearchSet(seq((5, 2), (STAR, 3)))),
    (b"$", SearchSet(SequenceSet((), saved=True))),
    (b"UID $", SearchSet(SequenceSet((), saved=True), uid=True)),
    (b"(SEEN)", SearchAnd((SearchFlag("\\Seen"),))),
    (b"(SEEN (FLAGGED DELETED))", SearchAnd((
        SearchFlag("\\Seen"), SearchAnd((SearchFlag("\\Flagged"), SearchFlag("\\Deleted"))))),
    ),
    (b"MODSEQ 620162338", SearchModSeq(620162338)),
    (b'MODSEQ "/flags/\\\\draft" all 620162338', SearchModSeq(620162338)),
    (b"OLDER 3600", SearchWithin("older", 3600)),
    (b"YOUNGER 60", SearchWithin("younger", 60)),
    (b"not not seen", SearchNot(SearchNot(SearchFlag("\\Seen")))),
    (
        b"OR (FROM a TO b) NOT OR 1 UID 2",
        SearchOr(
            SearchAnd((SearchHeader("FROM", "a"), SearchHeader("TO", "b"))),
            SearchNot(SearchOr(SearchSet(seq((1, 1))), SearchSet(seq((2, 2)), uid=True))))),
]


@pytest.mark.parametrize("text, key", KEYS, ids=[k[0].decode()[:40] for k in KEYS])
def test_search_key(text: bytes, key: SearchKey) -> None:
    cmd = parse(b"t SEARCH " + text)
    assert cmd == c.Search("t", key)
    assert round_trips(cmd)


def test_top_level_is_implicit_and() -> None:
    assert parse(b"a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM Smith") == c.Search("a", SearchAnd((
        SearchFlag("\\Flagged"), SearchDate("since", date(1994, 2, 1)), SearchNot(SearchHeader("FROM", "Smith")))))


def test_charset_and_literal_values() -> None:
    cmd = parse(b"A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX")
    assert cmd == c.Search("A284", SearchBody("XXXXXX", text=True), charset="UTF-8")
    cmd = parse(b"a SEARCH charset utf-8 SUBJECT {4}\r\n\xd0\x96\xd0\x96")
    assert cmd == c.Search("a", SearchHeader("SUBJECT", "\u0416\u0416"), charset="UTF-8")
    cmd = parse(b"a SEARCH CHARSET ISO-8859-1 SUBJECT {2}\r\n\xe9t")
    assert cmd == c.Search("a", SearchHeader("SUBJECT", "\u00e9t"), charset="ISO-8859-1")
    assert round_trips(cmd)


def test_search_return_options() -> None:
    cmd = parse(b"a UID SEARCH RETURN (min max count all save) UNSEEN")
    assert cmd == c.Search("a", UNSEEN, uid=True, returns=("MIN", "MAX", "COUNT", "ALL", "SAVE"))
    assert parse(b"a SEARCH RETURN () 1:*") == c.Search("a", SearchSet(seq((1, STAR))), returns=())
    cmd = parse(b"a SEARCH RETURN (COUNT) CHARSET US-ASCII ALL")
    assert cmd == c.Search("a", SearchAll(), charset="US-ASCII", returns=("COUNT",))


SECTIONED: list[tuple[bytes, FetchAtt]] = [
    (b"ENVELOPE", FetchAtt("ENVELOPE")),
    (b"FLAGS", FetchAtt("FLAGS")),
    (b"INTERNALDATE", FetchAtt("INTERNALDATE")),
    (b"RFC822", FetchAtt("RFC822")),
    (b"rfc822.header", FetchAtt("RFC822.HEADER")),
    (b"RFC822.SIZE", FetchAtt("RFC822.SIZE")),
    (b"RFC822.TEXT", FetchAtt("RFC822.TEXT")),
    (b"BODY", FetchAtt("BODY")),
    (b"BODYSTRUCTURE", FetchAtt("BODYSTRUCTURE")),
    (b"UID", FetchAtt("UID")),
    (b"MODSEQ", FetchAtt("MODSEQ")),
    (b"BODY[]", FetchAtt("BODY[]", Section())),
    (b"body.peek[]", FetchAtt("BODY[]", Section(), peek=True)),
    (b"BODY[HEADER]", FetchAtt("BODY[]", Section(text="HEADER"))),
    (b"BODY[TEXT]", FetchAtt("BODY[]", Section(text="TEXT"))),
    (b"BODY[1]", FetchAtt("BODY[]", Section((1,)))),
    (b"BODY[4.2.2.1]", FetchAtt("BODY[]", Section((4, 2, 2, 1)))),
    (b"BODY[1.MIME]", FetchAtt("BODY[]", Section((1,), "MIME"))),
    (b"BODY[3.HEADER]", FetchAtt("BODY[]", Section((3,), "HEADER"))),
    (b"BODY[3.1.text]", FetchAtt("BODY[]", Section((3, 1), "TEXT"))),
    (
        b"BODY[HEADER.FIELDS (DATE FROM)]",
        FetchAtt("BODY[]", Section(text="HEADER.FIELDS", fields=("DATE", "FROM")))),
    (
        b'BODY.PEEK[HEADER.FIELDS.NOT (x-spam "Received")]',
        FetchAtt("BODY[]", Section(text="HEADER.FIELDS.NOT", fields=("X-SPAM", "RECEIVED")), peek=True)),
    (
        b"BODY[2.1.HEADER.FIELDS (subject)]",
        FetchAtt("BODY[]", Section((2, 1), "HEADER.FIELDS", ("SUBJECT",)))),
    (b"BODY[]<0.2048>", FetchAtt("BODY[]", Section(), partial=(0, 2048))),
    (b"BODY.PEEK[1.2]<100.1>", FetchAtt("BODY[]", Section((1, 2)), peek=True, partial=(100, 1))),
    (b"BINARY[]", FetchAtt("BINARY[]", Section())),
    (b"BINARY[1.2]", FetchAtt("BINARY[]", Section((1, 2)))),
    (b"BINARY.PEEK[3]<0.10>", FetchAtt("BINARY[]", Section((3,)), peek=True, partial=(0, 10))),
    (b"BINARY.SIZE[]", FetchAtt("BINARY.SIZE", Section())),
    (b"binary.size[4.1]", FetchAtt("BINARY.SIZE", Section((4, 1)))),
]


@pytest.mark.parametrize("text, att", SECTIONED, ids=[a[0].decode() for a in SECTIONED])
def test_fetch_att(text: bytes, att: FetchAtt) -> None:
    alone = parse(b"a FETCH 1 " + text)
    assert alone == c.Fetch("a", seq((1, 1)), (att,))
    listed = parse(b"a UID FETCH 1:* (UID " + text + b")")
    assert listed == c.Fetch("a", seq((1, STAR)), (FetchAtt("UID"), att), uid=True)
    assert round_trips(alone) and round_trips(listed)


FAST = (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"))


@pytest.mark.parametrize(
    "macro, items",
    [
        (b"ALL", FAST + (FetchAtt("ENVELOPE"),)),
        (b"fast", FAST),
        (b"Full", FAST + (FetchAtt("ENVELOPE"), FetchAtt("BODY"))),
    ],
)
def test_fetch_macros(macro: bytes, items: tuple[FetchAtt, ...]) -> None:
    assert parse(b"a FETCH 2:4 " + macro) == c.Fetch("a", seq((2, 4)), items)


def test_fetch_modifiers() -> None:
    assert parse(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)") == c.Fetch(
        "s100", seq((1, STAR)), (FetchAtt("FLAGS"),), uid=True, changedsince=12345, vanished=True)
    assert parse(b"a FETCH 1:* FAST (changedsince 0)") == c.Fetch(
        "a", seq((1, STAR)), FAST, changedsince=0)
    assert parse(b"a FETCH 1 (MODSEQ FLAGS) (CHANGEDSINCE 7)") == c.Fetch(
        "a", seq((1, 1)), (FetchAtt("MODSEQ"), FetchAtt("FLAGS")), changedsince=7)


def test_fetch_with_literal_header_names() -> None:
    cmd = parse(b"a FETCH 1 BODY[HEADER.FIELDS ({4}\r\nDATE)]")
    assert cmd == c.Fetch("a", seq((1, 1)), (FetchAtt("BODY[]", Section(text="HEADER.FIELDS", fields=("DATE",))),))


def test_sequence_set_extremes() -> None:
    assert parse(b"a FETCH 4294967295 UID") == c.Fetch("a", seq((4294967295, 4294967295)), (FetchAtt("UID"),))
    assert parse(b"a FETCH *:1 UID") == c.Fetch("a", seq((STAR, 1)), (FetchAtt("UID"),))
