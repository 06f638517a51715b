"""Business hours (DESIGN.md §11, docs/desk.md): the one owner of "is this inbox within its
working hours now, and when does it open next".

An inbox has ``timezone`` (an IANA name) and ``working_hours``: ``None`` = always within hours,
else ``{"mon": [["09:00", "17:00"], ...], ..., "sun": []}``: open intervals of local wall-clock
time per weekday; a missing or empty day is closed. ``"24:00"`` may end an interval (until
midnight); an interval never crosses midnight (a night shift is ``[["22:00", "24:00"]]`` on one
day and ``[["00:00", "06:00"]]`` on the next, which join into one open period).

Pure functions of the inbox row and an instant (no query): the visitor's message path calls
``is_open`` on the inbox it already loaded, so checking costs no SQL statement.

Daylight saving time: intervals are wall-clock times, so "09:00" is 09:00 local on every day of
the year. On a spring-forward day an interval starting inside the skipped hour opens at the end
of the gap (the first instant whose local time is past the start); on a fall-back day a wall
time that occurs twice opens at its first occurrence, and again at the second if the inbox
closed in between.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, Message

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS_PER_DAY = 12
_TIME = re.compile(r"^(\d{2}):(\d{2})$")
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")
Intervals = dict[int, list[tuple[int, int]]]  # weekday (0 = Monday) -> [(start, end) minutes]


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(value: Any) -> str:
    """An IANA zone name known to this server, or InvalidData (400) on ``timezone``.

    Checked against the installed zone list before ``ZoneInfo`` sees it: a hostile string
    (a path, a huge or binary value) is refused without touching the file system."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 64
        or not _ZONE_NAME.match(value)
        or value not in _zone_names()
    ):
        shown = value[:64] if isinstance(value, str) else type(value).__name__
        raise InvalidData(_("Unknown time zone."), fields={"timezone": [format_lazy(_("Not an IANA time zone: {zone}."), zone=repr(shown))]})
    return value


def _minutes(value: Any, *, day: str, end: bool) -> int:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(format_lazy(_("{day}: times are \"HH:MM\" strings."), day=day))
    hours, minutes = int(match.group(1)), int(match.group(2))
    if end and (hours, minutes) == (24, 0):
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise _bad(format_lazy(_("{day}: {value} is not a time of day (00:00-23:59; an end may be 24:00)."), day=day, value=repr(value)))
    return hours * 60 + minutes


def _bad(message: Message) -> InvalidData:
    return InvalidData(format_lazy("working_hours: {}", message), fields={"working_hours": [message]})


def validate_working_hours(value: Any) -> dict[str, list[list[str]]] | None:
    """``None`` (always open) or the normalized week (intervals sorted by start; every day
    present). Refused with InvalidData on ``working_hours``: not an object, an unknown day, a
    day that is not a list of ``[start, end]`` pairs, a bad time, an empty or reversed
    interval, overlapping intervals, more than MAX_INTERVALS_PER_DAY in one day."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(_("an object of weekdays (mon..sun) or null."))
    unknown = sorted(str(k) for k in value if k not in DAYS)
    if unknown:
        raise _bad(format_lazy(_("unknown day(s) {unknown}; days are {days}."), unknown=unknown[:7], days=list(DAYS)))
    week: dict[str, list[list[str]]] = {}
    for day in DAYS:
        intervals = value.get(day) or []
        if not isinstance(intervals, list):
            raise _bad(format_lazy(_("{day}: a list of [start, end] pairs."), day=day))
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            raise _bad(format_lazy(_("{day}: at most {count} intervals."), day=day, count=MAX_INTERVALS_PER_DAY))
        parsed = []
        for pair in intervals:
            if not isinstance(pair, list) or len(pair) != 2:
                raise _bad(format_lazy(_("{day}: each interval is [\"HH:MM\", \"HH:MM\"]."), day=day))
            start, end = _minutes(pair[0], day=day, end=False), _minutes(pair[1], day=day, end=True)
            if end <= start:
                raise _bad(format_lazy(_("{day}: {start}-{end} ends before it starts (split a night shift over two days)."),
                                  day=day, start=pair[0], end=pair[1]))
            parsed.append((start, end, pair))
        parsed.sort()
        for (_s1, e1, p1), (s2, _e2, p2) in zip(parsed, parsed[1:], strict=False):
            if s2 < e1:
                raise _bad(format_lazy(_("{day}: {start1}-{end1} and {start2}-{end2} overlap."),
                                  day=day, start1=p1[0], end1=p1[1], start2=p2[0], end2=p2[1]))
        week[day] = [[p[0], p[1]] for _s, _e, p in parsed]
    return week


def _intervals(working_hours: dict[str, Any]) -> Intervals:
    """Stored (already validated) week → minutes per weekday (seven short lists: microseconds)."""
    result: Intervals = {}
    for index, day in enumerate(DAYS):
        spans = []
        for start, end in working_hours.get(day) or []:
            spans.append((_minutes(start, day=day, end=False), _minutes(end, day=day, end=True)))
        result[index] = sorted(spans)
    return result


def zone(name: str) -> ZoneInfo:
    """The inbox's zone; a stored name the server no longer knows falls back to UTC."""
    try:
        return ZoneInfo(validate_timezone(name))
    except InvalidData:
        return ZoneInfo("UTC")


