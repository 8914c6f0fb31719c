"""NOTIFY's grammar (RFC 5465 §8)."""

from __future__ import annotations

import pytest

from mailframe.imap import command as c
from mailframe.imap.grammar import ParseError
from mailframe.imap.types import FetchAtt, Section

from .helpers import parse, round_trips

G = c.NotifyGroup
CASES: list[tuple[bytes, c.Command]] = [
    (b"a NOTIFY NONE", c.Notify("a")),
    (b"a notify none", c.Notify("a")),
    # RFC 5465 §3.1's example
    (
        b"b notify set status (selected MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)"
        b" (subtree Lists MessageNew)",
        None,
    ),
    (
        b"b notify set status (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge))"
        b" (subtree Lists (MessageNew))",
        c.Notify("b", (
            G("SELECTED", (), ("MessageNew", "MessageExpunge"), (
                FetchAtt("UID"),
                FetchAtt("BODY[]", Section((), "HEADER.FIELDS", ("FROM", "TO", "SUBJECT")), peek=True),
            )),
            G("SUBTREE", ("Lists",), ("MessageNew",)),
        ), status=True),
    ),
    (
        b"a NOTIFY SET (mailboxes INBOX (Messagenew messageExpunge)) (personal (SubscriptionChange))",
        c.Notify("a", (
            G("MAILBOXES", ("INBOX",), ("MessageNew", "MessageExpunge")),
            G("PERSONAL", (), ("SubscriptionChange",)),
        )),
    ),
    (
        b'a NOTIFY SET (selected-delayed (MessageNew MessageExpunge FlagChange)) (inboxes NONE)'
        b' (subscribed (MailboxName)) (mailboxes ("a b" inbox) (FlagChange AnnotationChange X-Foo))',
        c.Notify("a", (
            G("SELECTED-DELAYED", (), ("MessageNew", "MessageExpunge", "FlagChange")),
            G("INBOXES"),
            G("SUBSCRIBED", (), ("MailboxName",)),
            G("MAILBOXES", ("a b", "INBOX"), ("FlagChange", "AnnotationChange", "X-FOO")),
        )),
    ),
]


@pytest.mark.parametrize("line, expected", [x for x in CASES if x[1] is not None])
def test_parse_and_round_trip(line: bytes, expected: c.Command) -> None:
    assert parse(line) == expected
    assert round_trips(expected)


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"a NOTIFY", "Expected a space"),
        (b"a NOTIFY SET", "Expected a space"),
        (b"a NOTIFY SET STATUS", "Expected a space"),
        (b"a NOTIFY SET ()", "Expected mailbox filter"),
        (b"a NOTIFY SET (everything (MessageNew))", "Unknown NOTIFY mailbox filter EVERYTHING"),
        (b"a NOTIFY SET (personal)", "Expected a space"),
        (b"a NOTIFY SET (personal ())", "Expected event"),
        (b"a NOTIFY SET (personal ALL)", "Expected NONE"),
        (b"a NOTIFY SET (mailboxes (MessageNew))", "Expected a space"),
        (b"a NOTIFY SET (selected (MessageNew (FOO)))", "Unknown fetch attribute FOO"),
        (b"a NOTIFY SET (personal (MessageNew)) ", "Expected \"(\""),
        (b"a NOTIFY MAYBE", "Expected SET or NONE"),
        (b"a NOTIFY NONE (personal (MessageNew))", "Unexpected characters at end of command"),
    ],
)
def test_errors(line: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(line)
    assert info.value.text == reason


def test_rfc_example_without_inner_parentheses_is_bad() -> None:
    """The example of RFC 5465 §3.1 leaves out the parentheses its own
    ABNF (§8) puts around the events: BAD, as in Dovecot."""
    with pytest.raises(ParseError):
        parse(CASES[2][0])
