"""APPEND's extended forms and REPLACE: CATENATE (RFC 4469 §5), UTF8
data (RFC 6855 §4), REPLACE / UID REPLACE (RFC 8508 §6)."""

from __future__ import annotations

import pytest

from mailframe.imap import command as c
from mailframe.imap.framing import Framer
from mailframe.imap.grammar import ParseError
from mailframe.imap.types import STAR, AppendMessage, SequenceSet

from .helpers import parse, round_trips

CASES: list[tuple[bytes, c.Command]] = [
    (
        b'a APPEND Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER" TEXT {4}\r\nbody)',
        c.Append("a", "Drafts", (AppendMessage(
            b"", catenate=(("URL", b"/INBOX/;UID=1/;SECTION=HEADER"), ("TEXT", b"body"))),)),
    ),
    (
        b'a append x (\\Seen) " 7-Feb-1994 21:52:25 +0000" catenate (text {1+}\r\nm url ;UID=3)',
        None,  # checked below: flags, date and parts
    ),
    (
        # MULTIAPPEND mixing the forms, as imaptest's catenate-multiappend does
        b'a APPEND x CATENATE (URL "/INBOX/;UID=1") (\\Answered) {2}\r\nhi CATENATE (TEXT {1}\r\nz)',
        c.Append("a", "x", (
            AppendMessage(b"", catenate=(("URL", b"/INBOX/;UID=1"),)),
            AppendMessage(b"hi", frozenset({"\\Answered"})),
            AppendMessage(b"", catenate=(("TEXT", b"z"),)),
        )),
    ),
    (b"a APPEND x UTF8 (~{2}\r\nhi)", c.Append("a", "x", (AppendMessage(b"hi", utf8=True),))),
    (
        b"a APPEND x CATENATE (UTF8 (~{2}\r\nhi) TEXT {1}\r\nz)",
        c.Append("a", "x", (AppendMessage(b"", catenate=(("UTF8", b"hi"), ("TEXT", b"z"))),)),
    ),
    (b"a REPLACE * x {1}\r\nm", c.Replace("a", SequenceSet(((STAR, STAR),)), "x", AppendMessage(b"m"))),
    (b"a UID REPLACE 17 x {1}\r\nm", c.Replace("a", SequenceSet(((17, 17),)), "x", AppendMessage(b"m"), uid=True)),
    (
        b'a UID REPLACE 17 x CATENATE (URL "/x/;UID=17/;SECTION=HEADER" TEXT {1}\r\nm)',
        c.Replace("a", SequenceSet(((17, 17),)), "x", AppendMessage(
            b"", catenate=(("URL", b"/x/;UID=17/;SECTION=HEADER"), ("TEXT", b"m"))), uid=True),
    ),
]


@pytest.mark.parametrize("line, expected", [x for x in CASES if x[1] is not None])
def test_parse_and_round_trip(line: bytes, expected: c.Command) -> None:
    assert parse(line) == expected
    assert round_trips(expected)


def test_options_before_catenate() -> None:
    cmd = parse(CASES[1][0])
    assert isinstance(cmd, c.Append)
    (msg,) = cmd.messages
    assert msg.flags == {"\\Seen"} and msg.internaldate is not None
    assert msg.catenate == (("TEXT", b"m"), ("URL", b";UID=3"))


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"a APPEND x CATENATE ()", "Expected cat-part"),
        (b"a APPEND x CATENATE", "Expected a space"),
        (b'a APPEND x CATENATE (TEXT "quoted")', "Invalid literal"),
        (b"a APPEND x CATENATE (TEXT ~{1}\r\nm)", "literal8 not allowed here"),  # text-literal = "TEXT" SP literal
        (b'a APPEND x CATENATE (FOO "x")', "Unknown CATENATE part FOO"),
        (b'a APPEND x CATENATE (URL "x" URL)', "Expected a space"),
        (b"a APPEND x UTF8 {1}\r\nm", 'Expected "("'),
        (b"a REPLACE 1:2 x {1}\r\nm", "REPLACE takes one message number"),
        (b"a REPLACE 1,2 x {1}\r\nm", "REPLACE takes one message number"),
        (b"a REPLACE $ x {1}\r\nm", "REPLACE takes one message number"),
        (b"a REPLACE 1 x {1}\r\nm {1}\r\nn", "Unexpected characters at end of command"),  # no MULTIAPPEND
        (b"a REPLACE 1 x", "Expected a space"),
    ],
)
def test_errors(line: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(line)
    assert info.value.text == reason and info.value.tag == "a"


@pytest.mark.parametrize("first", [b"a REPLACE 1 x {", b"a UID REPLACE 1 x {", b"a APPEND x CATENATE (TEXT {"])
def test_message_literals_are_not_bound_by_the_line_limit(first: bytes) -> None:
    """REPLACE's and CATENATE's literals are messages, bounded by the
    message size limit, not the command-line limit (as APPEND's)."""
    framer = Framer()
    size = framer.limits.max_line * 2
    events = framer.feed(first + str(size).encode() + b"}\r\n")
    assert [type(e).__name__ for e in events] == ["ContinuationRequest"]
