"""Commands as real clients send them (Thunderbird, iOS Mail, mutt,
imaplib, IMAPClient, Twisted's IMAP4Client): each parses to the right
command class, and unparsing it gives a command that parses the same."""

from __future__ import annotations

import pytest

from mailframe.imap import command as c

from .helpers import parse, round_trips

LINES: list[tuple[bytes, type[c.Command]]] = [
    (b"1 capability", c.Capability),
    (b"2 authenticate PLAIN", c.Authenticate),
    (b'3 ID ("name" "Thunderbird" "version" "115.3.1")', c.Id),
    (b'4 select "INBOX" (CONDSTORE)', c.Select),
    (b"5 enable CONDSTORE", c.Enable),
    (b'6 list (subscribed) "" "*" return (special-use)', c.List),
    (b'7 list "" "INBOX"', c.List),
    (b'8 lsub "" "*"', c.List),
    (b"9 namespace", c.Namespace),
    (b"10 UID fetch 1:* (FLAGS)", c.Fetch),
    (b"11 UID fetch 12:* (FLAGS) (CHANGEDSINCE 1234)", c.Fetch),
    (
        b"12 UID fetch 12 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc "
        b"Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To "
        b"Content-Type Reply-To)])",
        c.Fetch,
    ),
    (b"13 UID fetch 12 (UID RFC822.SIZE BODY.PEEK[])", c.Fetch),
    (b"14 uid store 5 +Flags (\\Seen)", c.Store),
    (b'15 UID MOVE 5 "Trash"', c.Move),
    (b'16 uid copy 5:7 "Archives/2024"', c.Copy),
    (b'17 append "Sent" (\\Seen) {3}\r\nabc', c.Append),
    (b"18 IDLE", c.Idle),
    (b"19 UID EXPUNGE 5", c.Expunge),
    (b"20 uid search UNDELETED SINCE 10-Nov-2026", c.Search),
    (b'A1 LIST "" ""', c.List),
    (b"A2 UID SEARCH 1:* NOT DELETED", c.Search),
    (
        b"A3 FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE SUBJECT "
        b"FROM CONTENT-TYPE TO CC BCC MESSAGE-ID IN-REPLY-TO REFERENCES X-PRIORITY "
        b"X-UNIVERSALLY-UNIQUE-IDENTIFIER RECEIVED)])",
        c.Fetch,
    ),
    (b"A4 UID FETCH 123 BODY.PEEK[1]<0.12345>", c.Fetch),
    (b"A5 UID STORE 123 +FLAGS.SILENT (\\Seen)", c.Store),
    (b"A6 UID FETCH 1:* (FLAGS UID) (CHANGEDSINCE 1 VANISHED)", c.Fetch),
    (b"A7 SELECT INBOX (QRESYNC (1462 31 1:20))", c.Select),
    (b'a0006 STATUS "INBOX" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)', c.Status),
    (
        b"a0005 FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM "
        b"SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO "
        b"REPLY-TO LINES LIST-POST X-LABEL X-ORIGINAL-TO)])",
        c.Fetch,
    ),
    (b"a0007 UID STORE 1 +FLAGS.SILENT (\\Deleted)", c.Store),
    (b'0001 LOGIN "user" "p\xc3\xa4ss word"', c.Login),
    (b"0002 SELECT Entw&APw-rfe", c.Select),
    (b"000D FETCH 1 BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>", c.Fetch),
    (b"000E FETCH 1 BODY[1.2.MIME]", c.Fetch),
    (b"000F FETCH 1 (FLAGS INTERNALDATE ENVELOPE BODY RFC822.SIZE)", c.Fetch),
    (b"0013 STORE 1 FLAGS ()", c.Store),
    (b'0020 UID SEARCH (SINCE "1-Feb-1994" UNSEEN) (OR (SUBJECT "hi") (NOT (LARGER 100)))', c.Search),
    (b'B1 APPEND INBOX (\\Seen) "26-Nov-2026 19:03:00 +0000" {2}\r\nhi', c.Append),
    (b"B2 SEARCH CHARSET UTF-8 SUBJECT {6}\r\n\xc3\xa4\xc3\xb6\xc3\xbc", c.Search),
    (b"B3 UID SEARCH RETURN (ALL) UNSEEN", c.Search),
    (b"B4 UNSELECT", c.Unselect),
    (b"B5 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==", c.Authenticate),
]


@pytest.mark.parametrize("line, cls", LINES, ids=[x[0].decode("latin-1")[:40] for x in LINES])
def test_client_line(line: bytes, cls: type[c.Command]) -> None:
    cmd = parse(line)
    assert type(cmd) is cls
    assert round_trips(cmd)
