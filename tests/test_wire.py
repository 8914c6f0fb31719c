"""mailframe.wire: the one date-time formatter (RFC 3501 §9) that FETCH
INTERNALDATE and the command unparser share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mailframe.imap.commands.fetch import imap_datetime
from mailframe.imap.unparse import date_time as unparse_date_time
from mailframe.wire import date_time


def test_one_formatter_everywhere() -> None:
    assert imap_datetime is date_time and unparse_date_time is date_time


def test_rfc3501_examples_and_zones() -> None:
    pdt = timezone(timedelta(hours=-7))
    assert date_time(datetime(1996, 7, 17, 2, 44, 25, tzinfo=pdt)) == b'"17-Jul-1996 02:44:25 -0700"'
    assert date_time(datetime(2024, 3, 5, 1, 2, 3, tzinfo=UTC)) == b'"05-Mar-2024 01:02:03 +0000"'
    nepal = timezone(timedelta(hours=5, minutes=45))
    assert date_time(datetime(2024, 3, 5, 1, 2, 3, tzinfo=nepal)).endswith(b' +0545"')
    newfoundland = timezone(-timedelta(hours=3, minutes=30))
    assert date_time(datetime(2024, 3, 5, 1, 2, 3, tzinfo=newfoundland)).endswith(b' -0330"')


def test_naive_is_utc_as_the_stores_take_it() -> None:
    assert date_time(datetime(2024, 1, 2, 3, 4, 5)) == b'"02-Jan-2024 03:04:05 +0000"'


def test_a_zone_with_daylight_saving_gives_each_date_its_offset() -> None:
    """The zone suffix is kept per fixed offset only: a zone with daylight
    saving is asked for each date's own offset."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    assert date_time(datetime(2024, 1, 2, 3, 4, 5, tzinfo=berlin)) == b'"02-Jan-2024 03:04:05 +0100"'
    assert date_time(datetime(2024, 7, 2, 3, 4, 5, tzinfo=berlin)) == b'"02-Jul-2024 03:04:05 +0200"'
