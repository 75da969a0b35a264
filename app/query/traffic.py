"""Event-time traffic: page views, visitors and errored page views of a period or bucket.

DESIGN §6 "Periods and buckets": an event count belongs to the bucket of the event's own
time, a session metric to the bucket in which the session starts, and visitors are the
distinct visitors with any event in the bucket — in any IANA zone. Sessions that cross a
period's edge are what makes the two differ, so this module finds them.

Overview and breakdowns read a *population*: one row per session that starts in the
period (counted in session metrics when it has a page view) plus one per session that
starts outside it but has an event in it. Visitors are the distinct visitors of the
population. A session's page views and errored pages in the period are its own — except
for the few *edge sessions* with events on both sides of an edge of the period (crossing
in, or starting in it and going on past it), looked up first (`edge_sessions`: scans of
`events` by `session_start` outside the period or `ts` outside it, which the sort key and
a min-max index on `session_start` keep to the edge days) and corrected by bound values.
Filters select sessions (the query API's definition), so a filter on, say, the entry
page also selects crossing sessions by their entry page. An overview without filters
needs none of this: its session metrics count the sessions that start in the period, and
its event counts come from `traffic_slots` like a time series' (app/query/metrics.py).

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
    device_conditions,
    filter_condition,
    session_rows,
    split_closed_days,
    touched_sessions,
)
from app.store.client import Store
from app.store.segments import as_utc

__all__ = [
    "MAX_BOUND_EDGES",
    "SLOT",
    "Edge",
    "Edges",
    "Sessions",
    "event_conditions",
    "look_up",
    "population",
    "series_rows",
]

SLOT = dt.timedelta(minutes=15)
#: Beyond this many edge sessions the queries find them with a subquery.
MAX_BOUND_EDGES = 20_000


class Edge(msgspec.Struct, frozen=True):
    """A session with events on both sides of an edge of a period: it starts outside the
    period and has an event in it (crossing in), or starts in it and has an event outside
    it. `pageviews` are its page views on the other side of the edge from its start (in
    the period for one crossing in, outside it for the others), `errored` its pages with
    an error event in the period; `lk` is `cityHash64(session_key, session_start)`."""

    key: int
    start: dt.datetime
    lk: int
    inside: bool
    pageviews: int
    errored: int


class Edges(msgspec.Struct, frozen=True):
    """The edge sessions of a period (`overflow` when there were too many to bind: the
    queries then find them with a subquery)."""

    sessions: tuple[Edge, ...]
    overflow: bool = False
    #: The first start and one past the last of the sessions crossing in, if any.
    crossing_span: tuple[dt.datetime, dt.datetime] | None = None

    @property
    def crossing(self) -> tuple[Edge, ...]:
        """Those that start outside the period."""
        return tuple(e for e in self.sessions if not e.inside)


class Sessions(msgspec.Struct, frozen=True):
    """What a query looks up before it runs: the edge sessions of its period, and the
    sessions touched since the last settling run over the span they make."""

    edges: Edges
    touched: Touched | None


def _edge_sql(sql: Sql, query: Query) -> str:
    """One row per edge session of the period (the columns of `Edge`), from scans that
    the sort key and the `session_start` index keep to the days at the edges: events in
    the period of sessions starting before or after it, events before or after it of
    sessions starting in it, and the period's error events of the latter. (Every `ts`
    range names its UTC days as well: the sort key has the day, not `ts`, and ClickHouse
    narrows it by a range of `ts` alone not at all; see `Sql.ts_range`.)"""
    in_period = sql.ts_range(query.start, query.end)
    a, b = sql.instant(query.start), sql.instant(query.end)
    starts_in = f"session_start >= {a} AND session_start < {b}"
    events = sql.table("events")
    head = (
        "SELECT cityHash64(sid, session_seq) AS session_key, session_start, type, pid, "
        f"{in_period} AS in_period FROM {events} WHERE {sql.site(query)} AND"
    )
    last_day_before = sql.bind((as_utc(query.start) - dt.timedelta(microseconds=1)).date(), "Date")
    first_day_after = sql.bind(as_utc(query.end).date(), "Date")
    before = f"ts < {a} AND toDate(ts) <= {last_day_before} AND {starts_in}"
    after = f"ts >= {b} AND toDate(ts) >= {first_day_after} AND {starts_in}"
    outside = f"{head} {before} UNION ALL {head} {after}"
    scans = [
        f"{head} {in_period} AND session_start < {a}",
        f"{head} {in_period} AND session_start >= {b}",
        outside,
        f"{head} type = 'error' AND {in_period} AND {starts_in} "
        "AND (cityHash64(sid, session_seq), session_start) IN "
        f"(SELECT session_key, session_start FROM ({outside}))",
    ]
    return (
        "SELECT session_key, session_start, cityHash64(session_key, session_start) AS lk, "
        f"session_start >= {a} AND session_start < {b} AS inside, "
        "countIf(type = 'pageview' AND in_period != inside) AS pageviews, "
        "uniqExactIf(pid, type = 'error' AND in_period) AS errored "
        f"FROM ({' UNION ALL '.join(scans)}) GROUP BY session_key, session_start"
    )


def edge_sessions(store: Store, query: Query) -> Edges:
    sql = Sql(store.db)
    rows = store.rows(f"{_edge_sql(sql, query)} LIMIT {MAX_BOUND_EDGES + 1}", sql.params)
    if len(rows) > MAX_BOUND_EDGES:
        sql = Sql(store.db)
        first, last, count = store.rows(
            "SELECT min(session_start), max(session_start), count() "
            f"FROM ({_edge_sql(sql, query)}) WHERE NOT inside",
            sql.params,
        )[0]
        span = (as_utc(first), as_utc(last) + dt.timedelta(milliseconds=1)) if count else None
        return Edges((), overflow=True, crossing_span=span)
    edges = tuple(
        Edge(int(key), as_utc(start), int(lk), bool(inside), int(pageviews), int(errored))
        for key, start, lk, inside, pageviews, errored in rows
    )
    starts = [e.start for e in edges if not e.inside]
    span = (min(starts), max(starts) + dt.timedelta(milliseconds=1)) if starts else None
    return Edges(edges, crossing_span=span)


def look_up(store: Store, *queries: Query) -> list[Sessions]:
    """The edge sessions of each query's period, and the sessions touched since the last
    settling run over everything the periods and their crossing sessions span."""
    found = [edge_sessions(store, q) for q in queries]
    spans = [e.crossing_span for e in found if e.crossing_span]
    start = min([q.start for q in queries] + [s[0] for s in spans])
    end = max([q.end for q in queries] + [s[1] for s in spans])
    touched = touched_sessions(store, msgspec.structs.replace(queries[0], start=start, end=end))
    return [Sessions(edges, touched) for edges in found]


def _crossing_rows(
    sql: Sql, query: Query, needs: Iterable[str], found: Sessions, *, viewless: bool
) -> str | None:
    """`session_rows` of the sessions crossing into the period (None when there are none)."""
    edges = found.edges
    if edges.crossing_span is None:
        return None
    if edges.overflow:
        members = (
            "(session_key, session_start) IN (SELECT session_key, session_start "
            f"FROM ({_edge_sql(sql, query)}) WHERE NOT inside)"
        )
    else:
        crossing = edges.crossing
        keys = sql.bind([e.key for e in crossing], "Array(UInt64)")
        starts = sql.bind(
            [e.start.replace(tzinfo=None) for e in crossing], "Array(DateTime64(3, 'UTC'))"
        )
        members = (
            f"session_key IN {keys} AND (session_key, session_start) IN "
            f"(SELECT pair.1, pair.2 FROM (SELECT arrayJoin(arrayZip({keys}, {starts})) AS pair))"
        )
    first, last = edges.crossing_span
    span = msgspec.structs.replace(query, start=first, end=last)
    outside = (
        f"(session_start < {sql.instant(query.start)} OR session_start >= {sql.instant(query.end)})"
    )
    return session_rows(
        sql, span, needs, found.touched, viewless=viewless, where=(outside, members)
    )


_POPULATION_COLUMNS = ("error_pages", "visitor_id", "views")


def _corrected(sql: Sql, query: Query, edges: Edges) -> tuple[str, str, str]:
    """(a FROM suffix, `pv`, `ev`): the expressions of a population row's page views and
    errored pages in the period, from its `starts`, `views` and `error_pages` corrected
    for the edge sessions — bound values looked up by `transform`, or a join with the
    edge sessions' subquery when there were too many to bind."""
    base_pv = "toInt64(if(p.starts, p.views, 0))"
    base_ev = "toUInt64(if(p.starts, p.error_pages, 0))"
    if edges.overflow:
        return (
            f" LEFT JOIN ({_edge_sql(sql, query)}) AS e ON p.lk = e.lk",
            # Unmatched right-hand columns are 0 (join_use_nulls = 0) but typed Nullable
            # by the join: ifNull keeps the sums from turning NULL over no rows.
            f"{base_pv} + ifNull(if(e.lk = 0, 0, if(e.inside, -toInt64(e.pageviews), "
            "toInt64(e.pageviews))), 0)",
            f"toUInt64(ifNull(if(e.lk = 0, {base_ev}, e.errored), 0))",
        )
    if not edges.sessions:
        return "", base_pv, base_ev
    lks = sql.bind([e.lk for e in edges.sessions], "Array(UInt64)")
    deltas = sql.bind(
        [-e.pageviews if e.inside else e.pageviews for e in edges.sessions], "Array(Int64)"
    )
    errored = sql.bind([e.errored for e in edges.sessions], "Array(UInt64)")
    return (
        "",
        f"{base_pv} + transform(p.lk, {lks}, {deltas}, toInt64(0))",
        f"transform(p.lk, {lks}, {errored}, {base_ev})",
    )


