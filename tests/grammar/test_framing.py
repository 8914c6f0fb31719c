"""The framer: lines, literals, limits and re-synchronisation."""

from __future__ import annotations

import pytest

from mailframe.imap.framing import (
    ContinuationRequest,
    Event,
    Frame,
    FrameError,
    Framer,
    literal_marker,
)
from mailframe.imap.limits import Limits

CONT = ContinuationRequest()


def feed_bytewise(framer: Framer, data: bytes) -> list[Event]:
    events: list[Event] = []
    for i in range(len(data)):
        events += framer.feed(data[i : i + 1])
    return events


def test_single_line() -> None:
    assert Framer().feed(b"a NOOP\r\n") == [Frame((b"a NOOP",))]


def test_brief_example_sync_literals() -> None:
    data = b"a LOGIN {3}\r\nfoo {3}\r\nbar\r\n"
    assert Framer().feed(data) == [CONT, CONT, Frame((b"a LOGIN {3}", b"foo", b" {3}", b"bar", b""))]


def test_continuation_emitted_before_literal_arrives() -> None:
    f = Framer()
    assert f.feed(b"a LOGIN {3}\r\n") == [CONT]
    assert f.feed(b"fo") == []
    assert f.feed(b"o {3}\r\n") == [CONT]
    assert f.feed(b"bar\r\n") == [Frame((b"a LOGIN {3}", b"foo", b" {3}", b"bar", b""))]


def test_literals_split_byte_by_byte() -> None:
    data = b"a APPEND box (\\Seen) {12}\r\nhello\r\nworld\r\nb NOOP\r\n"
    events = feed_bytewise(Framer(), data)
    assert events == [
        CONT,
        Frame((b"a APPEND box (\\Seen) {12}", b"hello\r\nworld", b"")),
        Frame((b"b NOOP",)),
    ]


def test_literal_containing_crlf_and_braces_is_data() -> None:
    data = b"a X {8}\r\n{3}\r\nabc\r\n"
    assert Framer().feed(data) == [CONT, Frame((b"a X {8}", b"{3}\r\nabc", b""))]


def test_literal_plus_sends_no_continuation() -> None:
    data = b"a LOGIN {3+}\r\nfoo {3+}\r\nbar\r\n"
    assert Framer().feed(data) == [Frame((b"a LOGIN {3+}", b"foo", b" {3+}", b"bar", b""))]


def test_literal8_and_literal8_plus() -> None:
    data = b"a APPEND x ~{2}\r\n\x00\xff ~{1+}\r\n\x00\r\n"
    events = feed_bytewise(Framer(), data)
    assert events == [CONT, Frame((b"a APPEND x ~{2}", b"\x00\xff", b" ~{1+}", b"\x00", b""))]


def test_empty_literal() -> None:
    assert Framer().feed(b"a LOGIN {0}\r\n {0+}\r\n\r\n") == [
        CONT,
        Frame((b"a LOGIN {0}", b"", b" {0+}", b"", b"")),
    ]


def test_bare_lf_line_ends() -> None:
    assert Framer().feed(b"a NOOP\nb LOGIN {1}\nx\n") == [
        Frame((b"a NOOP",)),
        CONT,
        Frame((b"b LOGIN {1}", b"x", b"")),
    ]


def test_pipelined_commands_in_one_feed() -> None:
    data = b"".join(b"t%d NOOP\r\n" % i for i in range(1000))
    events = Framer().feed(data)
    assert events == [Frame((b"t%d NOOP" % i,)) for i in range(1000)]


def test_oversized_sync_literal_refused_before_data() -> None:
    f = Framer(Limits(max_literal=10))
    assert f.feed(b"a APPEND x {11}\r\n") == [FrameError("a", "NO", "Literal too big", "TOOBIG")]
    # The client does not send the literal; the next command works.
    assert f.feed(b"b NOOP\r\n") == [Frame((b"b NOOP",))]


def test_oversized_sync_literal_in_later_line() -> None:
    f = Framer(Limits(max_literal=5))
    assert f.feed(b"a LOGIN {3}\r\n") == [CONT]
    assert f.feed(b"foo {6}\r\n") == [FrameError("a", "NO", "Literal too big", "TOOBIG")]
    assert f.feed(b"b NOOP\r\n") == [Frame((b"b NOOP",))]


