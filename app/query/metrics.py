"""Overview, time series and breakdowns: the web-analytics questions.

Each function takes the store and a parsed `Query` and returns plain data for the
response. Definitions are in `app/query/sql.py: METRICS` (DESIGN §6): page views,
visitors and the error rate count events by their own time, session metrics count the
sessions that start in the period or bucket. Overview and breakdowns aggregate the
period's session population (`app/query/traffic.py`); a time series groups sessions by
the bucket of their start and takes its event counts per bucket from `traffic_slots` or
raw events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from app.query import buckets
from app.query.pages import page_rows
from app.query.params import DIMENSIONS, Query, QueryError
from app.query.sql import (
    EVENT_METRICS,
    METRICS,
    SESSION_CONSTANT,
    SESSION_RATIOS,
    SESSION_SUMS,
    Sql,
    Touched,
    device_conditions,
    device_only,
    first_open_day,
    metric_columns,
    needs_of,
    session_ratio,
    session_rows,
    touched_sessions,
)
from app.query.traffic import (
    look_up,
    population,
    series_rows,
    slot_aligned,
    slot_ceil,
    slot_floor,
)
from app.store.client import Store
from app.store.segments import midnight, split

__all__ = ["OVERVIEW_METRICS", "breakdown", "overview", "overview_by_site", "timeseries"]

OVERVIEW_METRICS = tuple(METRICS)
BREAKDOWN_METRICS = (
    "visitors",
    "sessions",
    "pageviews",
    "bounce_rate",
    "avg_session_duration_ms",
    "error_rate",
)


def _number(value: Any) -> float | int:
    if isinstance(value, float):
        return round(value, 6)
    return int(value)


def _zeros() -> dict[str, Any]:
    return dict.fromkeys(OVERVIEW_METRICS, 0)


def _overviews(store: Store, periods: list[Query]) -> list[dict[str, dict[str, Any]]]:
    """The overview metrics of each period, per site, in one statement (a site without
    a session or event in a period is missing from its answer).

    Without filters, session metrics come from the sessions that start in the period and
    event metrics from `traffic_slots`; with filters on the device alone, the same from
    the closed days by device class and raw events of the class (sql/083: the device is
    constant over a session, so its sessions and its events are one population); with
    any other filter, both from the period's session population (which finds the
    sessions crossing its edges)."""
    sql = Sql(store.db)
    by_device = device_only(periods[0])
    if periods[0].filters and not by_device:
        found = look_up(store, *periods)
        columns = metric_columns(OVERVIEW_METRICS)
        needs = needs_of(OVERVIEW_METRICS)
        parts = [
            f"SELECT {n} AS period, site_id, {columns} "
            f"FROM ({population(sql, period, needs, f)}) GROUP BY site_id"
            for n, (period, f) in enumerate(zip(periods, found, strict=True))
        ]
    else:
        span = msgspec.structs.replace(periods[0], start=min(p.start for p in periods))
        touched = touched_sessions(store, span)
        closed = first_open_day(store, touched)
        parts = [
            f"SELECT {n} AS period, "
            + _unfiltered(sql, period, touched, closed, by_device=by_device)
            for n, period in enumerate(periods)
        ]
    names, rows = store.query(" UNION ALL ".join(parts), sql.params)
    answers: list[dict[str, dict[str, Any]]] = [{} for _ in periods]
    for row in rows:
        values = dict(zip(names, row, strict=True))
        answers[values["period"]][values["site_id"]] = {
            name: _number(values[name]) for name in OVERVIEW_METRICS
        }
    return answers


def _bounds(period: Query) -> dict[str, str]:
    return {
        "from": period.start.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "to": period.end.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def overview(store: Store, query: Query, *, with_previous: bool = True) -> dict[str, Any]:
    """The period's metrics and (unless not wanted) the previous period's, with both
    periods' bounds: asked for as `from`/`to`, the previous one answers as this one's
    `previous` (a client may ask for the two apart, the numbers first)."""
    periods = [query, query.previous()] if with_previous else [query]
    answers = _overviews(store, periods)
    result = answers[0].get(query.site) or _zeros()
    if with_previous:
        result["previous"] = answers[1].get(query.site) or _zeros()
    result["period"] = _bounds(query)
    result["previous_period"] = _bounds(query.previous())
    return result


def overview_by_site(store: Store, query: Query) -> dict[str, dict[str, Any]]:
    """The overview of the period (no previous one) for every site of `query.sites`, in
    one statement: what the alert evaluator asks of many sites at once."""
    answers = _overviews(store, [query])[0]
    return {site: answers.get(site) or _zeros() for site in query.sites}


_SESSION_METRICS = tuple(m for m in METRICS if m not in EVENT_METRICS)


def session_sums(
    sql: Sql,
    period: Query,
    touched: Touched | None,
    closed_until: dt.date | None,
    bucket: Callable[[str], str],
    *,
    by_device: bool = False,
) -> str:
    """(site_id, b, n_<each of `SESSION_SUMS`>) per site and bucket of the session's start, of the
    sessions that start in the period: the closed days' 15-minute slots from
    `session_slots_closed` (app/store/closing.py), every other part of the period from
    `session_rows` (settled and open sessions). Slots of closed days serve any zone: the
    period's start and end are on quarter hours, or their minutes come from
    `session_rows`. With `by_device` (filters on the device alone), the closed slots come
    from `session_device_slots_closed` (sql/083), and `session_rows` applies the filters."""
    # The sums are named n_<sum>: an alias equal to a column it aggregates would make
    # ClickHouse read the column as the alias.
    # UInt64 like the closed slots' columns (an open session's duration is an Int64).
    sums = ", ".join(
        f"toUInt64({expression}) AS n_{name}" for name, expression in SESSION_SUMS.items()
    )
    needs = needs_of(_SESSION_METRICS)

    start_column = "toDateTime(session_start, 'UTC')"

    def from_rows(part: Query) -> str:
        rows = session_rows(sql, part, needs, touched)
        return (
            f"SELECT site_id, {bucket(start_column)} AS b, {sums} "
            f"FROM (SELECT *, 1 AS counted FROM ({rows})) GROUP BY site_id, b"
        )

    horizon = midnight(closed_until) if closed_until else None
    closed = split(slot_ceil(period.start), slot_floor(period.end), horizon).closed
    if closed is None:
        return from_rows(period)
    first, last = closed
    table, devices = "session_slots_closed", ""
    if by_device:
        table = "session_device_slots_closed"
        devices = "".join(f" AND {c}" for c in device_conditions(sql, period))
    parts = [
        f"SELECT site_id, {bucket('slot')} AS b, "
        f"{', '.join(f'sum({name}) AS n_{name}' for name in SESSION_SUMS)} "
        f"FROM {sql.table(table)} WHERE {sql.site(period)}{devices} "
        f"AND slot >= {sql.instant(first)} AND slot < {sql.instant(last)} GROUP BY site_id, b"
    ]
    for lo, hi in ((period.start, first), (last, period.end)):
        if lo < hi:
            parts.append(from_rows(msgspec.structs.replace(period, start=lo, end=hi)))
    return " UNION ALL ".join(parts)


def _unfiltered(
    sql: Sql,
    period: Query,
    touched: Touched | None,
    closed_until: dt.date | None,
    *,
    by_device: bool = False,
) -> str:
    """The columns and FROM of one period's overview without filters (or, `by_device`,
    with filters on the device alone), per site: the session metrics of the sessions
    starting in it, beside its page views, visitors and errored pages."""
    constant = lambda _: "toDateTime(0, 'UTC')"  # noqa: E731 - one bucket: the period
    sums = session_sums(sql, period, touched, closed_until, constant, by_device=by_device)
    sessions = (
        "SELECT site_id, "
        + ", ".join(f"sum(n_{name}) AS {name}" for name in SESSION_SUMS)
        + f" FROM ({sums}) GROUP BY site_id"
    )
    summed = {name: f"s.{name}" for name in SESSION_SUMS}
    ratios = ", ".join(f"{session_ratio(name, summed)} AS {name}" for name in SESSION_RATIOS)
    traffic = series_rows(
        sql,
        period,
        constant,
        None,
        use_slots=True,
        closed_until=closed_until,
        by_device=by_device,
    )
    return (
        "if(s.site_id = '', t.site_id, s.site_id) AS site_id, s.sessions AS sessions, "
        f"{ratios}, t.visitors AS visitors, t.pageviews AS pageviews, "
        "if(t.pageviews = 0, 0, t.errored / t.pageviews) AS error_rate "
        f"FROM ({sessions}) AS s FULL OUTER JOIN ({traffic}) AS t ON s.site_id = t.site_id"
    )


def _session_series(
    store: Store, period: Query, names: tuple[str, ...], starts: list[dt.datetime]
) -> list[dict[str, Any]]:
    """Session metrics per bucket of the session's start."""
    values: list[dict[str, Any]] = [{} for _ in starts]
    if not names:
        return values
    sql = Sql(store.db)
    bucket = buckets.bucket_sql(period.interval, sql.bind(period.tz, "String"))
    touched = touched_sessions(store, period)
    # Closed slots only where every bucket boundary is on a quarter hour (any zone in use).
    interior = [s for s in starts if period.start < s < period.end]
    aligned = not period.filters and slot_aligned(interior)
    closed = first_open_day(store, touched) if aligned else None
    if period.filters:
        rows = session_rows(sql, period, needs_of(names), touched)
        start_bucket = bucket("toDateTime(session_start, 'UTC')")
        text = (
            f"SELECT toUnixTimestamp({start_bucket}) AS b, "
            f"{metric_columns(names)} FROM (SELECT *, 1 AS counted FROM ({rows})) GROUP BY b"
        )
    else:
        sums = session_sums(sql, period, touched, closed, bucket)
        summed = {name: f"sum(n_{name})" for name in SESSION_SUMS}
        columns = ", ".join(
            f"{summed['sessions'] if n == 'sessions' else session_ratio(n, summed)} AS {n}"
            for n in names
        )
        text = f"SELECT toUnixTimestamp(b) AS bucket, {columns} FROM ({sums}) GROUP BY b"
    columns_found, rows_found = store.query(text, sql.params)
    for row in rows_found:
        index = buckets.bucket_index(starts, dt.datetime.fromtimestamp(row[0], dt.UTC))
        if index >= 0:
            values[index] = dict(zip(columns_found[1:], row[1:], strict=True))
    return values