def population(sql: Sql, query: Query, needs: Iterable[str], found: Sessions) -> str:
    """One row per session with an event in the period that passes the filters: its
    `site_id`, the session columns `needs` and `visitor_id`, `counted` (it starts in the
    period and has a page view: a session of session metrics), `pv` (its page views in
    the period) and `ev` (its pages with an error event in the period)."""
    columns = sorted(set(needs) | set(_POPULATION_COLUMNS))
    listed = ", ".join(columns)
    parts = [
        f"SELECT 1 AS starts, site_id, session_key, session_start, {listed} "
        f"FROM ({session_rows(sql, query, columns, found.touched, viewless=True)})"
    ]
    crossing = _crossing_rows(sql, query, columns, found, viewless=True)
    if crossing is not None:
        parts.append(
            f"SELECT 0 AS starts, site_id, session_key, session_start, {listed} FROM ({crossing})"
        )
    join, pv, ev = _corrected(sql, query, found.edges)
    qualified = ", ".join(f"p.{c} AS {c}" for c in ("site_id", *columns))
    return (
        f"SELECT {qualified}, p.starts AND p.views > 0 AS counted, {pv} AS pv, {ev} AS ev "
        "FROM (SELECT *, cityHash64(session_key, session_start) AS lk "
        f"FROM ({' UNION ALL '.join(parts)})) AS p{join}"
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
        as_utc(b).second == 0 and as_utc(b).microsecond == 0 and as_utc(b).minute % 15 == 0
        for b in boundaries
    )