def test_oversized_nonsync_literal_is_skipped_in_step() -> None:
    f = Framer(Limits(max_nonsync_literal=4))
    data = b"a APPEND x {8+}\r\nb NOOP\r\n {3+}\r\nabc more\r\nc NOOP\r\n"
    # The 8 octets "b NOOP\r\n" are literal data, not a command; the rest of
    # the command (another literal, then text) is dropped as well.
    events = feed_bytewise(f, data)
    assert events == [
        FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG"),
        Frame((b"c NOOP",)),
    ]


def test_oversized_nonsync_literal_whole_feed() -> None:
    f = Framer(Limits(max_literal=3, max_nonsync_literal=100))
    events = f.feed(b"a X {5+}\r\n12345\r\nb NOOP\r\n")
    assert events == [FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG"), Frame((b"b NOOP",))]


def test_nonsync_within_limit_accepted() -> None:
    f = Framer(Limits(max_nonsync_literal=4))
    assert f.feed(b"a X {4+}\r\nabcd\r\n") == [Frame((b"a X {4+}", b"abcd", b""))]


def test_max_command_counts_all_literals() -> None:
    f = Framer(Limits(max_command=40))
    assert f.feed(b"a X {10}\r\n") == [CONT]
    assert f.feed(b"0123456789 {20}\r\n") == [FrameError("a", "NO", "Literal too big", "TOOBIG")]
    assert f.feed(b"b NOOP\r\n") == [Frame((b"b NOOP",))]


def test_absurd_literal_length_is_too_big() -> None:
    f = Framer()
    events = f.feed(b"a X {99999999999999999999999999}\r\nb NOOP\r\n")
    assert events == [FrameError("a", "NO", "Literal too big", "TOOBIG"), Frame((b"b NOOP",))]


def test_long_line_gets_bad_and_skips_to_next_line() -> None:
    f = Framer(Limits(max_line=100))
    events = f.feed(b"a " + b"x" * 200)
    assert events == [FrameError("a", "BAD", "Command line too long")]
    assert f.feed(b"y" * 10_000) == []  # still skipping, nothing buffered
    assert len(f._buf) == 0
    assert f.feed(b"zz\r\nb NOOP\r\n") == [Frame((b"b NOOP",))]


def test_long_line_arriving_whole() -> None:
    f = Framer(Limits(max_line=100))
    events = f.feed(b"a " + b"x" * 200 + b"\r\nb NOOP\r\n")
    assert events == [FrameError("a", "BAD", "Command line too long"), Frame((b"b NOOP",))]


def test_line_at_limit_is_fine() -> None:
    line = b"a " + b"x" * 98
    assert Framer(Limits(max_line=100)).feed(line + b"\r\n") == [Frame((line,))]


def test_long_line_without_valid_tag() -> None:
    f = Framer(Limits(max_line=10))
    assert f.feed(b"+" * 50 + b"\r\n") == [FrameError(None, "BAD", "Command line too long")]


def test_discard_buffered_drops_partial_input() -> None:
    f = Framer()
    assert f.feed(b"a STARTTLS\r\nb NO") == [Frame((b"a STARTTLS",))]
    f.discard_buffered()
    assert f.feed(b"OP\r\nc NOOP\r\n") == [Frame((b"OP",)), Frame((b"c NOOP",))]


def test_discard_buffered_mid_literal() -> None:
    f = Framer()
    assert f.feed(b"a LOGIN {10}\r\nabc") == [CONT]
    f.discard_buffered()
    assert f.feed(b"b NOOP\r\n") == [Frame((b"b NOOP",))]


def test_idle_done_and_sasl_lines_are_one_part_frames() -> None:
    f = Framer()
    assert f.feed(b"DONE\r\nAGZvbwBiYXI=\r\n*\r\n") == [
        Frame((b"DONE",)),
        Frame((b"AGZvbwBiYXI=",)),
        Frame((b"*",)),
    ]


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"a {3}", (3, False, False)),
        (b"a {3+}", (3, True, False)),
        (b"a ~{3}", (3, False, True)),
        (b"a ~{12+}", (12, True, True)),
        (b"{0}", (0, False, False)),
        (b"a {}", None),
        (b"a {+}", None),
        (b"a {3", None),
        (b"a {x}", None),
        (b"a {-1}", None),
        (b"a }", None),
        (b"a {\xd9\xa3}", None),  # non-ASCII digit
    ],
)
def test_literal_marker(line: bytes, expected: tuple[int, bool, bool] | None) -> None:
    assert literal_marker(line) == expected


