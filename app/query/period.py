"""Parsing the time window of a request: `from`, `to` as ISO 8601 dates or date-times.

DESIGN §7: a date `from` is the local midnight that starts it; a date `to` is the last
whole day included (the period ends at the local midnight after it); a date-time `to` is
exclusive. Dates and naive date-times are in the request's time zone (`tz`, UTC by
default). Errors name the parameter and the accepted forms.
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


def parse_instant(name: str, value: str, tz: dt.tzinfo, *, last_day: bool = False) -> dt.datetime:
    """`value` as an aware UTC datetime. A bare date is midnight in `tz` at its start, or
    with `last_day` (a period's `to`: the last whole day included) at its end — the next
    local midnight, 23 or 25 hours later on a day when clocks change."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if last_day else 0)
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
