"""Event-time traffic: page views, visitors and errored page views of a period or bucket.

DESIGN §6 "Periods and buckets": an event count belongs to the bucket of the event's own
time, a session metric to the bucket in which the session starts, and visitors are the
distinct visitors with any event in the bucket — in any IANA zone. Sessions that cross a
period's edge are what makes the two differ, so this module finds them.

Overview and breakdowns read a *population*: one row per session that starts in the
period (counted in session metrics when it has a page view) plus one per session that
starts outside it but has an event in it (a crossing session, found in `events` by
`session_start` outside the period; a min-max index on `session_start` keeps that scan to
the edge days). Visitors are the distinct visitors of the population. A session's page
views in the period are its page views, corrected by the few whose time and session
start fall on different sides of an edge (`_edge_counts`); errored page views are the
distinct pages with an error event in the period. Filters select sessions (the query
API's definition), so a filter on, say, the entry page also selects crossing sessions by
their entry page.

A time series has too many crossings for that (every hour boundary is crossed), so its
event counts come from `traffic_slots` (sql/030: 15-minute slots, states of visitors and
errored page views) when every bucket boundary falls on a quarter hour — true of every
zone in use today — and from raw events otherwise, with raw events for a period's edges
that are not on a quarter hour; with filters, from raw events of the matching sessions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import msgspec

from app.query.params import DIMENSIONS, Query
from app.query.sql import (
    SESSION_CONSTANT,
    Sql,
    Touched,
    filter_condition,
    session_rows,
    touched_sessions,
)
from app.store.client import Store

__all__ = [
    "MAX_BOUND_CROSSING",
    "SLOT",
    "Crossing",
    "Sessions",
    "event_conditions",
    "look_up",
    "population",
    "series_rows",
]

SLOT = dt.timedelta(minutes=15)
#: Beyond this many crossing sessions the queries find them with a subquery.
MAX_BOUND_CROSSING = 20_000


class Crossing(msgspec.Struct, frozen=True):
    """Sessions with an event in a period that start outside it: (key, start) pairs, and
    the span of their starts; `overflow` when there were too many to bind."""

    sessions: tuple[tuple[int, dt.datetime], ...]
    first: dt.datetime | None
    last: dt.datetime | None
    overflow: bool = False


class Sessions(msgspec.Struct, frozen=True):
    """What a query looks up before it runs: the crossing sessions of its period, and the
    sessions touched since the last settling run over the span they make."""

    crossing: Crossing
    touched: Touched | None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _crossing_where(sql: Sql, query: Query) -> str:
    start, end = sql.instant(query.start), sql.instant(query.end)
    return (
        f"site_id = {sql.bind(query.site, 'String')} AND ts >= {start} AND ts < {end} "
        f"AND (session_start < {start} OR session_start >= {end})"
    )


def crossing_sessions(store: Store, query: Query) -> Crossing:
    sql = Sql(store.db)
    text = (
        "SELECT count(), min(session_start), max(session_start), "
        f"groupArray({MAX_BOUND_CROSSING + 1})((key, session_start)) FROM ("
        "SELECT DISTINCT cityHash64(sid, session_seq) AS key, session_start "
        f"FROM {sql.table('events')} WHERE {_crossing_where(sql, query)})"
    )
    count, first, last, pairs = store.rows(text, sql.params)[0]
    if not count:
        return Crossing((), None, None)
    return Crossing(
        tuple((int(key), _utc(start)) for key, start in pairs),
        _utc(first),
        _utc(last),
        overflow=count > MAX_BOUND_CROSSING,
    )


def look_up(store: Store, *queries: Query) -> list[Sessions]:
    """The crossing sessions of each query's period, and the sessions touched since the
    last settling run over everything those sessions and periods span."""
    crossings = [crossing_sessions(store, q) for q in queries]
    starts = [q.start for q in queries] + [c.first for c in crossings if c.first]
    ends = [q.end for q in queries] + [
        c.last + dt.timedelta(milliseconds=1) for c in crossings if c.last
    ]
    span = msgspec.structs.replace(queries[0], start=min(starts), end=max(ends))
    touched = touched_sessions(store, span)
    return [Sessions(crossing, touched) for crossing in crossings]


def _crossing_rows(
    sql: Sql, query: Query, needs: Iterable[str], found: Sessions, *, viewless: bool
) -> str | None:
    """`session_rows` of the crossing sessions (None when there are none)."""
    crossing = found.crossing
    if crossing.first is None or crossing.last is None:
        return None
    if crossing.overflow:
        members = (
            "(session_key, session_start) IN (SELECT DISTINCT cityHash64(sid, session_seq), "
            f"session_start FROM {sql.table('events')} WHERE {_crossing_where(sql, query)})"
        )
    else:
        keys = sql.bind([key for key, _ in crossing.sessions], "Array(UInt64)")
        starts = sql.bind(
            [s.replace(tzinfo=None) for _, s in crossing.sessions], "Array(DateTime64(3, 'UTC'))"
        )
        members = (
            f"session_key IN {keys} AND (session_key, session_start) IN "
            f"(SELECT pair.1, pair.2 FROM (SELECT arrayJoin(arrayZip({keys}, {starts})) AS pair))"
        )
    span = msgspec.structs.replace(
        query, start=crossing.first, end=crossing.last + dt.timedelta(milliseconds=1)
    )
    outside = (
        f"(session_start < {sql.instant(query.start)} OR session_start >= {sql.instant(query.end)})"
    )
    return session_rows(
        sql, span, needs, found.touched, viewless=viewless, where=(outside, members)
    )


def _edge_counts(sql: Sql, query: Query) -> str:
    """Per session with events on both sides of an edge of the period — it starts outside
    the period and has an event in it, or starts in it and has an event outside it —
    keyed by `lk` (`cityHash64(session_key, session_start)`): `inside` (it starts in the
    period), `pv` (its page views on the other side of the edge: in the period for one
    starting outside, outside it for one starting in it) and `ev` (its pages with an
    error event in the period). Every other session of the period has all its events in
    it. The scans are narrowed by the sort key and the `session_start` index to the days
    at the edges; the errors in the period of the sessions starting in it come from the
    period's error events of those sessions only."""
    site = sql.bind(query.site, "String")
    start, end = sql.instant(query.start), sql.instant(query.end)
    inside = f"ts >= {start} AND ts < {end}"
    starts_inside = f"session_start >= {start} AND session_start < {end}"
    events = sql.table("events")
    key = "cityHash64(sid, session_seq) AS session_key, session_start"
    columns = f"{key}, type, pid, {inside} AS in_period"
    crossing_in = f"SELECT {columns} FROM {events} WHERE site_id = {site} AND {inside} " + (
        f"AND NOT ({starts_inside})"
    )
    out_side = (
        f"SELECT {columns} FROM {events} WHERE site_id = {site} AND NOT ({inside}) "
        f"AND {starts_inside}"
    )
    errors_in = (
        f"SELECT {columns} FROM {events} WHERE site_id = {site} AND type = 'error' "
        f"AND {inside} AND {starts_inside} AND (cityHash64(sid, session_seq), session_start) "
        f"IN (SELECT session_key, session_start FROM ({out_side}))"
    )
    return (
        "SELECT cityHash64(session_key, session_start) AS lk, "
        f"session_start >= {start} AND session_start < {end} AS inside, "
        "countIf(type = 'pageview' AND in_period != inside) AS pv, "
        "uniqExactIf(pid, type = 'error' AND in_period) AS ev "
        f"FROM ({crossing_in} UNION ALL {out_side} UNION ALL {errors_in}) "
        "GROUP BY session_key, session_start"
    )


