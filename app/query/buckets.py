"""Time buckets of a time series in the query's zone: their starts, and the SQL that maps
an instant to its bucket.

A bucket is a local minute, hour, day or Monday-to-Sunday week, identified by the UTC
instant it starts at. Days and weeks start at local midnight, so a DST day has 23 or 25
hours; on the day clocks go back, the repeated local hour is two buckets with the same
local label and different offsets. ClickHouse's own functions
(`toStartOfHour(toTimeZone(t, zone))` and friends) decide which bucket an instant is in,
and the list of a period's buckets is made by the same functions (`bucket_starts`), so
the two cannot disagree, even in a zone whose clocks move by half an hour
(Australia/Lord_Howe, where ClickHouse's hours after the change start at half past).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from app.query.sql import Sql
from app.store.client import Store

__all__ = ["MAX_BUCKETS", "bucket_index", "bucket_sql", "bucket_starts", "label", "start_label"]

MAX_BUCKETS = 20_000

#: Bucket start of the UTC `DateTime` expression `{t}`, in the zone bound as `{tz}`.
_SQL = {
    "minute": "toStartOfMinute(toTimeZone({t}, {tz}))",
    "hour": "toStartOfHour(toTimeZone({t}, {tz}))",
    "day": "toStartOfDay(toTimeZone({t}, {tz}))",
    "week": "toDateTime(toMonday(toTimeZone({t}, {tz})), {tz})",
}
#: Every bucket is at least this long, so instants this far apart meet every bucket.
_SAMPLE_SECONDS = {"minute": 60, "hour": 900, "day": 900, "week": 900}


def bucket_sql(interval: str, tz: str) -> Callable[[str], str]:
    """The SQL of the bucket start of a UTC `DateTime` expression, for `interval`; `tz` is
    the zone's bound parameter."""
    template = _SQL[interval].replace("{tz}", tz)
    return lambda column: template.replace("{t}", column)


def bucket_starts(
    store: Store, start: dt.datetime, end: dt.datetime, interval: str, zone: ZoneInfo
) -> list[dt.datetime]:
    """The UTC starts of every bucket that overlaps [start, end), in order (the first may
    lie before `start`), at most `MAX_BUCKETS`: the buckets of instants from `start`,
    `_SAMPLE_SECONDS` apart."""
    sql = Sql(store.db)
    bucket = bucket_sql(interval, sql.bind(zone.key, "String"))
    first = int(start.timestamp())
    step = _SAMPLE_SECONDS[interval]
    samples = max(1, -(-(int(end.timestamp()) - first) // step))
    rows = store.rows(
        f"SELECT DISTINCT toUnixTimestamp({bucket('t')}) AS b FROM (SELECT "
        f"toDateTime({sql.bind(first, 'UInt32')} + number * {step}, 'UTC') AS t "
        f"FROM numbers({sql.bind(samples, 'UInt64')})) WHERE t < {sql.instant(end)} "
        f"ORDER BY b LIMIT {MAX_BUCKETS}",
        sql.params,
    )
    return [dt.datetime.fromtimestamp(b, dt.UTC) for (b,) in rows]


def bucket_index(starts: list[dt.datetime], moment: dt.datetime) -> int:
    """The bucket of `starts` that holds `moment` (-1 before the first)."""
    return bisect.bisect_right(starts, moment) - 1


def label(start: dt.datetime, zone: ZoneInfo) -> str:
    """The local wall-clock time of a bucket start, as the API's `date`."""
    return start.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def start_label(start: dt.datetime, zone: ZoneInfo) -> str:
    """The bucket start as an ISO 8601 instant with its local offset."""
    return start.astimezone(zone).isoformat()
