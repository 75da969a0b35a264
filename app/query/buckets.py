"""Time buckets of a time series in the query's zone: their starts, and the SQL that maps
an instant to its bucket.

A bucket is a local minute, hour, day or Monday-to-Sunday week, identified by the UTC
instant it starts at. Days and weeks start at local midnight, so a DST day has 23 or 25
hours; on the day clocks go back, the repeated local hour is two buckets with the same
local label and different offsets. ClickHouse computes the same starts
(`toStartOfHour(toTimeZone(t, zone))` and friends, checked in tests/unit/test_buckets.py
against Python's zoneinfo).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

__all__ = ["MAX_BUCKETS", "bucket_index", "bucket_sql", "bucket_starts", "label", "start_label"]

MAX_BUCKETS = 20_000

#: Bucket start of the UTC `DateTime` expression `{t}`, in the zone bound as `{tz}`.
_SQL = {
    "minute": "toStartOfMinute(toTimeZone({t}, {tz}))",
    "hour": "toStartOfHour(toTimeZone({t}, {tz}))",
    "day": "toStartOfDay(toTimeZone({t}, {tz}))",
    "week": "toDateTime(toMonday(toTimeZone({t}, {tz})), {tz})",
}


def bucket_sql(interval: str, tz: str) -> Callable[[str], str]:
    """The SQL of the bucket start of a UTC `DateTime` expression, for `interval`; `tz` is
    the zone's bound parameter."""
    template = _SQL[interval].replace("{tz}", tz)
    return lambda column: template.replace("{t}", column)


def _floor(moment: dt.datetime, interval: str, zone: ZoneInfo) -> dt.datetime:
    local = moment.astimezone(zone)
    if interval == "minute":
        return local.replace(second=0, microsecond=0).astimezone(dt.UTC)
    if interval == "hour":
        # Same offset as `local` (fold kept): in the repeated hour of a DST change, each
        # of the two hours starts at its own instant.
        return local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    day = local.date()
    if interval == "week":
        day -= dt.timedelta(days=day.weekday())
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


_STEP = {
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(hours=20),
    "week": dt.timedelta(days=6),
}


def bucket_starts(
    start: dt.datetime, end: dt.datetime, interval: str, zone: ZoneInfo
) -> list[dt.datetime]:
    """The UTC starts of every bucket that overlaps [start, end), in order (the first may
    lie before `start`), at most `MAX_BUCKETS`."""
    starts = [_floor(start, interval, zone)]
    step = _STEP[interval]
    while len(starts) < MAX_BUCKETS:
        candidate = starts[-1] + step
        following = _floor(candidate, interval, zone)
        while following <= starts[-1]:  # a longer bucket (a 25-hour day): step on
            candidate += step / 4
            following = _floor(candidate, interval, zone)
        if following >= end:
            break
        starts.append(following)
    return starts


def bucket_index(starts: list[dt.datetime], moment: dt.datetime) -> int:
    """The bucket of `starts` that holds `moment` (-1 before the first)."""
    return bisect.bisect_right(starts, moment) - 1


def label(start: dt.datetime, zone: ZoneInfo) -> str:
    """The local wall-clock time of a bucket start, as the API's `date`."""
    return start.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def start_label(start: dt.datetime, zone: ZoneInfo) -> str:
    """The bucket start as an ISO 8601 instant with its local offset."""
    return start.astimezone(zone).isoformat()
