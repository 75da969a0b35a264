"""Per-page numbers: page views, visitors, sessions and errored page views by page or route.

Page views count by their own time; visitors, sessions and errored page views are
distinct over the whole period (DESIGN §6). Without filters, the whole UTC days of the
period come from `pages_days` (sql/081: page views and uniqExact states per UTC day) and
only the parts of days at its edges — in any time zone — from raw page-view and error
events; with filters, raw events of the matching sessions. The pages shown are chosen
by their page views first (plain sums), and only their states are merged — and read:
`pages_days` is sorted by page, so its primary key finds the rows of the pages shown.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from app.query.params import Query
from app.query.sql import Sql
from app.query.traffic import Sessions, event_conditions
from app.store.segments import whole_days

__all__ = ["PAGE_COLUMNS", "UtcDays", "error_counts", "page_rows", "utc_days"]

#: The page dimensions and their column in `events` and `pages_days`.
PAGE_COLUMNS = {"page": "path", "route": "route"}


Range = tuple[dt.datetime, dt.datetime]


class UtcDays(msgspec.Struct, frozen=True):
    """A period cut for a daily rollup: whole UTC days [first, last) (None when there
    are none) and the raw ranges before and after them."""

    days: Range | None
    edges: tuple[Range, ...]


def utc_days(query: Query) -> UtcDays:
    """The whole UTC days of the period and its partial edge days."""
    days, edges = whole_days(query.start, query.end)
    return UtcDays(days, edges)


def _raw_part(
    sql: Sql,
    query: Query,
    column: str,
    ranges: tuple[Range, ...],
    found: Sessions | None,
    *,
    states: bool,
    only: str,
) -> str:
    """Page views (and with `states` the distinct states) per value of the raw ranges, in
    one scan. Two edge ranges each lie within one UTC day; naming those days lets the
    primary key skip the others."""
    conditions = [
        sql.site(query),
        "type IN ('pageview', 'error')",
        " OR ".join(
            f"(ts >= {sql.instant(start)} AND ts < {sql.instant(end)})" for start, end in ranges
        ),
    ]
    if len(ranges) > 1:
        days = [start.astimezone(dt.UTC).date() for start, _ in ranges]
        conditions.append(f"toDate(ts) IN {sql.bind(days, 'Array(Date)')}")
    conditions += event_conditions(sql, query, found)
    if only:
        conditions.append(f"{column} IN ({only})")
    return (
        f"SELECT {column} AS value, countIf(type = 'pageview') AS pv"
        f"{_RAW_STATES if states else ''} FROM {sql.table('events')} "
        f"WHERE {' AND '.join(f'({c})' for c in conditions)} GROUP BY value"
    )


_RAW_STATES = (
    ", uniqExactStateIf(visitor_id, type = 'pageview') AS v"
    ", uniqExactStateIf(cityHash64(sid, session_seq), type = 'pageview') AS s"
    ", uniqExactStateIf(pid, type = 'error') AS e"
)


def _rollup_part(
    sql: Sql, query: Query, column: str, days: Range, *, states: bool, only: str
) -> str:
    """The whole UTC days [first, last) of `pages_days`."""
    first, last = days
    conditions = [
        sql.site(query),
        f"day >= toDate({sql.instant(first)})",
        f"day < toDate({sql.instant(last)})",
    ]
    if only:
        conditions.append(f"{column} IN ({only})")
    where = " AND ".join(conditions)
    table = sql.table("pages_days")
    if states:
        return (
            f"SELECT {column} AS value, pageviews AS pv, visitors AS v, sessions AS s, "
            f"error_views AS e FROM {table} WHERE {where}"
        )
    return (
        f"SELECT {column} AS value, sum(pageviews) AS pv FROM {table} WHERE {where} GROUP BY value"
    )


def _sources(
    sql: Sql,
    query: Query,
    column: str,
    found: Sessions | None,
    *,
    states: bool,
    only: str = "",
) -> str:
    """(value, pv[, v, s, e]) rows of the period: `pages_days` for its whole UTC days and
    raw events for the rest, or raw events of the matching sessions (`found`) with
    filters; restricted to the values of the SELECT `only` when given."""
    cut = UtcDays(None, ((query.start, query.end),)) if query.filters else utc_days(query)
    parts = []
    if cut.edges:
        parts.append(_raw_part(sql, query, column, cut.edges, found, states=states, only=only))
    if cut.days is not None:
        parts.append(_rollup_part(sql, query, column, cut.days, states=states, only=only))
    return " UNION ALL ".join(parts)


def _top(sql: Sql, query: Query, column: str, found: Sessions | None) -> str:
    """The values with the most page views in the period (after `query.offset`, at most
    `query.limit`), from plain sums."""
    return (
        f"SELECT value FROM ({_sources(sql, query, column, found, states=False)}) "
        "GROUP BY value HAVING sum(pv) > 0 ORDER BY sum(pv) DESC, value "
        f"LIMIT {sql.bind(query.limit, 'UInt32')} OFFSET {sql.bind(query.offset, 'UInt32')}"
    )


def page_rows(sql: Sql, query: Query, dimension: str, found: Sessions | None = None) -> str:
    """SELECT of `value, visitors, pageviews, sessions, error_rate` per page (or route)
    with page views in the period, most viewed first, after `query.offset`, at most
    `query.limit`; `found` are the query's looked-up sessions when it filters by one."""
    column = PAGE_COLUMNS[dimension]
    only = _top(sql, query, column, found)
    return (
        "SELECT value, uniqExactMerge(v) AS visitors, sum(pv) AS pageviews, "
        "uniqExactMerge(s) AS sessions, "
        "if(pageviews = 0, 0, uniqExactMerge(e) / pageviews) AS error_rate "
        f"FROM ({_sources(sql, query, column, found, states=True, only=only)}) "
        "GROUP BY value ORDER BY pageviews DESC, value"
    )


def error_counts(sql: Sql, query: Query, dimension: str, values: list[str]) -> str:
    """SELECT of `value, pageviews, errored page views` for the given pages (routes) that
    have page views; the error rate is the second count over the first. (Unfiltered: a
    page's error rate is the page's, whatever other filters the caller has.)"""
    column = PAGE_COLUMNS[dimension]
    only = f"SELECT arrayJoin({sql.bind(values, 'Array(String)')})"
    return (
        "SELECT value, sum(pv), uniqExactMerge(e) "
        f"FROM ({_sources(sql, query, column, None, states=True, only=only)}) "
        "GROUP BY value HAVING sum(pv) > 0"
    )
