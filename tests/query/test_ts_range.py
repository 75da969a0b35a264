"""`Sql.ts_range`: the events of a half-open range of event time, exactly, by a condition
that the sort key of `events` (site, UTC day, …) can narrow."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app.query.sql import Sql
from app.store.client import Store

UTC = dt.UTC
KOLKATA = ZoneInfo("Asia/Kolkata")


def _instants(around: list[dt.datetime]) -> list[dt.datetime]:
    """Each instant, a millisecond before and after it, and the UTC midnights nearby."""
    found: set[dt.datetime] = set()
    for moment in around:
        utc = moment.astimezone(UTC)
        for delta_ms in (-1, 0, 1):
            found.add(utc + dt.timedelta(milliseconds=delta_ms))
        midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
        for days in (-1, 0, 1):
            found.add(midnight + dt.timedelta(days=days))
            found.add(midnight + dt.timedelta(days=days, milliseconds=-1))
    return sorted(found)


RANGES = [
    # whole UTC days: the days alone
    (dt.datetime(2026, 11, 3, tzinfo=UTC), dt.datetime(2026, 11, 5, tzinfo=UTC)),
    # local days of a zone half an hour off the UTC hours
    (dt.datetime(2026, 11, 3, tzinfo=KOLKATA), dt.datetime(2026, 11, 4, tzinfo=KOLKATA)),
    # one UTC midnight inside, neither end on one
    (
        dt.datetime(2026, 11, 3, 22, 15, 0, 1000, tzinfo=UTC),
        dt.datetime(2026, 11, 4, 0, 0, 0, 1000, tzinfo=UTC),
    ),
    # within one day
    (dt.datetime(2026, 11, 3, 9, 0, tzinfo=UTC), dt.datetime(2026, 11, 3, 9, 0, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_a_range_holds_exactly_the_events_from_its_start_to_before_its_end(
    store: Store, start: dt.datetime, end: dt.datetime
) -> None:
    instants = _instants([start, end])
    values = ", ".join(
        f"('s', toDateTime64('{t.replace(tzinfo=None).isoformat(sep=' ')}', 3, 'UTC'), 'pageview')"
        for t in instants
    )
    store.command(f"INSERT INTO {store.table('events')} (site_id, ts, type) VALUES {values}")
    sql = Sql(store.db)
    rows = store.rows(
        f"SELECT ts FROM {sql.table('events')} WHERE site_id = 's' AND {sql.ts_range(start, end)} "
        "ORDER BY ts",
        sql.params,
    )
    got = [row[0].replace(tzinfo=UTC) if row[0].tzinfo is None else row[0] for row in rows]
    assert got == [t for t in instants if start <= t < end]
    assert got  # the range is not empty, so the comparison above means something


def test_the_sort_keys_day_narrows_a_range(store: Store) -> None:
    """ClickHouse maps a bare `ts` range onto the key column `ts` (fifth in the key, so it
    narrows nothing); the range must reach the key through `toDate(ts)`."""
    store.command(
        f"INSERT INTO {store.table('events')} (site_id, ts, type) "
        "VALUES ('s', toDateTime64('2026-11-03 10:00:00', 3, 'UTC'), 'pageview')"
    )
    sql = Sql(store.db)
    start = dt.datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    plan = store.rows(
        f"EXPLAIN indexes = 1 SELECT sid FROM {sql.table('events')} "
        f"WHERE site_id = 's' AND {sql.ts_range(start, start + dt.timedelta(hours=30))}",
        sql.params,
    )
    text = "\n".join(row[0] for row in plan)
    key = text[text.index("PrimaryKey") :]
    key = key[: key.index("Condition")]
    assert "toDate(ts)" in key, text
