"""Time-series buckets: the list of a period's bucket starts holds the bucket of every
instant in it, and in every zone with ordinary rules its buckets start on the local
minute, hour, midnight or Monday that Python's zoneinfo gives, DST days included."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app.query import buckets
from app.query.sql import Sql
from app.store.client import Store

CASES = [
    ("Asia/Kolkata", "2026-11-24"),
    ("Asia/Kathmandu", "2026-11-25"),
    ("America/St_Johns", "2026-11-01"),  # clocks back at 02:00 local (-2:30 to -3:30)
    ("America/New_York", "2026-11-01"),  # 25 hours
    ("America/New_York", "2026-03-08"),  # 23 hours
    ("Europe/London", "2026-03-29"),
    ("UTC", "2026-11-24"),
    # Clocks move by half an hour: ClickHouse's hours then start at half past; the
    # list must still hold the bucket of every instant.
    ("Australia/Lord_Howe", "2026-10-04"),
]


def _expected_start(moment: dt.datetime, interval: str, zone: ZoneInfo) -> dt.datetime:
    local = moment.astimezone(zone)
    if interval == "minute":
        return local.replace(second=0).astimezone(dt.UTC)
    if interval == "hour":
        return local.replace(minute=0, second=0).astimezone(dt.UTC)  # fold kept
    day = local.date()
    if interval == "week":
        day -= dt.timedelta(days=day.weekday())
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


@pytest.mark.parametrize(("zone_name", "day"), CASES)
@pytest.mark.parametrize("interval", ["minute", "hour", "day", "week"])
def test_every_instant_falls_in_a_listed_bucket_that_starts_where_the_zone_says(
    store: Store, zone_name: str, day: str, interval: str
) -> None:
    zone = ZoneInfo(zone_name)
    local = dt.date.fromisoformat(day)
    start = dt.datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(dt.UTC)
    start -= dt.timedelta(hours=3, minutes=7)
    span = dt.timedelta(hours=6) if interval == "minute" else dt.timedelta(days=9)
    starts = buckets.bucket_starts(store, start, start + span, interval, zone)
    assert starts == sorted(set(starts)) and starts[0] <= start < starts[1]
    sql = Sql(store.db)
    bucket = buckets.bucket_sql(interval, sql.bind(zone_name, "String"))
    rows = store.rows(
        f"SELECT toUnixTimestamp(t), toUnixTimestamp({bucket('t')}) FROM (SELECT "
        f"toDateTime({sql.bind(int(start.timestamp()), 'UInt32')}, 'UTC') + number * 60 AS t "
        f"FROM numbers({int(span.total_seconds()) // 60}))",
        sql.params,
    )
    for moment, bucket_start in rows:
        instant = dt.datetime.fromtimestamp(moment, dt.UTC)
        listed = starts[buckets.bucket_index(starts, instant)]
        assert listed == dt.datetime.fromtimestamp(bucket_start, dt.UTC), instant
        if zone_name != "Australia/Lord_Howe":
            assert listed == _expected_start(instant, interval, zone), instant


@pytest.mark.parametrize(("day", "hours"), [("2026-11-01", 25), ("2026-03-08", 23)])
def test_a_dst_day_has_its_own_number_of_hours(store: Store, day: str, hours: int) -> None:
    zone = ZoneInfo("America/New_York")
    local = dt.date.fromisoformat(day)
    start = dt.datetime(local.year, local.month, local.day, tzinfo=zone)
    end = start + dt.timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    starts = buckets.bucket_starts(store, start, end, "hour", zone)
    assert len(starts) == hours
    labels = [buckets.label(s, zone) for s in starts]
    if hours == 25:
        assert labels.count(f"{day}T01:00:00") == 2  # the hour that happens twice
        assert [buckets.start_label(s, zone) for s in starts[1:3]] == [
            f"{day}T01:00:00-04:00",
            f"{day}T01:00:00-05:00",
        ]
    else:
        assert f"{day}T02:00:00" not in labels  # the hour that does not happen
