"""The report window and buckets (chat/selectors/report_window.py): pure, no database.

Whatever text a client sends for since/until/tz/bucket, the answer is a checked window or
InvalidData (400), never another exception; every bucket list covers the window exactly."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chat.errors import InvalidData
from chat.selectors.report_window import MAX_BUCKETS, bucket_starts, report_window

NOW = datetime(2026, 12, 3, 12, 34, 56, tzinfo=UTC)
ZONES = ["UTC", "Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu", "America/Santiago", "Pacific/Kiritimati",
         "Australia/Lord_Howe", "America/St_Johns"]
DATES = st.dates(min_value=datetime(1, 1, 1).date(), max_value=datetime(9999, 12, 31).date())
TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=st.sampled_from([None, UTC, *map(ZoneInfo, ZONES[1:])]))
TEXT = st.one_of(st.none(), st.text(max_size=80), DATES.map(str), TIMES.map(lambda t: t.isoformat()))


def window(**params):
    return report_window(params, now=NOW)


@hsettings(max_examples=400, deadline=None)
@given(since=TEXT, until=TEXT, tz=st.one_of(st.none(), st.sampled_from(ZONES), st.text(max_size=40)),
       bucket=st.sampled_from(["hour", "day"]))
def test_any_input_is_a_window_or_invalid_data(since, until, tz, bucket):
    try:
        checked = window(since=since, until=until, tz=tz)
    except InvalidData:
        return
    assert checked.since < checked.until <= checked.since + timedelta(days=366)
    try:
        starts = bucket_starts(checked, bucket)
    except InvalidData as error:
        assert "bucket" in error.fields
        return
    assert 1 <= len(starts) <= MAX_BUCKETS
    assert starts[0] <= checked.since < (starts[1] if len(starts) > 1 else checked.until + timedelta(days=2))
    assert starts[-1] < checked.until
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))


def test_defaults_and_dates():
    assert (window().since, window().until) == (NOW - timedelta(days=7), NOW)
    paris = window(since="2026-03-29", until="2026-03-29", tz="Europe/Paris")  # clocks go forward
    assert (paris.since, paris.until) == (datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    assert bucket_starts(paris, "day") == [paris.since]
    assert len(bucket_starts(paris, "hour")) == 23


def test_the_repeated_hour_is_two_buckets():
    autumn = window(since="2026-10-25", until="2026-10-25", tz="Europe/Paris")  # clocks go back: 25 hours
    hours = bucket_starts(autumn, "hour")
    assert len(hours) == 25
    assert hours[2] - hours[1] == timedelta(hours=1)


def test_half_hour_zones_cut_hours_at_half_past():
    kolkata = window(since="2026-11-02", until="2026-11-02", tz="Asia/Kolkata")
    hours = bucket_starts(kolkata, "hour")
    assert hours[0] == datetime(2026, 11, 1, 18, 30, tzinfo=UTC)
    assert len(hours) == 24


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "utc ", "x" * 100])
def test_unknown_zones_are_refused(tz):
    with pytest.raises(InvalidData) as error:
        window(tz=tz)
    assert "tz" in error.value.fields