def slot_floor(moment: dt.datetime) -> dt.datetime:
    moment = as_utc(moment)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def slot_ceil(moment: dt.datetime) -> dt.datetime:
    floor = slot_floor(moment)
    return floor if floor == as_utc(moment) else floor + SLOT


def series_rows(
    sql: Sql,
    query: Query,
    bucket: Callable[[str], str],
    found: Sessions | None,
    *,
    use_slots: bool,
    closed_until: dt.date | None = None,
    by_device: bool = False,
) -> str:
    """(bucket start, page views, visitors, errored page views, site) per bucket of the
    period and site.

    `bucket` maps a UTC `DateTime` column to the SQL of its bucket's start. With `use_slots`
    (no filters, and every bucket boundary on a quarter hour), the whole slots of the
    period come from `traffic_slots` — and with `closed_until` (the closed horizon, for
    buckets that hold whole UTC days) its whole closed days from `traffic_days_closed` —
    and only its edges off a quarter hour from raw events; otherwise every count comes
    from raw events (of the matching sessions). With `by_device` as well (filters on the
    device alone), the slots and closed days are those of the filters' device classes
    (`traffic_device_slots`, `traffic_device_days_closed`: sql/083)."""
    site = sql.site(query)
    raw_ranges: list[tuple[dt.datetime, dt.datetime]] = [(query.start, query.end)]
    parts: list[str] = []
    slots, days, devices = "traffic_slots", "traffic_days_closed", ""
    if by_device:
        slots, days = "traffic_device_slots", "traffic_device_days_closed"
        devices = "".join(f" AND {c}" for c in device_conditions(sql, query))
    if use_slots:
        first, last = slot_ceil(query.start), slot_floor(query.end)
        if first < last:
            raw_ranges = [r for r in ((query.start, first), (last, query.end)) if r[0] < r[1]]
        closed, slot_ranges = split_closed_days(first, last, closed_until)
        if closed is not None:
            day_first, day_last = closed
            day_column = "toDateTime(day, 'UTC')"
            parts.append(
                f"SELECT site_id, {bucket(day_column)} AS b, pageviews AS pv, "
                f"visitors AS v, error_views AS e FROM {sql.table(days)} "
                f"WHERE {site}{devices} AND day >= toDate({sql.instant(day_first)}) "
                f"AND day < toDate({sql.instant(day_last)})"
            )
        for slot_first, slot_last in slot_ranges:
            parts.append(
                f"SELECT site_id, {bucket('slot')} AS b, pageviews AS pv, visitors AS v, "
                f"error_views AS e FROM {sql.table(slots)} WHERE {site}{devices} "
                f"AND slot >= {sql.instant(slot_first)} AND slot < {sql.instant(slot_last)}"
            )
    if raw_ranges:
        within = " OR ".join(sql.ts_range(a, b) for a, b in raw_ranges)
        conditions = [site, f"({within})", *event_conditions(sql, query, found)]
        raw_bucket = bucket("toDateTime(ts, 'UTC')")
        parts.append(
            f"SELECT site_id, {raw_bucket} AS b, "
            "countIf(type = 'pageview') AS pv, uniqExactState(visitor_id) AS v, "
            "uniqExactStateIf(pid, type = 'error') AS e "
            f"FROM {sql.table('events')} WHERE {' AND '.join(conditions)} GROUP BY site_id, b"
        )
    return (
        "SELECT toUnixTimestamp(b) AS bucket, sum(pv) AS pageviews, "
        "uniqExactMerge(v) AS visitors, uniqExactMerge(e) AS errored, site_id "
        f"FROM ({' UNION ALL '.join(parts)}) GROUP BY site_id, b"
    )