def _open_at(intervals: Intervals, local: datetime) -> bool:
    spans = intervals.get(local.weekday()) or []
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in spans)


def is_open_at(*, timezone: str, working_hours: dict[str, Any] | None, at: datetime) -> bool:
    """Whether ``at`` (an aware instant) is within the hours. No hours: always open."""
    if working_hours is None:
        return True
    return _open_at(_intervals(working_hours), at.astimezone(zone(timezone)))


def _instants(day: date, minute: int, tz: ZoneInfo) -> list[datetime]:
    """The instants (UTC) at which local wall time reaches ``minute`` on ``day``: one normally,
    two on a fall-back day (the wall time occurs twice), and the end of the gap on a
    spring-forward day (the wall time does not exist; the first instant after it)."""
    if minute >= 24 * 60:
        return []
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    found = []
    for instant in sorted({first, second}):
        if instant.astimezone(tz).replace(tzinfo=None) == naive:
            found.append(instant)
    if found:
        return found
    # In a gap: fold=1 (the later offset) gives an instant before the transition, fold=0 one
    # after it. The transition is where local time jumps past the wall time: find it to the second.
    low, high = min(first, second), max(first, second)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    # Transitions fall on whole seconds and lie in (low, high], so flooring ``high`` finds it.
    return [high.replace(microsecond=0)]


def next_open_at(*, timezone: str, working_hours: dict[str, Any] | None, at: datetime) -> datetime | None:
    """When the inbox opens next after ``at`` (UTC), or None while within hours (and when the
    week has no open interval at all)."""
    if working_hours is None:
        return None
    tz = zone(timezone)
    intervals = _intervals(working_hours)
    local = at.astimezone(tz)
    if _open_at(intervals, local):
        return None
    # Eight local days cover a week from any instant (today's later intervals too); fifteen,
    # because an interval lying wholly in a spring-forward gap does not open that week.
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        candidates = []
        for start, _end in intervals.get(day.weekday()) or []:
            for instant in _instants(day, start, tz):
                if instant > at and _open_at(intervals, instant.astimezone(tz)):
                    candidates.append(instant)
        if candidates:
            return min(candidates)
    return None


# --- The inbox as callers hold it -------------------------------------------------------------


def inbox_is_open(inbox: Any, *, at: datetime) -> bool:
    """``is_open_at`` for an Inbox row already loaded (no query)."""
    return is_open_at(timezone=inbox.timezone, working_hours=inbox.working_hours, at=at)


def inbox_next_open_at(inbox: Any, *, at: datetime) -> datetime | None:
    """``next_open_at`` for an Inbox row already loaded (no query)."""
    return next_open_at(timezone=inbox.timezone, working_hours=inbox.working_hours, at=at)