def _event_series(
    store: Store, period: Query, starts: list[dt.datetime]
) -> list[tuple[int, int, int]]:
    """(page views, visitors, errored page views) per bucket of the event's own time."""
    by_session = any(f.dimension not in SESSION_CONSTANT for f in period.filters)
    found = look_up(store, period)[0] if by_session else None
    interior = [s for s in starts if period.start < s < period.end]
    use_slots = not period.filters and period.interval != "minute" and slot_aligned(interior)
    sql = Sql(store.db)
    bucket = buckets.bucket_sql(period.interval, sql.bind(period.tz, "String"))
    text = series_rows(sql, period, bucket, found, use_slots=use_slots)
    counts = [(0, 0, 0)] * len(starts)
    for epoch, pageviews, visitors, errored, _site in store.rows(text, sql.params):
        index = buckets.bucket_index(starts, dt.datetime.fromtimestamp(epoch, dt.UTC))
        if index >= 0:
            counts[index] = (int(pageviews), int(visitors), int(errored))
    return counts


def timeseries(store: Store, query: Query) -> dict[str, Any]:
    names = query.metrics or ("visitors", "sessions", "pageviews", "bounce_rate")
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise QueryError(f"metric: {unknown[0]!r} is not one of {', '.join(METRICS)}")

    def series(period: Query) -> list[dict[str, Any]]:
        zone = period.zone
        starts = buckets.bucket_starts(store, period.start, period.end, period.interval, zone)
        session_names = tuple(n for n in names if n not in EVENT_METRICS)
        sessions = _session_series(store, period, session_names, starts)
        events = (
            _event_series(store, period, starts)
            if any(n in EVENT_METRICS for n in names)
            else [(0, 0, 0)] * len(starts)
        )
        points = []
        for start, session_values, (pageviews, visitors, errored) in zip(
            starts, sessions, events, strict=True
        ):
            event_values = {
                "visitors": visitors,
                "pageviews": pageviews,
                "error_rate": errored / pageviews if pageviews else 0.0,
            }
            point: dict[str, Any] = {
                "date": buckets.label(start, zone),
                "start": buckets.start_label(start, zone),
            }
            for name in names:
                value = event_values[name] if name in EVENT_METRICS else session_values.get(name, 0)
                point[name] = _number(value)
            points.append(point)
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
            rows_sql = population(sql, period, needs, look_up(store, period)[0])
            text = (
                f"SELECT {spec.session_column} AS value, {metric_columns(names)} "
                f"FROM ({rows_sql}) GROUP BY value "
                f"ORDER BY visitors DESC, value LIMIT {sql.bind(period.limit, 'UInt32')} "
                f"OFFSET {sql.bind(period.offset, 'UInt32')}"
            )
        else:
            # Page views by page (route): the pages rollup and raw edge days, or with
            # filters the raw page views of the filtered sessions (app/query/pages.py).
            by_session = any(f.dimension not in SESSION_CONSTANT for f in period.filters)
            found = look_up(store, period)[0] if by_session else None
            text = page_rows(sql, period, dimension, found)
        columns, rows = store.query(text, sql.params)
        return [
            {"value": row[0], **{n: _number(v) for n, v in zip(columns[1:], row[1:], strict=True)}}
            for row in rows
        ]

    result: dict[str, Any] = {"dimension": dimension, "results": rows_for(query)}
    if query.compare:
        result["previous"] = rows_for(query.previous())
    return result
