"""The window and buckets of a report (docs/reports.md): query text in, checked values out.

Pure functions (no database): ``report_window`` reads ``since``, ``until`` and ``tz``;
``bucket_starts`` lists the buckets of a time series. Every refusal is ``InvalidData`` (400).

* ``since`` / ``until``: ISO 8601 dates (``2026-11-01``) or times (``2026-11-01T09:00``, with or
  without an offset; without one it is a wall time in ``tz``). A date ``since`` starts at that
  day's midnight in ``tz``; a date ``until`` includes that day (it ends at the next midnight).
  Defaults: ``until`` now, ``since`` seven days before ``until``. The window is ``[since,
  until)``, must not be empty, spans at most ``MAX_WINDOW`` (a year, leap day included) and lies
  within years 1970 to 8999 (date arithmetic near year 1 or 9999 would overflow).
* ``tz``: an IANA zone name (default UTC): the wall clock of dates and of day/hour buckets.
* Buckets: at most ``MAX_BUCKETS`` per series (an hourly year would be 8,784 points).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from datetime import timezone as dt_timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, Message

MAX_WINDOW = timedelta(days=366)
DEFAULT_WINDOW = timedelta(days=7)
MAX_BUCKETS = 2_000
BUCKETS = ("hour", "day")
_MAX_PARAM = 64
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReportWindow:
    since: datetime  # aware, inclusive
    until: datetime  # aware, exclusive
    tz: ZoneInfo

    @property
    def tz_name(self) -> str:
        return self.tz.key


def _invalid(field: str, message: Message) -> InvalidData:
    return InvalidData(format_lazy("{}: {}", field, message), fields={field: [message]})


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def report_zone(value: Any) -> ZoneInfo:
    """An IANA zone from its name (only names the system's database lists: never a path)."""
    if value in (None, ""):
        return ZoneInfo("UTC")
    if not isinstance(value, str) or len(value) > _MAX_PARAM or value not in _zone_names():
        raise _invalid("tz", _("An IANA time zone name, such as Europe/Paris."))
    return ZoneInfo(value)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _bound(params: Any, name: str, tz: ZoneInfo, *, end: bool) -> datetime | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    message = _("An ISO 8601 date (2026-11-01) or time (2026-11-01T09:00:00Z).")
    if not isinstance(raw, str) or len(raw) > _MAX_PARAM:
        raise _invalid(name, message)
    text = raw.strip()
    try:
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except (ValueError, OverflowError):  # well formed but impossible: 2026-02-30, hour 25
        raise _invalid(name, message) from None
    if day is not None:
        try:
            return _local_midnight(day + timedelta(days=1) if end else day, tz)
        except OverflowError:  # 9999-12-31 + 1 day
            raise _invalid(name, message) from None
    if moment is None:
        raise _invalid(name, message)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def report_window(params: Any, *, now: datetime | None = None) -> ReportWindow:
    """``since``, ``until`` and ``tz`` of a report request, checked (InvalidData otherwise)."""
    tz = report_zone(params.get("tz"))
    since = _bound(params, "since", tz, end=False)
    until = _bound(params, "until", tz, end=True)
    try:
        if until is None:
            until = now or timezone.now()
        if since is None:
            since = until - DEFAULT_WINDOW
        since, until = since.astimezone(UTC), until.astimezone(UTC)
    except OverflowError:  # until=0001-01-01, since=9999-12-31T23:00-05:00: outside years 1-9999 in UTC
        raise _invalid("since", _("The window must lie within years 1970 to 8999.")) from None
    # Bounded years: bucket arithmetic near year 1 or 9999 overflows Python's dates.
    if since < EARLIEST or since >= LATEST:
        raise _invalid("since", _("The window must lie within years 1970 to 8999."))
    if until > LATEST:
        raise _invalid("until", _("The window must lie within years 1970 to 8999."))
    if until <= since:
        raise _invalid("until", _("Must be after since."))
    if until - since > MAX_WINDOW:
        raise _invalid("since", _("The window spans at most 366 days."))
    return ReportWindow(since=since, until=until, tz=tz)


def bucket_param(value: Any) -> str:
    if value in (None, ""):
        return "day"
    if value not in BUCKETS:
        raise _invalid("bucket", _("hour or day."))
    return str(value)


def bucket_zone(window: ReportWindow, bucket: str) -> tzinfo:
    """The zone buckets are cut in: the window's zone for days (calendar days, 23 or 25 hours
    across a DST change); for hours a fixed offset with the zone's minutes past the UTC hour
    (+00:30 for Asia/Kolkata, UTC for whole-hour zones), so hours follow the wall clock and the
    hour repeated when clocks go back is two buckets, not one with both hours' counts."""
    if bucket == "day":
        return window.tz
    offset = window.since.astimezone(window.tz).utcoffset() or timedelta(0)
    return dt_timezone(timedelta(minutes=(offset.total_seconds() // 60) % 60))


def bucket_starts(window: ReportWindow, bucket: str) -> list[datetime]:
    """The start (UTC) of every bucket that overlaps the window, in order; the first and the last
    may be partial. InvalidData past ``MAX_BUCKETS``."""
    zone = bucket_zone(window, bucket)
    local = window.since.astimezone(zone)
    too_many = _invalid("bucket", format_lazy(_("At most {max_buckets} buckets: choose bucket=day or a shorter window."), max_buckets=MAX_BUCKETS))
    if bucket == "hour":
        first = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        count = math.ceil((window.until - first) / timedelta(hours=1))
        if count > MAX_BUCKETS:
            raise too_many
        return [first + timedelta(hours=n) for n in range(count)]
    # An upper bound before the loop (a day is at least 23 hours): a bad request builds nothing.
    if (window.until - window.since) / timedelta(hours=23) > MAX_BUCKETS:
        raise too_many
    starts: list[datetime] = []
    day = local.date()
    while (start := _local_midnight(day, window.tz).astimezone(UTC)) < window.until:
        starts.append(start)
        day += timedelta(days=1)
    if len(starts) > MAX_BUCKETS:
        raise too_many
    return starts


def bucket_key(moment: datetime) -> datetime:
    """A bucket start as returned by the database (aware, in the zone) in the form of
    ``bucket_starts`` (UTC), for matching."""
    return moment.astimezone(UTC)