_POPULATION_COLUMNS = ("error_pages", "visitor_id", "views")


def population(sql: Sql, query: Query, needs: Iterable[str], found: Sessions) -> str:
    """One row per session with an event in the period that passes the filters: the
    session columns `needs` and `visitor_id`, `counted` (it starts in the period and has a
    page view: a session of session metrics), `pv` (its page views in the period) and `ev`
    (its pages with an error event in the period)."""
    columns = sorted(set(needs) | set(_POPULATION_COLUMNS))
    listed = ", ".join(columns)
    parts = [
        f"SELECT 1 AS starts, session_key, session_start, {listed} "
        f"FROM ({session_rows(sql, query, columns, found.touched, viewless=True)})"
    ]
    crossing = _crossing_rows(sql, query, columns, found, viewless=True)
    if crossing is not None:
        parts.append(f"SELECT 0 AS starts, session_key, session_start, {listed} FROM ({crossing})")
    qualified = ", ".join(f"p.{c} AS {c}" for c in columns)
    return (
        f"SELECT {qualified}, p.starts AND p.views > 0 AS counted, "
        # Unmatched right-hand columns are 0 (join_use_nulls = 0) but typed Nullable by
        # the join: ifNull keeps the sums from turning NULL over an empty population.
        "toInt64(if(p.starts, p.views, 0)) "
        "+ ifNull(if(e.lk = 0, 0, if(e.inside, -toInt64(e.pv), toInt64(e.pv))), 0) AS pv, "
        "toUInt64(ifNull(if(e.lk = 0, if(p.starts, p.error_pages, 0), e.ev), 0)) AS ev "
        f"FROM (SELECT *, cityHash64(session_key, session_start) AS lk "
        f"FROM ({' UNION ALL '.join(parts)})) AS p "
        f"LEFT JOIN ({_edge_counts(sql, query)}) AS e ON p.lk = e.lk"
    )


