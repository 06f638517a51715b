"""Business hours as pure functions (chat/services/business_hours.py): validation, is_open and
next_open_at across daylight-saving changes. No database, no store."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chat.errors import InvalidData
from chat.services.business_hours import (
    is_open_at,
    next_open_at,
    validate_timezone,
    validate_working_hours,
)

WEEKDAYS_9_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(week, tz="UTC"):
    return {"timezone": tz, "working_hours": validate_working_hours(week)}


# --- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
def test_known_time_zones_are_accepted(name):
    assert validate_timezone(name) == name


@pytest.mark.parametrize("name", [
    "", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/../../etc/passwd", "Europe/Berlin\x00",
    "x" * 5000, 42, None, ["UTC"], "Europe//Berlin", "utc ", "Europe/Berlin/",
])
def test_hostile_or_unknown_time_zones_are_refused_with_the_field(name):
    with pytest.raises(InvalidData) as caught:
        validate_timezone(name)
    assert "timezone" in caught.value.fields


def test_working_hours_are_normalized_sorted_and_every_day_present():
    week = validate_working_hours({"mon": [["13:00", "17:00"], ["09:00", "12:00"]], "sun": [["10:00", "24:00"]]})
    assert week["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert week["sun"] == [["10:00", "24:00"]]
    assert week["tue"] == [] and set(week) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
    assert validate_working_hours(None) is None


@pytest.mark.parametrize("week", [
    [], "9-5", {"monday": [["09:00", "17:00"]]}, {"mon": "09:00-17:00"}, {"mon": [["09:00"]]},
    {"mon": [["9:00", "17:00"]]}, {"mon": [["09:00", "25:00"]]}, {"mon": [["24:00", "24:00"]]},
    {"mon": [["17:00", "09:00"]]}, {"mon": [["09:00", "09:00"]]}, {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]},
    {"mon": [["09:60", "10:00"]]}, {"mon": [[900, 1700]]}, {"mon": [["22:00", "06:00"]]},
    {"mon": [["00:00", "00:30"]] * 13},
])
def test_bad_shapes_times_and_overlaps_are_refused_with_the_field(week):
    with pytest.raises(InvalidData) as caught:
        validate_working_hours(week)
    assert "working_hours" in caught.value.fields


def test_adjacent_intervals_do_not_overlap():
    assert validate_working_hours({"mon": [["09:00", "12:00"], ["12:00", "13:00"]]})["mon"] == [
        ["09:00", "12:00"], ["12:00", "13:00"]]


# --- is_open / next_open_at ---------------------------------------------------------------------


def test_no_hours_means_always_open():
    assert is_open_at(timezone="Europe/Berlin", working_hours=None, at=utc(2026, 1, 4, 3, 0))
    assert next_open_at(timezone="Europe/Berlin", working_hours=None, at=utc(2026, 1, 4, 3, 0)) is None


def test_weekday_hours_in_new_york():
    h = hours(WEEKDAYS_9_17, "America/New_York")
    # Monday 2026-01-05 09:30 EST = 14:30 UTC.
    assert is_open_at(**h, at=utc(2026, 1, 5, 14, 30))
    assert next_open_at(**h, at=utc(2026, 1, 5, 14, 30)) is None
    assert not is_open_at(**h, at=utc(2026, 1, 5, 13, 59))  # 08:59 local
    assert next_open_at(**h, at=utc(2026, 1, 5, 13, 59)) == utc(2026, 1, 5, 14, 0)
    assert not is_open_at(**h, at=utc(2026, 1, 5, 22, 0))  # 17:00 local: the end is exclusive
    # Friday evening → Monday 09:00 EST.
    assert next_open_at(**h, at=utc(2026, 1, 9, 23, 0)) == utc(2026, 1, 12, 14, 0)
    # In summer (EDT, UTC-4) 09:00 is 13:00 UTC: wall time, not a fixed offset.
    assert next_open_at(**h, at=utc(2026, 7, 6, 12, 0)) == utc(2026, 7, 6, 13, 0)


def test_new_york_spring_forward_monday_opening_moves_with_the_offset():
    h = hours(WEEKDAYS_9_17, "America/New_York")
    # DST starts Sunday 2026-03-08; Friday 17:00 EST → Monday 09:00 EDT = 13:00 UTC.
    assert next_open_at(**h, at=utc(2026, 3, 6, 22, 30)) == utc(2026, 3, 9, 13, 0)


def test_berlin_spring_forward_day_interval_starting_in_the_gap_opens_at_the_gap_end():
    # 2026-03-29 (Sunday): 02:00 CET → 03:00 CEST. 02:30 does not exist that day.
    h = hours({"sun": [["02:30", "05:00"]]}, "Europe/Berlin")
    opens = next_open_at(**h, at=utc(2026, 3, 28, 12, 0))
    assert opens == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the first instant past 02:30 local
    assert is_open_at(**h, at=opens)
    assert not is_open_at(**h, at=opens - timedelta(seconds=1))  # 01:59:59 CET
    assert is_open_at(**h, at=utc(2026, 3, 29, 2, 59))  # 04:59 CEST
    assert not is_open_at(**h, at=utc(2026, 3, 29, 3, 0))  # 05:00 CEST
    # The week after, a normal Sunday: 02:30 CEST = 00:30 UTC.
    assert next_open_at(**h, at=utc(2026, 3, 29, 4, 0)) == utc(2026, 4, 5, 0, 30)


def test_berlin_spring_forward_interval_wholly_inside_the_gap_never_opens_that_day():
    h = hours({"sun": [["02:10", "02:50"]]}, "Europe/Berlin")
    # Skips 2026-03-29 (the hour does not exist) and opens the Sunday after, 02:10 CEST.
    assert next_open_at(**h, at=utc(2026, 3, 28, 12, 0)) == utc(2026, 4, 5, 0, 10)


def test_berlin_fall_back_day_wall_time_that_occurs_twice():
    # 2026-10-25 (Sunday): 03:00 CEST → 02:00 CET; 02:00-03:00 local happens twice.
    h = hours({"sun": [["02:30", "02:45"]]}, "Europe/Berlin")
    first = next_open_at(**h, at=utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    after_first = first + timedelta(minutes=20)  # 02:50 CEST: closed
    assert not is_open_at(**h, at=after_first)
    assert next_open_at(**h, at=after_first) == utc(2026, 10, 25, 1, 30)  # 02:30 CET, the second time
    assert is_open_at(**h, at=utc(2026, 10, 25, 1, 40))


def test_berlin_fall_back_day_regular_hours_are_wall_clock():
    h = hours({"sun": [["09:00", "17:00"]], "sat": [["09:00", "17:00"]]}, "Europe/Berlin")
    assert next_open_at(**h, at=utc(2026, 10, 24, 20, 0)) == utc(2026, 10, 25, 8, 0)  # 09:00 CET
    assert is_open_at(**h, at=utc(2026, 10, 25, 15, 59)) and not is_open_at(**h, at=utc(2026, 10, 25, 16, 0))


def test_a_week_with_only_sunday_open():
    h = hours({"sun": [["10:00", "12:00"]]}, "Europe/Berlin")
    # Monday 2026-01-05 → Sunday 2026-01-11 10:00 CET = 09:00 UTC.
    assert next_open_at(**h, at=utc(2026, 1, 5, 12, 0)) == utc(2026, 1, 11, 9, 0)
    # Sunday after closing → next Sunday.
    assert next_open_at(**h, at=utc(2026, 1, 11, 11, 0)) == utc(2026, 1, 18, 9, 0)
    # Sunday before opening → the same day.
    assert next_open_at(**h, at=utc(2026, 1, 11, 8, 0)) == utc(2026, 1, 11, 9, 0)


def test_intervals_until_midnight_join_the_next_day():
    h = hours({"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]}, "UTC")
    assert is_open_at(**h, at=utc(2026, 1, 5, 23, 59, 59))
    assert is_open_at(**h, at=utc(2026, 1, 6, 0, 0))
    assert next_open_at(**h, at=utc(2026, 1, 5, 23, 30)) is None
    assert next_open_at(**h, at=utc(2026, 1, 6, 6, 0)) == utc(2026, 1, 12, 22, 0)


def test_a_week_without_any_open_interval():
    h = hours({}, "UTC")
    assert not is_open_at(**h, at=utc(2026, 1, 5, 12, 0))
    assert next_open_at(**h, at=utc(2026, 1, 5, 12, 0)) is None


def test_a_stored_zone_the_server_no_longer_knows_falls_back_to_utc():
    week = validate_working_hours({"mon": [["09:00", "17:00"]]})
    assert is_open_at(timezone="Gone/Zone", working_hours=week, at=utc(2026, 1, 5, 9, 0))
