"""The Maildir index's events are dataclasses written as one line each
and read back identical (the replay every process shares)."""

from __future__ import annotations

import pytest

from mailframe.store._maildir_index import (
    Added,
    CurMoved,
    DirStamp,
    Event,
    Expunged,
    FlagsChanged,
    Meta,
    Stamp,
    format_event,
    meta_from_row,
    meta_row,
    parse_event,
)

META = Meta("cur/1700000000.M1P2Q3.host,S=42:2,S", 42, 1700000000.5, 120, 10, 99, True)


@pytest.mark.parametrize(
    "event",
    [
        Added(7, 3, META, frozenset({"\\Seen", "$Junk"})),
        Added(8, 4, Meta("cur/x:2,", 1, 2.0, 0, -1, 0), frozenset()),
        FlagsChanged(9, 3, "cur/1700000000.M1P2Q3.host,S=42:2,FS", frozenset({"\\Flagged", "\\Seen"})),
        FlagsChanged(10, 3, "cur/y:2,", frozenset()),
        Expunged(11, (3, 4, 9)),
        Stamp(1_700_000_000_000_000_000, 1_700_000_000_100_000_000, 1700000001.25),
        CurMoved(1_700_000_000_000_000_000, 1_700_000_000_004_000_000),
    ],
)
def test_event_line_round_trip(event: Event) -> None:
    line = format_event(event)
    assert line.endswith("\n") and line.count("\n") == 1
    assert parse_event(line[:-1]) == event


def test_meta_row_round_trip() -> None:
    assert meta_from_row(meta_row(5, META)) == (5, META)


def test_dir_stamp_is_named() -> None:
    stamp = DirStamp(cur_ns=1, new_ns=2)
    assert stamp.cur_ns == 1 and stamp.new_ns == 2 and max(stamp) == 2
