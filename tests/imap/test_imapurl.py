"""IMAP URLs (RFC 5092) as CATENATE resolves them (RFC 4469 §3)."""

from __future__ import annotations

import pytest

from mailframe.imap.imapurl import ImapUrl, UrlError, parse_message_url, url_text
from mailframe.imap.types import Section


@pytest.mark.parametrize(
    "url, selected, expected",
    [
        ("/INBOX/;UID=3", None, ImapUrl("INBOX", 3)),
        ("/inbox;UIDVALIDITY=7/;uid=3", None, ImapUrl("INBOX", 3, 7)),
        ("/INBOX/;UID=3/;SECTION=HEADER", None, ImapUrl("INBOX", 3, section=Section((), "HEADER"))),
        ("/INBOX/;UID=3/;section=1.2.mime", None, ImapUrl("INBOX", 3, section=Section((1, 2), "MIME"))),
        (
            "/a/b/;UID=3/;SECTION=HEADER.FIELDS%20(FROM%20TO)/;PARTIAL=5.10",
            None,
            ImapUrl("a/b", 3, section=Section((), "HEADER.FIELDS", ("FROM", "TO")), partial=(5, 10)),
        ),
        ("/INBOX/;UID=3/;PARTIAL=5", None, ImapUrl("INBOX", 3, partial=(5, None))),
        # enc-mailbox is percent-encoded UTF-8, never modified UTF-7 (RFC 5092 §9)
        ("/Entw%C3%BCrfe/;UID=1", None, ImapUrl("Entw\u00fcrfe", 1)),
        ("/&AOQ-/;UID=1", None, ImapUrl("&AOQ-", 1)),
        # relative to the selected mailbox (base imap://user@server/mailbox)
        (";UID=9/;SECTION=TEXT", "Lists/Work", ImapUrl("Lists/Work", 9, section=Section((), "TEXT"))),
        ("Play/;UID=9", "Lists/Work", ImapUrl("Lists/Play", 9)),
        ("Play/;UID=9", "INBOX", ImapUrl("Play", 9)),
        ("Play/;UID=9", None, ImapUrl("Play", 9)),
        ("Pl%20ay;UIDVALIDITY=1/;UID=9", "L%t/Work", ImapUrl("L%t/Pl ay", 9, 1)),
    ],
)
def test_parse(url: str, selected: str | None, expected: ImapUrl) -> None:
    assert parse_message_url(url, selected) == expected


@pytest.mark.parametrize(
    "url, selected",
    [
        ("imap://alice@localhost/INBOX/;UID=1", None),  # absolute: RFC 4469 §3 note
        ("//localhost/INBOX/;UID=1", None),
        ("/INBOX", None),  # a mailbox, not a message
        ("/INBOX?SUBJECT%20x", None),  # a search
        ("/INBOX/;UID=0", None),
        ("/INBOX/;UID=4294967296", None),
        ("/INBOX/;UID=x", None),
        ("/INBOX;UIDVALIDITY=0/;UID=1", None),
        ("/INBOX;FOO=1/;UID=1", None),
        ("/INBOX/;UID=1/;URLAUTH=anonymous", None),
        ("/INBOX/;UID=1/;SECTION=1/;SECTION=2", None),
        ("/INBOX/;UID=1/;PARTIAL=1/;SECTION=2", None),
        ("/INBOX/;UID=1/;SECTION=BOGUS", None),
        ("/INBOX/;UID=1/;PARTIAL=1.0", None),
        ("/IN%ZZBOX/;UID=1", None),
        ("/%FF/;UID=1", None),
        ("/IN BOX/;UID=1", None),
        (";UID=1", None),  # nothing selected
        (";SECTION=1", "INBOX"),  # the base names no message
        (";PARTIAL=1", "INBOX"),
        ("", "INBOX"),
        ("/;UID=1", None),
    ],
)
def test_refused(url: str, selected: str | None) -> None:
    with pytest.raises(UrlError):
        parse_message_url(url, selected)


def test_url_text_never_closes_the_response_code() -> None:
    """url-resp-text: any TEXT-CHAR except "]" (RFC 4469 §5)."""
    assert url_text("/a]b/;UID=1") == "/a%5Db/;UID=1"
    assert url_text("/\u00e4") == "/%C3%A4"


@pytest.mark.parametrize(
    "url, selected, mailbox",
    [
        ("../INBOX/;UID=1", "Work", "INBOX"),
        ("../Other/;UID=1", "Lists/Work", "Other"),
        ("./Play/;UID=1", "Lists/Work", "Lists/Play"),
        ("../../x/;UID=1", "a/b", "x"),
    ],
)
def test_dot_segments(url: str, selected: str, mailbox: str) -> None:
    """A relative path is merged with the base and loses its dot segments
    (RFC 3986 §5.2.3, §5.2.4)."""
    assert parse_message_url(url, selected).mailbox == mailbox
