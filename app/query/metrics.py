"""Overview, time series and breakdowns: the web-analytics questions.

Each function takes the store and a parsed `Query` and returns plain data for the
response. Session metrics come from the `sessions` rollup through `session_rows`;
definitions are in `SESSION_METRICS` (DESIGN §6).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from app.query.pages import page_rows
from app.query.params import DIMENSIONS, Query, QueryError
from app.query.sql import (
    SESSION_METRICS,
    Sql,
    needs_of,
    session_metric_columns,
    session_rows,
    touched_sessions,
)
from app.store.client import Store

__all__ = ["OVERVIEW_METRICS", "breakdown", "overview", "timeseries"]

OVERVIEW_METRICS = tuple(SESSION_METRICS)
BREAKDOWN_METRICS = (
    "visitors",
    "sessions",
    "pageviews",
    "bounce_rate",
    "avg_session_duration_ms",
    "error_rate",
)
_BUCKETS = {
    "minute": "toStartOfMinute(toTimeZone(session_start, {tz}))",
    "hour": "toStartOfHour(toTimeZone(session_start, {tz}))",
    "day": "toDateTime(toDate(toTimeZone(session_start, {tz})), {tz})",
    "week": "toDateTime(toMonday(toTimeZone(session_start, {tz})), {tz})",
}


def _number(value: Any) -> float | int:
    if isinstance(value, float):
        return round(value, 6)
    return int(value)


def overview(store: Store, query: Query) -> dict[str, Any]:
    """The period's metrics and the previous period's, in one query (two branches)."""
    previous = query.previous()
    touched = touched_sessions(store, msgspec.structs.replace(query, start=previous.start))
    sql = Sql(store.db)
    columns = session_metric_columns(OVERVIEW_METRICS)
    needs = needs_of(OVERVIEW_METRICS)
    text = " UNION ALL ".join(
        f"SELECT {label} AS current, {columns} FROM ({session_rows(sql, period, needs, touched)})"
        for label, period in (("1", query), ("0", previous))
    )
    names, rows = store.query(text, sql.params)
    found = {bool(row[0]): dict(zip(names[1:], row[1:], strict=True)) for row in rows}
    return {
        **{name: _number(found[True][name]) for name in OVERVIEW_METRICS},
        "previous": {name: _number(found[False][name]) for name in OVERVIEW_METRICS},
    }


def _bucket_starts(query: Query) -> list[dt.datetime]:
    """Every bucket start (local, naive) from the period start to its end."""
    zone = query.zone
    local_start = query.start.astimezone(zone).replace(tzinfo=None)
    local_end = query.end.astimezone(zone).replace(tzinfo=None)
    if query.interval == "minute":
        cursor, step = local_start.replace(second=0, microsecond=0), dt.timedelta(minutes=1)
    elif query.interval == "hour":
        cursor, step = local_start.replace(minute=0, second=0, microsecond=0), dt.timedelta(hours=1)
    else:
        cursor = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
        step = dt.timedelta(days=1)
        if query.interval == "week":
            cursor -= dt.timedelta(days=cursor.weekday())
            step = dt.timedelta(days=7)
    starts = []
    while cursor < local_end and len(starts) < 20_000:
        starts.append(cursor)
        cursor += step
    return starts


def timeseries(store: Store, query: Query) -> dict[str, Any]:
    names = query.metrics or ("visitors", "sessions", "pageviews", "bounce_rate")
    unknown = [m for m in names if m not in SESSION_METRICS]
    if unknown:
        raise QueryError(f"metric: {unknown[0]!r} is not one of {', '.join(SESSION_METRICS)}")

    def series(period: Query) -> list[dict[str, Any]]:
        touched = touched_sessions(store, period)
        sql = Sql(store.db)
        tz = sql.bind(period.tz, "String")
        bucket = _BUCKETS[period.interval].format(tz=tz)
        # Grouped by the bucket's start, formatted only for the result rows.
        text = (
            "SELECT formatDateTime(bucket_start, '%Y-%m-%dT%H:%i:%S') AS bucket, "
            f"{session_metric_columns(names)} "
            f"FROM ({session_rows(sql, period, needs_of(names), touched)}) "
            f"GROUP BY {bucket} AS bucket_start ORDER BY bucket_start"
        )
        columns, rows = store.query(text, sql.params)
        found = {row[0]: dict(zip(columns[1:], row[1:], strict=True)) for row in rows}
        points = []
        for start in _bucket_starts(period):
            label = start.strftime("%Y-%m-%dT%H:%M:%S")
            values = found.get(label, {})
            points.append({"date": label, **{n: _number(values.get(n, 0)) for n in names}})
        return points

    result: dict[str, Any] = {
        "interval": query.interval,
        "tz": query.tz,
        "metrics": list(names),
        "results": series(query),
    }
    if query.compare:
        result["previous"] = series(query.previous())
    return result


def breakdown(store: Store, query: Query, dimension: str) -> dict[str, Any]:
    if dimension not in DIMENSIONS:
        raise QueryError(f"dimension: {dimension!r} is not one of {', '.join(DIMENSIONS)}")
    spec = DIMENSIONS[dimension]

    def rows_for(period: Query) -> list[dict[str, Any]]:
        sql = Sql(store.db)
        if spec.session_column:
            names = BREAKDOWN_METRICS
            needs = needs_of(names) | {spec.session_column}
            rows_sql = session_rows(sql, period, needs, touched_sessions(store, period))
            text = (
                f"SELECT {spec.session_column} AS value, {session_metric_columns(names)} "
                f"FROM ({rows_sql}) GROUP BY value "
                f"ORDER BY visitors DESC, value LIMIT {sql.bind(period.limit, 'UInt32')} "
                f"OFFSET {sql.bind(period.offset, 'UInt32')}"
            )
        else:
            # Page views by page (route): the pages rollup and raw edge days, or with
            # filters the raw page views of the filtered sessions (app/query/pages.py).
            text = page_rows(sql, period, dimension)
        columns, rows = store.query(text, sql.params)
        return [
            {"value": row[0], **{n: _number(v) for n, v in zip(columns[1:], row[1:], strict=True)}}
            for row in rows
        ]

    result: dict[str, Any] = {"dimension": dimension, "results": rows_for(query)}
    if query.compare:
        result["previous"] = rows_for(query.previous())
    return result
