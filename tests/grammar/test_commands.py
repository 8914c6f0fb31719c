"""Every command: wire bytes → exact typed command, and back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mailframe.imap import command as c
from mailframe.imap.types import (
    STAR,
    AppendMessage,
    FetchAtt,
    ListOptions,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchSet,
    SequenceSet,
)

from .helpers import parse, round_trips


def seq(*ranges: tuple[int, int]) -> SequenceSet:
    return SequenceSet(tuple(ranges))


CASES: list[tuple[bytes, c.Command]] = [
    # any state
    (b"a CAPABILITY", c.Capability("a")),
    (b"a1 noop", c.Noop("a1")),
    (b"x.y LoGoUt", c.Logout("x.y")),
    (b"t ID NIL", c.Id("t", None)),
    (b't ID ("name" "sodr" "version" "19.34")', c.Id("t", (("name", "sodr"), ("version", "19.34")))),
    (b't ID ("name" NIL)', c.Id("t", (("name", None),))),
    (b"t ID ()", c.Id("t", ())),
    # not authenticated
    (b"a STARTTLS", c.StartTLS("a")),
    (b"a unauthenticate", c.Unauthenticate("a")),
    (b"a COMPRESS deflate", c.Compress("a", "DEFLATE")),
    (b"a AUTHENTICATE plain", c.Authenticate("a", "PLAIN")),
    (b"a AUTHENTICATE PLAIN AGZvbwBiYXI=", c.Authenticate("a", "PLAIN", b"AGZvbwBiYXI=")),
    (b"a AUTHENTICATE PLAIN =", c.Authenticate("a", "PLAIN", b"=")),
    (b"a AUTHENTICATE SCRAM-SHA-256 biwsbj11c2Vy", c.Authenticate("a", "SCRAM-SHA-256", b"biwsbj11c2Vy")),
    (b"a LOGIN fred secret", c.Login("a", "fred", "secret")),
    (b'a login "fred smith" "pa\\\\ss\\"word"', c.Login("a", "fred smith", 'pa\\ss"word')),
    (b"a LOGIN {4}\r\nfred {6}\r\nsecret", c.Login("a", "fred", "secret")),
    (b"a LOGIN {4+}\r\nfred {2+}\r\n\xc3\xa9", c.Login("a", "fred", "\u00e9")),
    (b"a LOGIN fred {1}\r\n\xff", c.Login("a", "fred", "\udcff")),  # not UTF-8: surrogate-escaped
    (b"a LOGIN ]x[ pw", c.Login("a", "]x[", "pw")),
    # authenticated
    (b"a SELECT INBOX", c.Select("a", "INBOX")),
    (b"a select inbox", c.Select("a", "INBOX")),
    (b'a SELECT "InBoX"', c.Select("a", "INBOX")),
    (b"a SELECT Inbox/Sub", c.Select("a", "Inbox/Sub")),
    (b"a EXAMINE blurdybloop", c.Select("a", "blurdybloop", readonly=True)),
    (b"a SELECT INBOX (CONDSTORE)", c.Select("a", "INBOX", condstore=True)),
    (
        b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        c.Select("A02", "INBOX", qresync=(67890007, 20050715194045000, seq((41, 41), (43, 211), (214, 541)))),
    ),
    (b"a SELECT x (QRESYNC (1 0))", c.Select("a", "x", qresync=(1, 0, None))),
    (
        b"a EXAMINE x (CONDSTORE QRESYNC (5 9 1:* (1:3 5,7,9)))",
        c.Select("a", "x", readonly=True, condstore=True, qresync=(5, 9, seq((1, STAR))),
                 seq_match=(seq((1, 3)), seq((5, 5), (7, 7), (9, 9))))),
    (b"a SELECT x (QRESYNC (5 9 (1:3 5,7,9)))",
     c.Select("a", "x", qresync=(5, 9, None), seq_match=(seq((1, 3)), seq((5, 5), (7, 7), (9, 9))))),
    (b"a SELECT &U,BTFw-", c.Select("a", "\u53f0\u5317")),
    (b'a SELECT "caf\xc3\xa9"', c.Select("a", "caf\u00e9")),  # UTF-8 names (RFC 9051)
    (b"a CREATE owatagusiam/", c.Create("a", "owatagusiam/")),
    (b"a CREATE Sent (USE (\\sent))", c.Create("a", "Sent", frozenset({"\\Sent"}))),
    (b"a CREATE Junk (USE (\\Junk \\Trash \\X-Other))", c.Create("a", "Junk", frozenset({"\\Junk", "\\Trash", "\\X-Other"}))),
    (b"a CREATE Junk (USE ())", c.Create("a", "Junk")),
    (b"a DELETE blurdybloop", c.Delete("a", "blurdybloop")),
    (b"a RENAME blurdybloop sarasoop", c.Rename("a", "blurdybloop", "sarasoop")),
    (b"a RENAME inbox old-mail", c.Rename("a", "INBOX", "old-mail")),
    (b'a SUBSCRIBE "#news.comp.mail.mime"', c.Subscribe("a", "#news.comp.mail.mime")),
    (b"a UNSUBSCRIBE #news.comp.mail.mime", c.Unsubscribe("a", "#news.comp.mail.mime")),
    (b'a LIST "" ""', c.List("a", "", ("",))),
    (b'a LIST "#news.comp.mail.misc" ""', c.List("a", "#news.comp.mail.misc", ("",))),
    (b'a LIST /usr/staff/jones ""', c.List("a", "/usr/staff/jones", ("",))),
    (b'a LIST ~/Mail/ %', c.List("a", "~/Mail/", ("%",))),
    (b'a list "" *', c.List("a", "", ("*",))),
    (b'a LIST "" &U,BTFw-/*', c.List("a", "", ("\u53f0\u5317/*",))),
    (b'a LIST "" inbox', c.List("a", "", ("inbox",))),
    (b'a LIST "" "foo bar%"', c.List("a", "", ("foo bar%",))),
    (
        b'A01 LIST (SUBSCRIBED) "" "*"',
        c.List("A01", "", ("*",), options=ListOptions(select=frozenset({"SUBSCRIBED"})))),
    (
        b'A02 LIST (subscribed RECURSIVEMATCH) "" % RETURN (CHILDREN)',
        c.List("A02", "", ("%",), options=ListOptions(
            select=frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}), return_=frozenset({"CHILDREN"})))),
    (
        b'A03 LIST "" ("INBOX" "Drafts" Sent/%)',
        c.List("A03", "", ("INBOX", "Drafts", "Sent/%"))),
    (
        b'A04 LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE)',
        c.List("A04", "", ("*",), options=ListOptions(
            select=frozenset({"SPECIAL-USE"}), return_=frozenset({"SPECIAL-USE"})))),
    (
        b'A05 LIST "" % RETURN (SPECIAL-USE CHILDREN SUBSCRIBED STATUS (MESSAGES UNSEEN))',
        c.List("A05", "", ("%",), options=ListOptions(
            return_=frozenset({"SPECIAL-USE", "CHILDREN", "SUBSCRIBED", "STATUS"}),
            status_items=("MESSAGES", "UNSEEN")))),
    (b'A06 LIST () "" % RETURN ()', c.List("A06", "", ("%",))),
    (b'a LSUB "#news." "comp.mail.*"', c.List("a", "#news.", ("comp.mail.*",), lsub=True)),
    (b"a NAMESPACE", c.Namespace("a")),
    (
        b"a STATUS blurdybloop (UIDNEXT MESSAGES)",
        c.Status("a", "blurdybloop", ("UIDNEXT", "MESSAGES"))),
    (
        b"a status INBOX (messages recent uidnext uidvalidity unseen highestmodseq size deleted)",
        c.Status("a", "INBOX", ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
                                "HIGHESTMODSEQ", "SIZE", "DELETED"))),
    (b"a APPEND saved-messages {5}\r\nhello", c.Append("a", "saved-messages", (AppendMessage(b"hello"),))),
    (
        b'A003 APPEND saved-messages (\\Seen) {11}\r\nhello\r\nworl',
        c.Append("A003", "saved-messages", (AppendMessage(b"hello\r\nworl", frozenset({"\\Seen"})),))),
    (
        b'a APPEND x (\\seen \\DRAFT $Junk) " 7-Feb-1994 21:52:25 -0800" {1}\r\nm',
        c.Append("a", "x", (AppendMessage(
            b"m", frozenset({"\\Seen", "\\Draft", "$Junk"}),
            datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=-8)))),))),
    (
        b'a APPEND x "17-Jul-1996 02:44:25 +0530" {1+}\r\nm',
        c.Append("a", "x", (AppendMessage(
            b"m", internaldate=datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=5, minutes=30)))),))),
    (b"a APPEND x () {1}\r\nm", c.Append("a", "x", (AppendMessage(b"m"),))),
    (
        b'a APPEND x "7-feb-1994 21:52:25 +0000" {1}\r\nm',  # one-digit day, as some clients send
        c.Append("a", "x", (AppendMessage(b"m", internaldate=datetime(1994, 2, 7, 21, 52, 25, tzinfo=UTC)),))),
    (
        b"A003 APPEND saved-messages (\\Seen) {3}\r\nabc {3}\r\ndef ~{2}\r\n\x00\x01",
        c.Append("A003", "saved-messages", (
            AppendMessage(b"abc", frozenset({"\\Seen"})),
            AppendMessage(b"def"),
            AppendMessage(b"\x00\x01", binary=True),
        ))),
    (b"a ENABLE CONDSTORE", c.Enable("a", ("CONDSTORE",))),
    (b"a enable qresync utf8=accept", c.Enable("a", ("QRESYNC", "UTF8=ACCEPT"))),
    (b"a IDLE", c.Idle("a")),
    # selected
    (b"a CHECK", c.Check("a")),
    (b"a CLOSE", c.Close("a")),
    (b"a UNSELECT", c.Unselect("a")),
    (b"a EXPUNGE", c.Expunge("a")),
    (b"a UID EXPUNGE 3000:3002", c.Expunge("a", seq((3000, 3002)))),
    (b"a uid expunge 1,5:*", c.Expunge("a", seq((1, 1), (5, STAR)))),
    (b"a SEARCH ALL", c.Search("a", SearchAll())),
    (b"a UID SEARCH UNSEEN", c.Search("a", SearchFlag("\\Seen", False), uid=True)),
    (b"a FETCH 1 UID", c.Fetch("a", seq((1, 1)), (FetchAtt("UID"),))),
    (b"a UID FETCH 1:* (FLAGS)", c.Fetch("a", seq((1, STAR)), (FetchAtt("FLAGS"),), uid=True)),
    (
        b"a STORE 2:4 +FLAGS (\\Deleted)",
        c.Store("a", seq((2, 4)), "add", frozenset({"\\Deleted"}))),
    (
        b"a STORE 2:4 -FLAGS.SILENT \\Seen $Junk",
        c.Store("a", seq((2, 4)), "remove", frozenset({"\\Seen", "$Junk"}), silent=True)),
    (b"a STORE 1 FLAGS ()", c.Store("a", seq((1, 1)), "set", frozenset())),
    (b"a store 1 flags.silent (\\FLAGGED)", c.Store("a", seq((1, 1)), "set", frozenset({"\\Flagged"}), silent=True)),
    (
        b"a UID STORE 1 (UNCHANGEDSINCE 12121230045) +FLAGS (\\Deleted)",
        c.Store("a", seq((1, 1)), "add", frozenset({"\\Deleted"}), uid=True, unchangedsince=12121230045)),
    (
        b"a STORE 7,5,9 (unchangedsince 0) FLAGS.SILENT (\\Seen)",
        c.Store("a", seq((7, 7), (5, 5), (9, 9)), "set", frozenset({"\\Seen"}), silent=True, unchangedsince=0)),
    (b"a STORE $ +FLAGS (\\Seen)", c.Store("a", SequenceSet((), saved=True), "add", frozenset({"\\Seen"}))),
    (b"a COPY 2:4 MEETING", c.Copy("a", seq((2, 4)), "MEETING")),
    (b"a UID COPY 4827313:4828442 inbox", c.Copy("a", seq((4827313, 4828442)), "INBOX", uid=True)),
    (b"a MOVE 1:3 Trash", c.Move("a", seq((1, 3)), "Trash")),
    (b"a uid move 42 Archive/2024", c.Move("a", seq((42, 42)), "Archive/2024", uid=True)),
    # SORT / THREAD (RFC 5256 §4), ESORT (RFC 5267), PARTIAL (RFC 9394)
    (
        b"a SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
        c.Sort("a", (("SUBJECT", False), ("DATE", True)), SearchAll(), "UTF-8")),
    (
        b"a uid sort return (min count partial 4:2) (displayfrom) us-ascii seen 1:5",
        c.Sort(
            "a", (("DISPLAYFROM", False),),
            SearchAnd((SearchFlag("\\Seen"), SearchSet(seq((1, 5))))),
            "US-ASCII", uid=True, returns=("MIN", "COUNT", "PARTIAL"), partial=(2, 4))),
    (
        b"a SEARCH RETURN (PARTIAL -1:-100) UNDELETED",
        c.Search("a", SearchFlag("\\Deleted", False), returns=("PARTIAL",), partial=(-1, -100))),
    (b"a THREAD REFERENCES UTF-8 ALL", c.Thread("a", "REFERENCES", SearchAll(), "UTF-8")),
    (b'a CANCELUPDATE "b1" "b 2"', c.CancelUpdate("a", ("b1", "b 2"))),
    (b"a SEARCH SAVEDSINCE 1-Feb-2024", c.Search("a", SearchDate("since", date(2024, 2, 1), saved=True))),
    (b"a SEARCH SAVEDATESUPPORTED", c.Search("a", SearchAll())),
    (b"a FETCH 1 (SAVEDATE UID)", c.Fetch("a", seq((1, 1)), (FetchAtt("SAVEDATE"), FetchAtt("UID")))),
    (
        b"a SEARCH RETURN (UPDATE CONTEXT COUNT) SEEN",
        c.Search("a", SearchFlag("\\Seen"), returns=("UPDATE", "CONTEXT", "COUNT"))),
    (b"a UID THREAD orderedsubject US-ASCII ALL", c.Thread("a", "ORDEREDSUBJECT", SearchAll(), "US-ASCII", uid=True)),
    # REPLACE (RFC 8508 §6), more in test_append_ext.py
    (b"a REPLACE 4 Drafts (\\Seen) {1}\r\nm", c.Replace("a", seq((4, 4)), "Drafts", AppendMessage(b"m", frozenset({"\\Seen"})))),
    # NOTIFY (RFC 5465 §8), more in test_notify_grammar.py
    (b"a NOTIFY NONE", c.Notify("a")),
    (b"a NOTIFY SET (personal (MessageNew MessageExpunge))",
     c.Notify("a", (c.NotifyGroup("PERSONAL", (), ("MessageNew", "MessageExpunge")),))),
]


@pytest.mark.parametrize("line, expected", CASES, ids=[x[0].decode("latin-1")[:60] for x in CASES])
def test_parse(line: bytes, expected: c.Command) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize("line, expected", CASES, ids=[x[0].decode("latin-1")[:60] for x in CASES])
def test_round_trip(line: bytes, expected: c.Command) -> None:
    assert round_trips(expected)


def test_every_command_class_is_covered() -> None:
    covered = {type(cmd) for _, cmd in CASES}
    every = {
        cls for cls in vars(c).values()
        if isinstance(cls, type) and issubclass(cls, c.Command) and cls is not c.Command
    }
    assert every - covered == set()


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"a SELECT Tom&Jerry", c.Select("a", "Tom&Jerry")),
        (b"a SELECT &U,BTFw-", c.Select("a", "&U,BTFw-")),
        (b'a CREATE "Entw\xc3\xbcrfe"', c.Create("a", "Entw\u00fcrfe")),
        (b'a LIST "" "&*"', c.List("a", "", ("&*",))),
        (b"a RENAME inbox A&B", c.Rename("a", "INBOX", "A&B")),
    ],
)
def test_utf8_mailbox_names(line: bytes, expected: c.Command) -> None:
    """After ENABLE UTF8=ACCEPT / IMAP4rev2, names are UTF-8 (RFC 6855 §3)."""
    assert parse(line, utf8=True) == expected
    assert round_trips(expected)
