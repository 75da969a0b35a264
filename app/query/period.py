"""Parsing the time window of a request: `from`, `to` as ISO 8601 dates or date-times.

A date means the start of that day; `to` is exclusive. Naive values are UTC unless a
time zone is given. Errors name the parameter and the accepted forms.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["PeriodError", "parse_instant", "parse_timezone"]

MAX_SPAN = dt.timedelta(days=3660)


class PeriodError(ValueError):
    pass


def parse_timezone(name: str | None) -> ZoneInfo:
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64 or ".." in name or name.startswith("/"):
        raise PeriodError(f"tz: {name!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"tz: {name!r} is not an IANA time zone name") from None


def parse_instant(name: str, value: str, tz: dt.tzinfo) -> dt.datetime:
    """`value` as an aware UTC datetime; a bare date is midnight in `tz`."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
    except ValueError:
        raise PeriodError(
            f"{name}: {value!r} is not an ISO 8601 date (2026-01-31) or date-time "
            "(2026-01-31T12:00:00Z)"
        ) from None
    if (
        not dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        <= moment
        <= dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    ):
        raise PeriodError(f"{name}: {value!r} is out of range")
    return moment.astimezone(dt.UTC)