def matching_sessions(sql: Sql, query: Query, found: Sessions) -> str:
    """(session_key, session_start) of every session with an event in the period that
    passes the query's session filters."""
    starting = session_rows(sql, query, (), found.touched, viewless=True)
    parts = [f"SELECT session_key, session_start FROM ({starting})"]
    crossing = _crossing_rows(sql, query, (), found, viewless=True)
    if crossing is not None:
        parts.append(f"SELECT session_key, session_start FROM ({crossing})")
    return " UNION ALL ".join(parts)


def event_conditions(sql: Sql, query: Query, found: Sessions | None) -> list[str]:
    """Conditions on raw `events` rows for the query's filters: a dimension constant within
    a session (country, device, browser, os) on the event's own column, any other through
    the set of matching sessions (`found` must then be given)."""
    conditions: list[str] = []
    by_session = False
    for spec in query.filters:
        if spec.dimension in SESSION_CONSTANT:
            conditions.append(filter_condition(sql, DIMENSIONS[spec.dimension].event_column, spec))
        else:
            by_session = True
    if by_session:
        if found is None:
            raise ValueError("filters by session need the looked-up sessions")
        conditions.append(
            "(cityHash64(sid, session_seq), session_start) IN "
            f"({matching_sessions(sql, query, found)})"
        )
    return conditions


def slot_aligned(boundaries: Iterable[dt.datetime]) -> bool:
    """Whether every instant lies on a UTC quarter hour."""
    return all(
        _utc(b).second == 0 and _utc(b).microsecond == 0 and _utc(b).minute % 15 == 0
        for b in boundaries
    )


def _slot_floor(moment: dt.datetime) -> dt.datetime:
    moment = _utc(moment)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def _slot_ceil(moment: dt.datetime) -> dt.datetime:
    floor = _slot_floor(moment)
    return floor if floor == _utc(moment) else floor + SLOT


def series_rows(
    sql: Sql,
    query: Query,
    bucket: Callable[[str], str],
    found: Sessions | None,
    *,
    use_slots: bool,
) -> str:
    """(bucket start, page views, visitors, errored page views) per bucket of the period.

    `bucket` maps a UTC `DateTime` column to the SQL of its bucket's start. With `use_slots`
    (no filters, and every bucket boundary on a quarter hour), the whole slots of the
    period come from `traffic_slots` and only its edges off a quarter hour from raw
    events; otherwise every count comes from raw events (of the matching sessions)."""
    site = sql.bind(query.site, "String")
    raw_ranges: list[tuple[dt.datetime, dt.datetime]] = [(query.start, query.end)]
    parts: list[str] = []
    if use_slots:
        first, last = _slot_ceil(query.start), _slot_floor(query.end)
        if first < last:
            raw_ranges = [r for r in ((query.start, first), (last, query.end)) if r[0] < r[1]]
            parts.append(
                f"SELECT {bucket('slot')} AS b, pageviews AS pv, visitors AS v, "
                f"error_views AS e FROM {sql.table('traffic_slots')} WHERE site_id = {site} "
                f"AND slot >= {sql.instant(first)} AND slot < {sql.instant(last)}"
            )
    if raw_ranges:
        within = " OR ".join(
            f"(ts >= {sql.instant(a)} AND ts < {sql.instant(b)})" for a, b in raw_ranges
        )
        conditions = [f"site_id = {site}", f"({within})", *event_conditions(sql, query, found)]
        raw_bucket = bucket("toDateTime(ts, 'UTC')")
        parts.append(
            f"SELECT {raw_bucket} AS b, "
            "countIf(type = 'pageview') AS pv, uniqExactState(visitor_id) AS v, "
            "uniqExactStateIf(pid, type = 'error') AS e "
            f"FROM {sql.table('events')} WHERE {' AND '.join(conditions)} GROUP BY b"
        )
    return (
        "SELECT toUnixTimestamp(b) AS bucket, sum(pv) AS pageviews, "
        "uniqExactMerge(v) AS visitors, uniqExactMerge(e) AS errored "
        f"FROM ({' UNION ALL '.join(parts)}) GROUP BY b"
    )