def test_large_literal_in_chunks_is_linear() -> None:
    f = Framer()
    size = 4 * 1024 * 1024
    assert f.feed(b"a APPEND x {%d}\r\n" % size) == [CONT]
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        assert f.feed(chunk) == []
    [frame] = f.feed(b"\r\n")
    assert isinstance(frame, Frame) and len(frame.parts[1]) == size


def test_oversized_nonsync_then_sync_marker_ends_the_refused_command() -> None:
    # After the dropped literal, the client's next line asks for a sync
    # literal; we never send "+", so the client stops there: error now.
    f = Framer(Limits(max_nonsync_literal=2))
    events = f.feed(b"a APPEND x {3+}\r\nabc {5}\r\n")
    assert events == [FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG")]
    assert f.feed(b"b NOOP\r\n") == [Frame((b"b NOOP",))]


def test_long_continuation_line_after_literal() -> None:
    f = Framer(Limits(max_line=20))
    assert f.feed(b"a LOGIN {1}\r\n") == [CONT]
    assert f.feed(b"x " + b"y" * 40 + b"\r\nb NOOP\r\n") == [
        FrameError("a", "BAD", "Command line too long"),
        Frame((b"b NOOP",)),
    ]


def test_command_too_long_without_literals_in_last_line() -> None:
    f = Framer(Limits(max_line=30, max_command=40))
    assert f.feed(b"a LOGIN {5+}\r\n12345 " + b"z" * 25 + b"\r\nb NOOP\r\n") == [
        FrameError("a", "BAD", "Command too long"),
        Frame((b"b NOOP",)),
    ]


def test_empty_lines_are_empty_frames() -> None:
    assert Framer().feed(b"\r\n\n") == [Frame((b"",)), Frame((b"",))]


@pytest.mark.parametrize("bytewise", [False, True])
def test_long_line_ending_in_nonsync_literal_drops_the_literal(bytewise: bool) -> None:
    # The literal's octets must not run as a command ("b NOOP" here).
    data = b"a X " + b"x" * 200 + b" {8+}\r\nb NOOP\r\n {2+}\r\nzz more\r\nc NOOP\r\n"
    f = Framer(Limits(max_line=100))
    events = feed_bytewise(f, data) if bytewise else f.feed(data)
    assert events == [FrameError("a", "BAD", "Command line too long"), Frame((b"c NOOP",))]


def test_long_line_ending_in_sync_literal_ends_the_command() -> None:
    f = Framer(Limits(max_line=100))
    data = b"a X " + b"x" * 200 + b" {8}\r\nb NOOP\r\n"
    assert f.feed(data) == [FrameError("a", "BAD", "Command line too long"), Frame((b"b NOOP",))]


def test_long_line_while_discarding_a_refused_command_gives_one_error() -> None:
    f = Framer(Limits(max_line=50, max_nonsync_literal=2))
    data = b"a X {3+}\r\nabc " + b"y" * 100 + b"\r\nb NOOP\r\n"
    events = feed_bytewise(f, data)
    assert events == [
        FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG"),
        Frame((b"b NOOP",)),
    ]
    assert Framer(Limits(max_line=50, max_nonsync_literal=2)).feed(data) == events


# --- issue 11, defects 15 and 16: huge and misplaced literals ---------------


@pytest.mark.parametrize(
    "marker",
    [b"{99999999999999999999}", b"{18446744073709551616}", b"~{99999999999999999999}",
     b"{" + b"9" * 5000 + b"}"],
)
def test_sync_literal_beyond_2_64_is_refused_at_once_and_in_step(marker: bytes) -> None:
    f = Framer()
    assert f.feed(b"a APPEND INBOX " + marker + b"\r\nb NOOP\r\n") == [
        FrameError("a", "NO", "Literal too big", "TOOBIG"),
        Frame((b"b NOOP",)),
    ]


@pytest.mark.parametrize("marker", [b"{99999999999999999999+}", b"~{99999999999999999999+}",
                                    b"{" + b"9" * 5000 + b"+}"])
def test_huge_nonsync_literal_is_answered_at_once_then_closed(marker: bytes) -> None:
    f = Framer()
    events = f.feed(b"a APPEND INBOX " + marker + b"\r\nxxxx")
    assert events == [FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG", close=True)]
    assert f.closed
    assert f.feed(b"b NOOP\r\n") == []  # nothing after it is read as a command
    assert len(f._buf) == 0


def test_leading_zeros_in_literal_length() -> None:
    long_zeros = b"{" + b"0" * 100 + b"5}"
    assert literal_marker(b"a " + long_zeros) == (5, False, False)
    assert literal_marker(b"a {0000+}") == (0, True, False)
    f = Framer()
    assert f.feed(b"a APPEND x {0005}\r\nhello\r\n") == [CONT, Frame((b"a APPEND x {0005}", b"hello", b""))]
    assert f.feed(b"b APPEND x " + long_zeros + b"\r\nhello\r\n") == [
        CONT, Frame((b"b APPEND x " + long_zeros, b"hello", b""))]


def test_literal_outside_append_is_bounded_by_the_line_limit() -> None:
    f = Framer(Limits(max_line=1000))
    assert f.feed(b"a LOGIN {1001}\r\n") == [
        FrameError("a", "NO", "Literal too big outside APPEND (at most 1000 octets per command)", "TOOBIG")]
    assert f.feed(b"b NOOP\r\n") == [Frame((b"b NOOP",))]
    assert f.feed(b"c APPEND x {1001}\r\n") == [CONT]  # a message may be bigger


def test_literals_outside_append_count_together_with_the_lines() -> None:
    f = Framer(Limits(max_line=1000))
    assert f.feed(b"a SEARCH TEXT {600}\r\n") == [CONT]
    events = f.feed(b"x" * 600 + b" TEXT {600}\r\nb NOOP\r\n")
    assert events[0] == FrameError(
        "a", "NO", "Literal too big outside APPEND (at most 1000 octets per command)", "TOOBIG")
    assert events[1:] == [Frame((b"b NOOP",))]


def test_huge_nonsync_literal_outside_append_closes() -> None:
    """A 10 GB LOGIN argument: answered at once, not waited for."""
    f = Framer()
    assert f.feed(b"a LOGIN {10000000000+}\r\n" + b"x" * 1000) == [
        FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG", close=True)]


def test_small_excess_nonsync_outside_append_is_dropped_in_step() -> None:
    f = Framer(Limits(max_line=100))
    assert f.feed(b"a LOGIN {100+}\r\n" + b"x" * 100 + b" y\r\nb NOOP\r\n") == [
        FrameError("a", "BAD", "Non-synchronizing literal too big", "TOOBIG"),
        Frame((b"b NOOP",)),
    ]


def test_huge_nonsync_after_a_long_line_closes_with_an_untagged_answer() -> None:
    # The command was answered already ("line too long"): the closing
    # answer must not repeat its tag.
    f = Framer(Limits(max_line=100))
    events = f.feed(b"a X " + b"x" * 200 + b" {99999999999+}\r\n")
    assert events == [FrameError("a", "BAD", "Command line too long"),
                      FrameError(None, "BAD", "Non-synchronizing literal too big", "TOOBIG", close=True)]


def test_preauth_limits_are_small() -> None:
    limits = Limits(max_preauth_literal=8192, max_nonsync_literal=Limits.max_literal).preauth()
    assert (limits.max_line, limits.max_literal, limits.max_command, limits.max_nonsync_literal) == \
        (65536, 8192, 65536, 8192)
    f = Framer(limits)
    assert f.feed(b"a LOGIN {8193}\r\n") == [FrameError("a", "NO", "Literal too big", "TOOBIG")]
    assert f.feed(b"b APPEND x {9000}\r\n") == [FrameError("b", "NO", "Literal too big", "TOOBIG")]


def test_hold_frames_one_command_at_a_time() -> None:
    f = Framer()
    f.hold = True
    assert f.feed(b"a LOGIN alice secret\r\nb APPEND x {3}\r\nabc\r\n") == [Frame((b"a LOGIN alice secret",))]
    f.hold = False
    assert f.feed(b"") == [CONT, Frame((b"b APPEND x {3}", b"abc", b""))]


class _Sink:
    """A LiteralSink keeping what it is given."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.chunks: list[bytes] = []
        self.discarded = False

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def discard(self) -> None:
        self.discarded = True


def _spooling(minimum: int = 1000) -> tuple[Framer, list[_Sink]]:
    f = Framer()
    sinks: list[_Sink] = []

    def spool(size: int) -> _Sink:
        sinks.append(_Sink(size))
        return sinks[-1]

    f.spool, f.spool_min = spool, minimum
    return f, sinks


def test_large_append_literal_goes_to_the_spool_not_the_framer() -> None:
    """Issue 16: a large APPEND literal is handed on as it arrives; the
    command comes out as a SpooledFrame with the sink in its place, and
    the framer's buffer never holds the literal."""
    from mailframe.imap.framing import SpooledFrame

    f, sinks = _spooling()
    body = bytes(range(256)) * 20  # 5120 octets
    assert f.feed(b"a APPEND INBOX (\\Seen) {5120}\r\n") == [CONT]
    assert f.feed(body[:100]) == []
    assert f.feed(body[100:4000]) == []
    assert len(f._buf) == 0
    events = f.feed(body[4000:] + b"\r\nb NOOP\r\n")
    assert events == [SpooledFrame((b"a APPEND INBOX (\\Seen) {5120}", sinks[0], b"")),
                      Frame((b"b NOOP",))]
    assert sinks[0].size == 5120 and b"".join(sinks[0].chunks) == body
    assert not sinks[0].discarded


def test_spooled_literal_fed_bytewise_and_multiappend() -> None:
    from mailframe.imap.framing import SpooledFrame

    f, sinks = _spooling(minimum=1000)
    big1, big2 = b"x" * 1500, b"y" * 1000
    data = b"a APPEND INBOX {1500}\r\n" + big1 + b" {3}\r\nabc {1000}\r\n" + big2 + b"\r\n"
    events = feed_bytewise(f, data)
    assert events == [CONT, CONT, CONT, SpooledFrame(
        (b"a APPEND INBOX {1500}", sinks[0], b" {3}", b"abc", b" {1000}", sinks[1], b""))]
    assert b"".join(sinks[0].chunks) == big1 and b"".join(sinks[1].chunks) == big2


def test_small_or_non_append_literals_are_not_spooled() -> None:
    f, sinks = _spooling(minimum=1000)
    assert f.feed(b"a APPEND INBOX {999}\r\n" + b"z" * 999 + b"\r\n") == [
        CONT, Frame((b"a APPEND INBOX {999}", b"z" * 999, b""))]
    data = b"b LOGIN {4}\r\nuser {1000}\r\n" + b"p" * 1000 + b"\r\n"
    assert f.feed(data)[-1] == Frame((b"b LOGIN {4}", b"user", b" {1000}", b"p" * 1000, b""))
    assert sinks == []


def test_abandoned_spooled_literal_is_discarded() -> None:
    """STARTTLS/COMPRESS or a closed connection drops a partial command:
    its spool is told to forget the octets (the adapter's file goes)."""
    f, sinks = _spooling()
    f.feed(b"a APPEND INBOX {5000}\r\n" + b"q" * 2000)
    f.discard_buffered()
    assert sinks[0].discarded


def test_spooled_literals_in_one_feed() -> None:
    from mailframe.imap.framing import SpooledFrame

    f, sinks = _spooling(minimum=1000)
    data = b"a APPEND INBOX {1500+}\r\n" + b"x" * 1500 + b" {1000+}\r\n" + b"y" * 1000 + b"\r\nb NOOP\r\n"
    assert f.feed(data) == [
        SpooledFrame((b"a APPEND INBOX {1500+}", sinks[0], b" {1000+}", sinks[1], b"")),
        Frame((b"b NOOP",))]
    assert b"".join(sinks[0].chunks) == b"x" * 1500 and b"".join(sinks[1].chunks) == b"y" * 1000
