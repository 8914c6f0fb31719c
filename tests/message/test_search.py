"""SEARCH matching primitives (RFC 3501 §6.4.4, RFC 9051 §6.4.4): header
fields after RFC 2047 decoding, bodies after transfer and charset decoding,
case-insensitive substring matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailframe.message import body_matches, header_matches, parse, text_matches

DATA = Path(__file__).parent.parent / "data" / "messages"


def load(name: str) -> tuple[bytes, object]:
    raw = next(DATA.glob(name + "*.eml")).read_bytes()
    return raw, parse(raw)


@pytest.mark.parametrize(
    ("message", "field", "needle", "expected"),
    [
        ("11", "subject", "übergrößenträgär", False),
        ("11", "subject", "Übergrößenträgår", True),
        ("11", "SUBJECT", "GRÖSSEN", True),  # ß casefolds to ss
        ("12", "subject", "a café and €uro", True),  # two charsets (8859-15 A4 is €)
        ("12", "from", "André Pirard", True),
        ("12", "from", "pirard@vm1", True),
        ("12", "to", "Keld Jørn", True),
        ("13", "subject", "こんにちは", True),  # ISO-2022-JP, B encoding
        ("13", "from", "山田", True),
        ("14", "subject", "Привет мир", True),  # adjacent words joined
        ("14", "subject", "(comment)", True),
        ("20", "subject", "grüße aus münchen", True),  # raw UTF-8 header
        ("21", "subject", "first", True),  # every occurrence counts
        ("21", "subject", "second", True),
        ("22", "bcc", "", True),  # empty needle: field present
        ("22", "reply-to", "", False),
        ("23", "message-id", "child@", True),
        ("01", "subject", "Afternoon  Meeting", False),
        ("01", "subject", "AFTERNOON", True),
        ("01", "x-nothing", "", False),
    ],
)
def test_header_matches(message: str, field: str, needle: str, expected: bool) -> None:
    _, info = load(message)
    assert header_matches(info, field, needle) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "needle", "expected"),
    [
        ("49", "hello wörld", True),  # base64 UTF-8
        ("49", "SGVsbG8", False),  # not the encoded form
        ("12", "café crème", True),  # quoted-printable Latin-1
        ("12", "caf=E9", False),
        ("14", "привет мир", True),  # base64 KOI8-R
        ("05", "café au lait, soft break", True),  # QP soft line break joined
        ("05", "Caf&eacute;</p>", True),  # ...tags and entities as written
        ("03", "html <b>version", True),
        ("03", "html version & more", True),  # tags removed, entities decoded
        ("45", "5 € €", True),  # windows-1252 QP + &euro;
        ("45", "<tag>", True),
        ("45", "color: red", True),  # HTML also matches as source (Dovecot does)
        ("04", "see the attached", True),
        ("04", "report.pdf", False),  # attachment names are headers
        ("38", "final-recipient", True),  # message/delivery-status is text
        ("09", "version: 1", False),  # application/pgp-encrypted is not
        ("06", "original html", True),  # inside message/rfc822
        ("06", "Alice", False),  # encapsulated headers are not BODY
        ("01", "afternoon", False),  # top-level header is not BODY
        ("01", "", True),
    ],
)
def test_body_matches(message: str, needle: str, expected: bool) -> None:
    raw, info = load(message)
    assert body_matches(info, raw, needle) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "needle", "expected"),
    [
        ("01", "afternoon meeting", True),  # header
        ("01", "3:30 TOMORROW", True),  # body
        ("01", "subject: afternoon", True),  # the header is text, names too
        ("03", "content-type: text/html", True),  # MIME headers of parts too
        ("01", "subject: evening", False),
        ("06", "alice@example.org", True),  # encapsulated headers are text
        ("12", "keld jørn", True),
        ("49", "WÖRLD", True),
        ("49", "nowhere", False),
    ],
)
def test_text_matches(message: str, needle: str, expected: bool) -> None:
    raw, info = load(message)
    assert text_matches(info, raw, needle) is expected  # type: ignore[arg-type]


def test_search_survives_broken_encodings() -> None:
    raw = (
        b"Subject: =?x-unknown?q?abc?= =?utf-8?b?!!!?= =?utf-8?q?=ZZ?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!! not base64 ###\r\n"
    )
    info = parse(raw)
    assert header_matches(info, "subject", "abc")
    assert not body_matches(info, raw, "zzz")
    assert text_matches(info, raw, "abc")


def test_header_cache_survives_dump_load() -> None:
    raw, info = load("12")
    assert header_matches(info, "subject", "café")  # type: ignore[arg-type]
    again = type(info).load(info.dump())  # type: ignore[attr-defined]
    assert header_matches(again, "subject", "café")


def test_search_charsets() -> None:
    from mailframe.errors import BadCharset
    from mailframe.message import check_charset

    check_charset(None)
    check_charset("utf-8")
    check_charset("US-ASCII")
    check_charset("ISO-8859-1")  # any charset Python decodes, as Dovecot takes any iconv knows
    check_charset("koi8-r")
    with pytest.raises(BadCharset) as err:
        check_charset("X-UNKNOWN-CHARSET")
    assert err.value.code == "BADCHARSET (US-ASCII UTF-8)"
    with pytest.raises(BadCharset):
        check_charset("rot13")  # a Python codec, but not a charset


# --- agreement with Dovecot 2.3.19 (no FTS plugin) ------------------------------

DOVECOT_SEARCH: dict[str, list[str] | None] = json.loads(
    (DATA.parent / "dovecot-2.3.19-search.json").read_text(encoding="utf-8")
)
NAMES = [p.stem for p in sorted(DATA.glob("*.eml")) if p.stat().st_size]

#: Deliberate differences: (query, message) -> why.
SEARCH_DEVIATIONS = {
    # We also match HTML as rendered text; Dovecot only as source.
    ("BODY html version", "03-alternative"): True,
    # message/global is an encapsulated message for us (its header is not
    # BODY text), a text-like leaf for Dovecot 2.3.
    ("BODY grüße", "32-message-global"): False,
}


@pytest.mark.parametrize("query", sorted(DOVECOT_SEARCH), ids=str)
def test_search_agrees_with_dovecot(query: str) -> None:
    words = query.split(" ")
    n = 2 if words[0] == "HEADER" else 1
    key, needle = " ".join(words[:n]), " ".join(words[n:])
    theirs = set(DOVECOT_SEARCH[query] or [])
    for name in NAMES:
        raw = (DATA / f"{name}.eml").read_bytes()
        info = parse(raw)
        if key == "BODY":
            ours = body_matches(info, raw, needle)
        elif key == "TEXT":
            ours = text_matches(info, raw, needle)
        else:
            ours = header_matches(info, key.split()[-1], needle)
        expected = SEARCH_DEVIATIONS.get((query, name), name in theirs)
        assert ours is expected, name


# --- address keys match the parsed addresses (issue 11 defect 7) ------------------

#: imaptest's search-addresses messages plus a few broken ones; the answers
#: below are Dovecot 2.3.19's for these needles.
ADDRESS_MESSAGES = [
    b"From: user-from@domain.org\r\nTo: user-to@domain.org\r\nCc: user-cc@domain.org\r\n"
    b"Bcc: user-bcc@domain.org\r\n\r\nbody\r\n",
    b"From: RealFrom <user-from@domain.org>\r\nTo: RealTo <user-to@domain.org>\r\n"
    b"Cc: RealCc <user-cc@domain.org>\r\nBcc: RealBcc <user-bcc@domain.org>\r\n\r\nbody2\r\n",
    b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: <user-to@domain.org>\r\n"
    b"Cc: <user-cc@domain.org>\r\nBcc: <user-bcc@domain.org>\r\n\r\nbody3\r\n",
    b"From: user-from@domain.org (RealFrom)\r\nTo: user-to@domain.org (RealTo)\r\n"
    b"Cc: user-cc@domain.org (RealCc)\r\nBcc: user-bcc@domain.org (RealBcc)\r\n\r\nbody4\r\n",
    b"From: user-from1@domain.org, user-from2@domain.org\r\nCc: user-cc@domain.org\r\n\r\nbody5\r\n",
    b"From: RealFrom <user-from@domain.org>\r\nTo: groupname: groupuser1@domain.org, "
    b"groupuser2@domain.org;,\r\n  groupname2: groupuser3@domain.org;\r\n\r\nbody6\r\n",
    b"From: RealFrom <user-from@domain.org>\r\nTo: groupname:;\r\n\r\nbody7\r\n",
    b"From: a@b\r\nTo: <no-close@example.com\r\nSubject: x\r\n\r\nbody\r\n",
    b"From: (lead comment) x@y\r\nTo: x@y (trail comment), \"Q\" <q@r> (c2)\r\n"
    b"Cc: =?utf-8?q?Andr=C3=A9?= <a@b.c>\r\n\r\nbody\r\n",
    b"From: <>\r\nTo: @nolocal.example, nodomain@, <broken@\r\n"
    b'Cc: "unterminated quote <q@example.com>\r\n\r\nbody\r\n',
    b'From: Name <@route1,@route2:u@d>\r\nTo: "a\\\\b" <c@d>, "" <e@f>, g@h (  )\r\n'
    b"Cc: undisclosed-recipients:;\r\n\r\nbody\r\n",
]

ADDRESS_SEARCHES = [
    ("FROM", "user-from@domain.org", [1, 2, 3, 4, 6, 7]),
    ("TO", "user-to@domain.org", [1, 2, 3, 4]),
    ("FROM", "realfrom", [2, 4, 6, 7]),
    ("BCC", "ealbc", [2, 4]),
    ("FROM", "user-from2", [5]),
    ("TO", "groupname", [6, 7]),
    ("TO", "groupuser4", []),
    ("TO", "example.com", []),
    ("TO", "no-close", [8]),
    ("FROM", "lead", []),
    ("TO", "trail", [9]),
    ("TO", "c2", []),
    ("CC", "andré", [9]),
    ("TO", "MISSING_DOMAIN", [10]),
    ("TO", "syntax", [8, 10]),
    ("CC", "unterminated", []),
    ("CC", "q@example.com", []),
    ("FROM", "route1", [11]),
    ("TO", "g@h", [11]),
    ("TO", "a\\b", []),
    ("TO", "groupname:", [6, 7]),
    ("TO", "groupuser2@domain.org;", []),
    ("FROM", "<user-from@domain.org>", [1, 2, 3, 4, 6, 7]),
    ("FROM", "RealFrom <", [2, 4, 6, 7]),
    ("TO", ", ", [6, 9, 10, 11]),
    ("FROM", "<>", []),
    ("FROM", " <user-from", [2, 4, 5, 6, 7]),
    ("TO", '"trail comment"', [9]),
    ("TO", "groupname: <", [6]),
    ("FROM", "domain.org>, <user-from2", [5]),
    ("FROM", "Name <@route1,@route2:u@d>", [11]),
    ("TO", '"" <e@f>', []),
    ("TO", "Q <q@r>", [9]),
    ("TO", "domain.org>;, groupname2", [6]),
    ("TO", "groupname:;", [7]),
    ("CC", "undisclosed-recipients:;", [11]),
    ("FROM", "comment", []),
    ("FROM", "", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
    ("BCC", "", [1, 2, 3, 4]),
]


@pytest.mark.parametrize(("key", "needle", "dovecot"), ADDRESS_SEARCHES, ids=repr)
def test_address_keys_match_parsed_addresses(key: str, needle: str, dovecot: list[int]) -> None:
    found = [
        i + 1 for i, raw in enumerate(ADDRESS_MESSAGES) if header_matches(parse(raw), key, needle)
    ]
    assert found == dovecot
