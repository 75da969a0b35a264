"""Per-page numbers: page views, visitors, sessions and errored page views by page or route.

Without filters, the whole UTC days of the period come from the rollups — `pages_closed`
(plain counts) for the days closed by `app/store/pages_closer.py`, `pages_daily`
(uniqExact states, sql/015) after them — and only the partial days at its edges from raw
page-view and error events; with filters, raw events of the filtered sessions. Either way
the distinct counts are per UTC day and added up (a visitor or session is counted once
per day it viewed the page; visitor ids rotate daily, see sql/015), so every path agrees.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from app.query.params import Query
from app.query.sql import Sql, session_rows

__all__ = ["PAGE_COLUMNS", "UtcDays", "error_counts", "page_rows", "utc_days"]

#: The page dimensions and their column in `events` and `pages_daily`.
PAGE_COLUMNS = {"page": "path", "route": "route"}


Range = tuple[dt.datetime, dt.datetime]


class UtcDays(msgspec.Struct, frozen=True):
    """A period cut for a daily rollup: whole UTC days [first, last) (None when there
    are none) and the raw ranges before and after them."""

    days: Range | None
    edges: tuple[Range, ...]


def utc_days(query: Query) -> UtcDays:
    """The whole UTC days of the period and its partial edge days."""
    start, end = query.start.astimezone(dt.UTC), query.end.astimezone(dt.UTC)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += dt.timedelta(days=1)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if first >= last:
        return UtcDays(None, ((start, end),))
    edges = []
    if start < first:
        edges.append((start, first))
    if last < end:
        edges.append((last, end))
    return UtcDays((first, last), tuple(edges))


_RAW_DISTINCT = (
    "uniqExactIf(visitor_id, type = 'pageview') AS v, "
    "uniqExactIf(cityHash64(sid, session_seq), type = 'pageview') AS s"
)
_MERGED_DISTINCT = "uniqExactMerge(visitors) AS v, uniqExactMerge(sessions) AS s"
_NO_DISTINCT = "toUInt64(0) AS v, toUInt64(0) AS s"


def _raw_part(
    sql: Sql, query: Query, column: str, ranges: tuple[Range, ...], *, distinct: bool
) -> str:
    """Page views and errors of the raw ranges, in one scan. Two edge ranges each lie
    within one UTC day; naming those days lets the primary key skip the others."""
    conditions = [
        f"site_id = {sql.bind(query.site, 'String')}",
        "type IN ('pageview', 'error')",
        " OR ".join(
            f"(ts >= {sql.instant(start)} AND ts < {sql.instant(end)})" for start, end in ranges
        ),
    ]
    if len(ranges) > 1:
        days = [start.astimezone(dt.UTC).date() for start, _ in ranges]
        conditions.append(f"toDate(ts) IN {sql.bind(days, 'Array(Date)')}")
    if query.filters:
        conditions.append(
            "cityHash64(sid, session_seq) IN "
            f"(SELECT session_key FROM ({session_rows(sql, query)}))"
        )
    return (
        f"SELECT {column} AS value, toDate(ts) AS day, countIf(type = 'pageview') AS pv, "
        f"{_RAW_DISTINCT if distinct else _NO_DISTINCT}, uniqExactIf(pid, type = 'error') AS e "
        f"FROM {sql.table('events')} WHERE {' AND '.join(f'({c})' for c in conditions)} "
        "GROUP BY value, day"
    )


def _rollup_parts(
    sql: Sql, query: Query, column: str, days_range: Range, *, distinct: bool
) -> list[str]:
    """Closed days as plain counts from `pages_closed`, later ones merged from
    `pages_daily` (the horizon is the day after the last closed one)."""
    site = sql.bind(query.site, "String")
    first, last = days_range
    days = f"day >= toDate({sql.instant(first)}) AND day < toDate({sql.instant(last)})"
    horizon = f"(SELECT max(day) + 1 FROM {sql.table('pages_closed_days')})"
    closed = (
        f"SELECT {column} AS value, day, pageviews AS pv, "
        f"{'visitors AS v, sessions AS s' if distinct else _NO_DISTINCT}, "
        f"error_views AS e FROM {sql.table('pages_closed')} "
        f"WHERE site_id = {site} AND {days} AND day < {horizon}"
    )
    open_ = (
        f"SELECT {column} AS value, day, sum(pageviews) AS pv, "
        f"{_MERGED_DISTINCT if distinct else _NO_DISTINCT}, uniqExactMerge(error_views) AS e "
        f"FROM {sql.table('pages_daily')} WHERE site_id = {site} AND {days} "
        f"AND day >= {horizon} GROUP BY value, day"
    )
    return [closed, open_]


def _sources(sql: Sql, query: Query, column: str, *, distinct: bool = True) -> str:
    """(value, day, pv, v, s, e) rows of the period: raw ranges and rollups."""
    cut = UtcDays(None, ((query.start, query.end),)) if query.filters else utc_days(query)
    parts = [_raw_part(sql, query, column, cut.edges, distinct=distinct)] if cut.edges else []
    if cut.days is not None:
        parts += _rollup_parts(sql, query, column, cut.days, distinct=distinct)
    return " UNION ALL ".join(parts)


def page_rows(sql: Sql, query: Query, dimension: str) -> str:
    """SELECT of `value, visitors, pageviews, sessions, error_rate` per page (or route)
    with page views in the period, most viewed first, after `query.offset`, at most
    `query.limit`."""
    return (
        "SELECT value, sum(v) AS visitors, sum(pv) AS pageviews, sum(s) AS sessions, "
        "if(pageviews = 0, 0, sum(e) / pageviews) AS error_rate "
        f"FROM ({_sources(sql, query, PAGE_COLUMNS[dimension])}) "
        "GROUP BY value HAVING pageviews > 0 ORDER BY pageviews DESC, value "
        f"LIMIT {sql.bind(query.limit, 'UInt32')} OFFSET {sql.bind(query.offset, 'UInt32')}"
    )


def error_counts(sql: Sql, query: Query, dimension: str, values: list[str] | None) -> str:
    """SELECT of `value, pageviews, errored page views` for the given pages (routes; None:
    all) that have page views. Visitors and sessions are left out, and with them the
    merge of their states; the error rate is the second count over the first."""
    only = f"WHERE value IN {sql.bind(values, 'Array(String)')} " if values is not None else ""
    return (
        "SELECT value, sum(pv), sum(e) "
        f"FROM ({_sources(sql, query, PAGE_COLUMNS[dimension], distinct=False)}) "
        f"{only}GROUP BY value HAVING sum(pv) > 0"
    )
