"""Malformed commands: a ParseError with the tag and a useful reason."""

from __future__ import annotations

import pytest

from mailframe.errors import ProtocolError
from mailframe.imap.framing import Frame
from mailframe.imap.grammar import ParseError, parse_command
from mailframe.imap.limits import Limits

from .helpers import parse

BAD: list[tuple[bytes, str | None, str]] = [
    (b"", None, "Missing or invalid tag"),
    (b"+a NOOP", None, "Missing or invalid tag"),
    (b"a", "a", "Expected a space"),
    (b"a ", "a", "Expected command name"),
    (b"a FOO", "a", "Unknown command FOO"),
    (b"a NOOP extra", "a", "Unexpected characters at end of command"),
    (b"a NOOP ", "a", "Unexpected characters at end of command"),
    (b"a UID FROB 1", "a", "Unknown UID command FROB"),
    (b"a UID EXPUNGE", "a", "Expected a space"),
    (b"a LOGIN fred", "a", "Expected a space"),
    (b'a LOGIN "fred', "a", "Unterminated quoted string"),
    (b'a LOGIN "fr\\ed" x', "a", "Invalid escape in quoted string"),
    (b"a FETCH 0 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH 1:0 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH 4294967296 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH 1,,2 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH -1 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH 1, FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH $,1 FLAGS", "a", "Expected a space"),
    (b"a FETCH 1 FOO", "a", "Unknown fetch attribute FOO"),
    (b"a FETCH 1 ()", "a", "Expected fetch attribute"),
    (b"a FETCH 1 (FLAGS", "a", 'Expected ")"'),
    (b"a FETCH 1 BODY[FOO]", "a", "Invalid section"),
    (b"a FETCH 1 BODY[MIME]", "a", "Invalid section"),
    (b"a FETCH 1 BODY[0]", "a", "Section part must not be zero"),
    (b"a FETCH 1 BODY[1", "a", 'Expected "]"'),
    (b"a FETCH 1 BODY[]<0>", "a", 'Expected "."'),
    (b"a FETCH 1 BODY[]<0.0>", "a", "Partial count must not be zero"),
    (b"a FETCH 1 BODY.PEEK", "a", "BODY.PEEK needs a section"),
    (b"a FETCH 1 BINARY[1.TEXT]", "a", "Expected section part"),
    (b"a FETCH 1 BODY[HEADER.FIELDS ()]", "a", "Expected header field name"),
    (b"a FETCH 1 (FLAGS) (VANISHED)", "a", "VANISHED needs UID FETCH with CHANGEDSINCE"),
    (b"a UID FETCH 1 (FLAGS) (VANISHED)", "a", "VANISHED needs UID FETCH with CHANGEDSINCE"),
    (b"a FETCH 1 FLAGS (FOO 1)", "a", "Unknown FETCH modifier FOO"),
    (b"a STORE 1 FLAGZ (\\Seen)", "a", "Invalid store item FLAGZ"),
    (b"a STORE 1 +FLAGS (\\Recent)", "a", "Invalid system flag \\RECENT"),
    # Defect 3's siblings: a "\\" name that is no settable system flag is
    # a flag-extension no standard defines (RFC 3501 §9), refused as in
    # Dovecot; so are atom-specials inside a keyword.
    (b"a STORE 1 +FLAGS (\\Foo)", "a", "Invalid system flag \\FOO"),
    (b"a STORE 1 +FLAGS \\Foo", "a", "Invalid system flag \\FOO"),
    (b"a STORE 1 FLAGS (\\Seen \\Bogus)", "a", "Invalid system flag \\BOGUS"),
    (b"a STORE 1 +FLAGS ($a{b)", "a", 'Expected ")"'),
    (b"a STORE 1 +FLAGS (a]b)", "a", 'Expected ")"'),
    (b"a APPEND x (\\Foo) {1}\r\nm", "a", "Invalid system flag \\FOO"),
    (b"a STORE 1 (FOO 1) FLAGS ()", "a", "Unknown STORE modifier FOO"),
    (b"a STORE 1 +FLAGS (\\Seen", "a", 'Expected ")"'),
    (b"a SEARCH", "a", "Expected a space"),
    (b"a SEARCH FOO", "a", "Unknown search key FOO"),
    (b"a SEARCH (SEEN", "a", 'Expected ")"'),
    (b"a SEARCH ()", "a", "Expected search key"),
    (b"a SEARCH OR SEEN", "a", "Expected a space"),
    (b"a SEARCH SINCE 30-Feb-2020", "a", "Invalid date"),
    (b"a SEARCH SINCE 1-Foo-2020", "a", "Invalid date"),
    (b'a SEARCH SINCE "1-Feb-2020', "a", "Expected closing quote of date"),
    (b"a SEARCH LARGER x", "a", "Expected size"),
    (b"a SEARCH LARGER 99999999999999999999999", "a", "Size too large"),
    (b"a SEARCH OLDER 0", "a", "Interval must not be zero"),
    (b"a SEARCH KEYWORD \\Seen", "a", "Expected keyword"),
    (b"a SEARCH RETURN (BOGUS) ALL", "a", "Unknown search return option BOGUS"),
    (b"a SORT RETURN (PARTIAL 1) (ARRIVAL) US-ASCII ALL", "a", "Expected ':' in the partial range"),
    (b"a SORT RETURN (PARTIAL 1:*) (ARRIVAL) US-ASCII ALL", "a", "Expected partial range"),
    (b"a SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "a", "PARTIAL and ALL are mutually exclusive"),
    (b"a SORT (BOGUS) UTF-8 ALL", "a", "Unknown sort key BOGUS"),
    (b"a THREAD BOGUS UTF-8 ALL", "a", "Unknown thread algorithm BOGUS"),
    (b"a SEARCH CHARSET UTF-8 TEXT {1}\r\n\xff", "a", "Search string not valid in its charset"),
    (b"a SEARCH MODSEQ \"/flags/x\" bogus 1", "a", "Invalid MODSEQ entry type"),
    (b'a SELECT "\xff"', "a", "Invalid UTF-8 in mailbox name"),
    (b"a SELECT x (FOO)", "a", "Unknown select parameter FOO"),
    (b"a SELECT x (QRESYNC (0 1))", "a", "Uidvalidity must not be zero"),
    (b"a CREATE x (USE (Sent))", "a", "Expected special-use attribute"),
    (b"a CREATE x (FOO (\\Sent))", "a", "Expected USE"),
    (b"a STATUS x (MESSAGES BOGUS)", "a", "Unknown status item BOGUS"),
    (b"a STATUS x ()", "a", "Expected status item"),
    (b'a LIST (RECURSIVEMATCH) "" *', "a", "RECURSIVEMATCH must not be the only selection"),
    (b'a LIST (RECURSIVEMATCH REMOTE) "" ""', "a", "RECURSIVEMATCH must not be the only selection"),
    (b'a LIST (REMOTE RECURSIVEMATCH) "" *', "a", "RECURSIVEMATCH must not be the only selection"),
    (b'a LIST (BOGUS) "" *', "a", "Unknown LIST selection option BOGUS"),
    (b'a LIST "" * RETURN (BOGUS)', "a", "Unknown LIST return option BOGUS"),
    (b'a LIST "" * FOO (CHILDREN)', "a", "Expected RETURN"),
    (b"a LIST % *", "a", "Expected mailbox name"),
    (b"a APPEND x", "a", "APPEND needs a message literal"),
    (b'a APPEND x "hello"', "a", "Invalid date-time"),
    (b'a APPEND x " 7-Feb-1994 21:52:25 -0860" {1}\r\nm', "a", "Invalid date-time"),
    (b'a APPEND x "31-Apr-1994 21:52:25 -0800" {1}\r\nm', "a", "Invalid date-time"),
    (b"a APPEND x hello", "a", "Invalid literal"),
    (b"a APPEND x (\\Recent) {1}\r\nm", "a", "Invalid system flag \\RECENT"),
    (b"a LOGIN ~{1}\r\nx y", "a", "Expected a space"),  # "~" is an atom there
    (b"a LOGIN {1}\r\n\x00 y", "a", "NUL in literal"),
    (b"a AUTHENTICATE PLAIN abc", "a", "Invalid base64 initial response"),
    (b"a AUTHENTICATE PLAIN ", "a", "Invalid base64 initial response"),
    (b"a ENABLE", "a", "ENABLE needs a capability"),
    (b"a ID (\"name\")", "a", "Expected a space"),
    (b"a ID (name x)", "a", "Expected string"),
]


@pytest.mark.parametrize("line, tag, reason", BAD, ids=[b[0].decode("latin-1")[:50] for b in BAD])
def test_bad(line: bytes, tag: str | None, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(line)
    err = info.value
    assert (err.tag, err.text, err.status) == (tag, reason, "BAD")
    assert isinstance(err, ProtocolError)


#: Well-formed names that are not valid modified UTF-7 name no mailbox
#: that can exist: NO, as Dovecot answers (defect 4), for every command.
BAD_MUTF7 = [b"&Jjo", b"&AGE-", b"a&b", b"!#$&'+,-.0123456789:;<=>?@^_`|[}", b"&-&"]


@pytest.mark.parametrize("name", BAD_MUTF7)
@pytest.mark.parametrize(
    "template",
    [b"a SELECT %s", b"a EXAMINE %s", b"a CREATE %s", b"a DELETE %s", b"a STATUS %s (MESSAGES)",
     b"a SUBSCRIBE %s", b"a RENAME %s y", b"a RENAME y %s", b"a APPEND %s {1}\r\nm",
     b"a COPY 1 %s", b"a MOVE 1 %s"],
)
def test_invalid_mutf7_name_is_no(name: bytes, template: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(template.replace(b"%s", name))
    assert (info.value.tag, info.value.status) == ("a", "NO")
    assert info.value.text.startswith("Mailbox name is not valid mUTF-7")


@pytest.mark.parametrize("name", BAD_MUTF7)
def test_invalid_mutf7_list_pattern_matches_nothing(name: bytes) -> None:
    """LIST with such a pattern is OK and lists nothing (Dovecot; imaptest
    ``atoms``); other patterns of the same command still count."""
    assert parse(b'a LIST "" ' + name + b"%*").patterns == ()  # type: ignore[attr-defined]
    cmd = parse(b'a LIST "" (' + name + b" INBOX)")
    assert cmd.patterns == ("INBOX",)  # type: ignore[attr-defined]
    assert parse(b'a LSUB "" ' + name).patterns == ()  # type: ignore[attr-defined]


def test_nil_is_a_keyword() -> None:
    """``flag-keyword = atom`` and NIL is an atom: Dovecot stores it and
    imaptest's ``nil`` test expects that (defect 3: it must then be in
    FLAGS, which the session sees to)."""
    assert parse(b"a STORE 1 +FLAGS NIL").flags == frozenset({"NIL"})  # type: ignore[attr-defined]
    assert parse(b"a APPEND x (NIL $x) {1}\r\nm").messages[0].flags == frozenset({"NIL", "$x"})  # type: ignore[attr-defined]


@pytest.mark.parametrize("charset", [b"X-NOPE", b"undefined", b"unicode_escape", b"uu", b"rot13", b"hex", b"idna"])
def test_unknown_charset_is_no_badcharset(charset: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(b"a SEARCH CHARSET " + charset + b" TEXT {1}\r\n\xff")
    assert (info.value.tag, info.value.status, info.value.code) == ("a", "NO", "BADCHARSET (US-ASCII UTF-8)")


def test_handmade_frame_with_wrong_literal_length() -> None:
    with pytest.raises(ParseError, match="Literal length mismatch"):
        parse_command(Frame((b"a LOGIN {3}", b"ab", b" x")))


def test_empty_frame() -> None:
    with pytest.raises(ParseError, match="Missing or invalid tag"):
        parse_command(Frame(()))


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"a SEARCH " + b"(" * 10_000 + b"ALL" + b")" * 10_000, "Too deeply nested"),
        (b"a SEARCH " + b"NOT " * 10_000 + b"ALL", "Too deeply nested"),
        (b"a SEARCH " + b"OR " * 10_000 + b"ALL " * 10_000 + b"ALL", "Too deeply nested"),
        (b"a SEARCH OR " + b"(" * 10_000, "Too deeply nested"),
        (b"a FETCH 1 " + b"(" * 10_000, "Expected fetch attribute"),
        (b"a STORE 1 FLAGS " + b"(" * 10_000, "Expected flag"),
        (b"a LIST " + b"(" * 10_000, "Expected selection option"),
        (b"a SELECT x " + b"(" * 10_000, "Expected select parameter"),
    ],
)
def test_deep_nesting_is_bad_not_recursion_error(line: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(line, Limits(max_line=1 << 20))
    assert (info.value.tag, info.value.text) == ("a", reason)


def test_literal_marker_without_data_in_handmade_frame() -> None:
    with pytest.raises(ParseError, match="Missing literal data"):
        parse_command(Frame((b"a LOGIN {3}",)))


def test_nesting_limit_exact() -> None:
    limits = Limits(max_depth=3)
    assert parse(b"a SEARCH (((ALL)))", limits)
    with pytest.raises(ParseError, match="Too deeply nested"):
        parse(b"a SEARCH ((((ALL))))", limits)
    with pytest.raises(ParseError, match="Too deeply nested"):
        parse(b"a SEARCH NOT NOT (NOT (ALL))", limits)


def test_ten_thousand_parentheses_is_too_deeply_nested() -> None:
    with pytest.raises(ParseError, match="^Too deeply nested$"):
        parse(b"a SEARCH " + b"(" * 10_000 + b"ALL" + b")" * 10_000)


#: Long runs of one token: no quadratic work.  bench/bench_grammar.py
#: times them (no wall-clock asserts in tests).
PATHOLOGICAL = [
    b"a SEARCH " + b" ".join([b"SEEN"] * 20_000),
    b"a FETCH " + b",".join(b"%d" % i for i in range(1, 20_000)) + b" FLAGS",
    b'a LOGIN "' + b"\\\\" * 30_000 + b'" x',
    b'a LOGIN "' + b"x" * 60_000,
    b"a FETCH 1 (" + b" ".join([b"BODY.PEEK[1.2.3.HEADER.FIELDS (A B C)]<0.1>"] * 1_000) + b")",
]


@pytest.mark.parametrize("line", PATHOLOGICAL, ids=lambda line: line[:12].decode())
def test_pathological_inputs_parse_or_fail_cleanly(line: bytes) -> None:
    """Long runs of the same token parse, or fail with a ParseError, never
    with RecursionError or MemoryError."""
    try:
        parse(line, Limits(max_line=1 << 20))
    except ParseError:
        pass


def test_depth_limit_beyond_python_stack_still_bad() -> None:
    limits = Limits(max_depth=1_000_000, max_line=1 << 20)
    with pytest.raises(ParseError, match="^Too deeply nested$"):
        parse(b"a SEARCH " + b"(" * 50_000 + b"ALL" + b")" * 50_000, limits)
