"""Hypothesis properties of the framer and grammar."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailframe.imap.command import Command
from mailframe.imap.framing import ContinuationRequest, Frame, FrameError, Framer
from mailframe.imap.grammar import ParseError, parse_command
from mailframe.imap.limits import Limits
from mailframe.imap.unparse import unparse

from .helpers import round_trips
from .strategies import commands

# MAILFRAME_FUZZ_EXAMPLES=20000 for a long fuzzing run; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("MAILFRAME_FUZZ_EXAMPLES", "400"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = Limits(max_line=200, max_literal=64, max_command=400, max_depth=8, max_nonsync_literal=16)


@SETTINGS
@given(commands)
def test_parse_unparse_round_trip(cmd: Command) -> None:
    assert round_trips(cmd)


@SETTINGS
@given(commands, st.lists(st.integers(0, 10_000), max_size=6))
def test_framing_does_not_depend_on_chunking(cmd: Command, cuts: list[int]) -> None:
    data = unparse(cmd)
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)], strict=True)]
    whole = Framer().feed(data)
    framer = Framer()
    pieces = [ev for chunk in chunks for ev in framer.feed(chunk)]
    assert pieces == whole
    assert [e for e in whole if isinstance(e, Frame)] and parse_command(
        [e for e in whole if isinstance(e, Frame)][0]) == cmd


def _drive(data: bytes, limits: Limits) -> None:
    """Framer then parser: only the documented outcomes, ever."""
    framer = Framer(limits)
    for ev in framer.feed(data):
        assert isinstance(ev, (Frame, ContinuationRequest, FrameError))
        if isinstance(ev, Frame):
            try:
                assert isinstance(parse_command(ev, limits), Command)
            except ParseError as err:
                assert err.status in ("BAD", "NO")


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    _drive(data, Limits())
    _drive(data, SMALL)


@SETTINGS
@given(commands, st.data())
def test_mutated_commands_never_crash(cmd: Command, data: st.DataObject) -> None:
    """Damaged versions of valid commands reach deep into the grammar."""
    wire = bytearray(unparse(cmd))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        pos = data.draw(st.integers(0, max(0, len(wire) - 1)))
        byte = data.draw(st.sampled_from(b'() {}[]<>"\\*$:,.+~-0123456789 \r\nAaZz\x00\xff'))
        if op == "insert":
            wire.insert(pos, byte)
        elif op == "delete" and wire:
            del wire[pos]
        elif wire:
            wire[pos] = byte
    _drive(bytes(wire) + b"\r\n", Limits())
    _drive(bytes(wire) + b"\r\n", SMALL)


_wire_bytes = st.lists(
    st.one_of(
        st.sampled_from([b"a ", b"{3}", b"{2+}", b"~{1}", b"{300}", b"{17+}", b"\r\n", b"\n", b" ", b"(", b'"']),
        st.binary(max_size=30),
    ),
    max_size=30,
).map(b"".join)


@SETTINGS
@given(_wire_bytes, st.lists(st.integers(0, 1000), max_size=8))
def test_any_stream_frames_the_same_in_any_chunks(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)], strict=True)]
    for limits in (Limits(), SMALL):
        whole = Framer(limits).feed(data)
        framer = Framer(limits)
        assert [ev for chunk in chunks for ev in framer.feed(chunk)] == whole
