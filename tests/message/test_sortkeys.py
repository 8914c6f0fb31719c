"""Sort keys (RFC 5256 §2.1 base subject, §3 sort keys; RFC 5957 display
names; RFC 5051 i;unicode-casemap)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailframe.message import parse
from mailframe.message.sortkeys import (
    ascii_casemap,
    base_subject,
    message_ids,
    parse_date,
    sort_keys,
    unicode_casemap,
)

ARRIVAL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "subject, base, reply",
    [
        ("test", "TEST", False),
        ("Re: test", "TEST", True),
        ("Re: Re: RE: test", "TEST", True),
        ("re:re:test", "TEST", True),
        ("Fwd: test", "TEST", True),
        ("Fw: test", "TEST", True),
        ("FWD:test", "TEST", True),
        ("test (fwd)", "TEST", True),
        ("test (fwd) (FWD)  ", "TEST", True),
        ("[Fwd: test]", "TEST", True),
        ("[fwd: Re: test (fwd)]", "TEST", True),
        ("[list] Re: test", "TEST", True),
        ("Re: [list] test", "TEST", True),
        ("[a][b] test", "TEST", False),
        ("Re[2]: test", "TEST", True),
        ("Re [3]: test", "TEST", True),
        ("[only]", "[ONLY]", False),  # removing the blob would leave nothing (step 4)
        ("[] test", "TEST", False),
        ("Rex: test", "REX: TEST", False),
        ("  Re:   test  ", "TEST", True),
        ("a \t b", "A B", False),
        ("Re:", "", True),
        ("", "", False),
        ("The (fwd) thing", "THE (FWD) THING", False),
    ],
)
def test_base_subject(subject: str, base: str, reply: bool) -> None:
    assert base_subject(subject) == (base, reply)


def test_unicode_casemap_titlecases_and_decomposes() -> None:
    assert unicode_casemap("café") == "CAFE\u0301"
    assert unicode_casemap("caf\u00e9") == unicode_casemap("cafe\u0301")
    assert unicode_casemap("ǆemal") == "ǅEMAL"  # titlecase, not uppercase (RFC 5051 §2)
    assert unicode_casemap("straße") == "STRAßE"  # no one-character titlecase: kept
    # compatibility decomposition after titlecase, as Dovecot 2.3.19 sorts
    assert unicode_casemap("Ｆiy") == "FIY"
    assert unicode_casemap("Ⅸ") == "IX"
    assert unicode_casemap("ſa") == "SA"
    assert unicode_casemap("ﬁx") == "fiX"  # decomposed, not cased again
    assert unicode_casemap("Ǳ") == "ǲ"  # a titlecase digraph stays whole


def test_ascii_casemap_leaves_non_ascii() -> None:
    assert ascii_casemap("abcé") == "ABCé"
    assert ascii_casemap("Hello") == "HELLO"


def test_parse_date_utc_and_broken() -> None:
    assert parse_date(b"Mon, 1 Jan 2024 10:00:00 +0200") == datetime(2024, 1, 1, 8, tzinfo=UTC).timestamp()
    assert parse_date(b"not a date") is None
    assert parse_date(None) is None


def test_message_ids() -> None:
    assert message_ids(b"<a@b> <c@d>\r\n <e@\r\n f>") == ["a@b", "c@d", "e@f"]
    assert message_ids(b"<> junk") == []


def test_keys_of_a_message() -> None:
    raw = (
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.de>\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Cc: bob@example.org, carol@example.org\r\n"
        b"Subject: =?UTF-8?Q?Re=3A_caf=C3=A9?=\r\n"
        b"Message-ID: <x@y>\r\nReferences: <a@b> <c@d>\r\nIn-Reply-To: <c@d>\r\n\r\nbody\r\n"
    )
    k = sort_keys(parse(raw), len(raw), ARRIVAL)
    assert k.subject == "CAFE\u0301" and k.reply
    assert (k.from_, k.displayfrom) == ("JORG", "JO\u0308RG")
    assert (k.to, k.displayto) == ("UNDISCLOSED-RECIPIENTS", "UNDISCLOSED-RECIPIENTS")
    assert k.cc == "BOB"
    assert k.date == datetime(2024, 1, 1, 10, tzinfo=UTC).timestamp()
    assert k.size == len(raw) and k.arrival == ARRIVAL.timestamp()
    assert (k.message_id, k.references, k.in_reply_to) == ("x@y", ("a@b", "c@d"), ("c@d",))


def test_missing_fields() -> None:
    """No Date: the internal date stands in (RFC 5256 §2.2); no address:
    the empty string, which sorts first; DISPLAYFROM of a bare address is
    the address (RFC 5957 §3)."""
    raw = b"From: dave@example.com\r\n\r\nbody\r\n"
    k = sort_keys(parse(raw), len(raw), ARRIVAL)
    assert k.date == ARRIVAL.timestamp()
    assert (k.subject, k.to, k.cc, k.displayto) == ("", "", "", "")
    assert k.displayfrom == "DAVE@EXAMPLE.COM"
    assert k.message_id is None
