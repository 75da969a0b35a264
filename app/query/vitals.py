"""Web vitals: percentiles, rating shares, breakdowns, attribution, and what errors cost.

Percentiles are ClickHouse t-digests (`quantilesTDigest`), raw and rolled up alike: on a
handful of values a percentile is the nearest-rank value (p75 of 1, 2, 3, 4 is 3), on
millions it is within a fraction of a percent of the exact one, and its states merge.
Ratings use the web-vitals thresholds (DESIGN §6), stored at ingest; their shares are
exact counts. Vitals count by the time they were measured (`ts` in the period).

Without filters, a period is read from the rollups (sql/005, 017, 018) — whole weeks by
week; other whole UTC days and the whole hours of the edge days by hour for the
dimensions with few values, by day and raw for pages and routes; the minutes left from
raw events — in one query with the totals, the attribution targets and the breakdown
(percentiles only for the values shown). Its part before the current hour is merged
once per process and kept (`app/query/vitals_cache.py`): closed days never change, and
later hours are kept as long as their sample counts do not. With filters, raw vital
events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from typing import Any

import msgspec

from app.query import vitals_cache
from app.query.metrics import _bucket_starts  # the same buckets as the session series
from app.query.pages import PAGE_COLUMNS, Range, error_counts, utc_days
from app.query.params import Query, QueryError
from app.query.sql import Sql, session_rows
from app.store.client import Store

__all__ = ["VITAL_NAMES", "vitals", "vitals_timeseries"]

VITAL_NAMES = ("LCP", "INP", "CLS", "FCP", "TTFB", "FID")
LEVELS = (0.5, 0.75, 0.9, 0.95, 0.99)
_ROLLUP_DIMENSIONS = {
    "page": "path",
    "route": "route",
    "device": "device",
    "browser": "browser",
    "country": "country",
    "target": "target",
}
BY = ("page", "route", "device", "browser", "country")
#: Dimensions with few values, rolled up by hour as well (sql/018).
_HOURLY_DIMENSIONS = frozenset({"", "device", "browser", "country", "target"})


def _summary(
    samples: int, good: int, poor: int, quantiles: list[float], value_kind: str
) -> dict[str, Any]:
    digits = 4 if value_kind == "CLS" else 1
    shares = {
        "good": round(good / samples, 6) if samples else 0.0,
        "needs_improvement": round((samples - good - poor) / samples, 6) if samples else 0.0,
        "poor": round(poor / samples, 6) if samples else 0.0,
    }
    percentiles = {
        f"p{round(level * 100)}": round(float(v), digits) if samples else None
        for level, v in zip(LEVELS, quantiles or [0.0] * len(LEVELS), strict=True)
    }
    return {"samples": int(samples), **percentiles, **shares}


def _conditions(
    sql: Sql, query: Query, names: tuple[str, ...], *, ranges_condition: str
) -> list[str]:
    """WHERE conditions over raw vital events: the site, the names, the time ranges and
    the filters."""
    conditions = [
        f"site_id = {sql.bind(query.site, 'String')}",
        "type = 'vital'",
        f"name IN {sql.bind(list(names), 'Array(String)')}",
        f"({ranges_condition})",
    ]
    session_filters = []
    for spec in query.filters:
        column = _ROLLUP_DIMENSIONS.get(spec.dimension)
        if column is None:
            session_filters.append(spec)
            continue
        parts = []
        if spec.values:
            parts.append(f"{column} IN {sql.bind(list(spec.values), 'Array(String)')}")
        parts += [f"startsWith({column}, {sql.bind(p, 'String')})" for p in spec.prefixes]
        condition = "(" + " OR ".join(parts) + ")"
        conditions.append(f"NOT {condition}" if spec.negate else condition)
    if session_filters:
        only_sessions = Query(
            site=query.site,
            start=query.start,
            end=query.end,
            tz=query.tz,
            filters=tuple(session_filters),
        )
        conditions.append(
            f"cityHash64(sid, session_seq) IN (SELECT session_key FROM "
            f"({session_rows(sql, only_sessions)}))"
        )
    return conditions


_LEVELS_SQL = ", ".join(str(level) for level in LEVELS)
_STATE = f"quantilesTDigestState({_LEVELS_SQL})(value) AS q"
_NO_STATE = "0 AS q"


def _raw_part(
    sql: Sql,
    query: Query,
    names: tuple[str, ...],
    dims: tuple[str, ...],
    ranges: tuple[Range, ...],
    *,
    states: bool,
) -> str:
    """(dim, name, dim_value, n, g, p, q) of raw vital events in `ranges`, one row per
    dimension value, as the rollup's view makes them (with the filters, if any)."""
    pairs = ", ".join(
        f"({sql.bind(dim, 'String')}, toString({_ROLLUP_DIMENSIONS[dim]}))" if dim else "('', '')"
        for dim in dims
    )
    within = " OR ".join(
        f"(ts >= {sql.instant(start)} AND ts < {sql.instant(end)})" for start, end in ranges
    )
    conditions = _conditions(sql, query, names, ranges_condition=within)
    if len(ranges) > 1:  # edge ranges lie within one UTC day each: let the key skip the rest
        days = [start.astimezone(dt.UTC).date() for start, _ in ranges]
        conditions.append(f"toDate(ts) IN {sql.bind(days, 'Array(Date)')}")
    return (
        "SELECT pair.1 AS dim, name, pair.2 AS dim_value, count() AS n, "
        "countIf(rating = 'good') AS g, countIf(rating = 'poor') AS p, "
        f"{_STATE if states else _NO_STATE} FROM {sql.table('events')} "
        f"ARRAY JOIN [{pairs}] AS pair WHERE {' AND '.join(conditions)} "
        "GROUP BY dim, name, dim_value"
    )


def whole_weeks(days: Range) -> tuple[Range | None, tuple[Range, ...]]:
    """The Monday-to-Sunday weeks inside whole UTC days [first, last), and the days
    before and after them."""
    first, last = days
    week_start = first + dt.timedelta(days=(7 - first.weekday()) % 7)
    week_end = last - dt.timedelta(days=last.weekday())
    if week_start >= week_end:
        return None, (days,)
    rest = tuple(r for r in ((first, week_start), (week_end, last)) if r[0] < r[1])
    return (week_start, week_end), rest


def _rollup_part(
    sql: Sql,
    query: Query,
    names: tuple[str, ...],
    dims: tuple[str, ...],
    table: str,
    ranges: tuple[Range, ...],
    *,
    states: bool,
) -> str:
    """Rows of one vitals rollup (`vitals_weekly`, `vitals_daily` or `vitals_hourly`)
    whose time key lies in `ranges`."""
    key = {"vitals_weekly": "week", "vitals_daily": "day", "vitals_hourly": "hour"}[table]

    def bound(moment: dt.datetime) -> str:
        value = sql.instant(moment)
        return value if key == "hour" else f"toDate({value})"

    within = " OR ".join(f"({key} >= {bound(a)} AND {key} < {bound(b)})" for a, b in ranges)
    return (
        "SELECT dim, name, dim_value, samples AS n, good AS g, poor AS p"
        f", {'quantiles AS q' if states else _NO_STATE} FROM {sql.table(table)} "
        f"WHERE site_id = {sql.bind(query.site, 'String')} "
        f"AND name IN {sql.bind(list(names), 'Array(String)')} "
        f"AND dim IN {sql.bind(list(dims), 'Array(String)')} AND ({within})"
    )


def whole_hours(ranges: tuple[Range, ...]) -> tuple[tuple[Range, ...], tuple[Range, ...]]:
    """The whole UTC hours inside `ranges`, and the minutes around them."""
    hours: list[Range] = []
    rest: list[Range] = []
    for start, end in ranges:
        first = start.replace(minute=0, second=0, microsecond=0)
        if first < start:
            first += dt.timedelta(hours=1)
        last = end.replace(minute=0, second=0, microsecond=0)
        if first >= last:
            rest.append((start, end))
            continue
        hours.append((first, last))
        rest += [r for r in ((start, first), (last, end)) if r[0] < r[1]]
    return tuple(hours), tuple(rest)


def _sources(
    sql: Sql,
    query: Query,
    names: tuple[str, ...],
    dims: tuple[str, ...],
    *,
    states: bool,
) -> str:
    """Vital rows of the period for `dims` — (dim, name, dim_value, n, g, p, q), q the
    t-digest state or, without `states`, 0.

    Without filters: whole weeks from `vitals_weekly`; the other whole UTC days, and the
    whole hours of the partial days at the edges, from `vitals_hourly` for the dimensions
    it has (few values each) and from `vitals_daily` and raw events for pages and routes;
    the minutes around the hours from raw events. With filters: raw events.
    """
    if query.filters:
        return _raw_part(sql, query, names, dims, ((query.start, query.end),), states=states)
    cut = utc_days(query)
    weeks, days = whole_weeks(cut.days) if cut.days else (None, ())
    hours, minutes = whole_hours(cut.edges)
    hourly = tuple(d for d in dims if d in _HOURLY_DIMENSIONS)
    other = tuple(d for d in dims if d not in _HOURLY_DIMENSIONS)
    parts = []
    if weeks:
        parts.append(
            _rollup_part(sql, query, names, dims, "vitals_weekly", (weeks,), states=states)
        )
    if hourly and days + hours:
        parts.append(
            _rollup_part(sql, query, names, hourly, "vitals_hourly", days + hours, states=states)
        )
    if hourly and minutes:
        parts.append(_raw_part(sql, query, names, hourly, minutes, states=states))
    if other and days:
        parts.append(_rollup_part(sql, query, names, other, "vitals_daily", days, states=states))
    if other and cut.edges:
        parts.append(_raw_part(sql, query, names, other, cut.edges, states=states))
    return " UNION ALL ".join(parts)


def _cached_rows(table: str, *, states: bool) -> str:
    return (
        "SELECT dim, name, dim_value, samples AS n, good AS g, poor AS p, "
        f"{'quantiles AS q' if states else _NO_STATE} FROM {table}"
    )


def _fill(
    db: str, query: Query, names: tuple[str, ...], dims: tuple[str, ...], prior: str | None
) -> Callable[[str], tuple[str, dict[str, Any]]]:
    """The `INSERT … SELECT` of the part `query` and the rows of the `prior` cached table
    (the part before it, if any), merged once per value of `dims`."""

    def insert(table: str) -> tuple[str, dict[str, Any]]:
        sql = Sql(db)
        parts = [_cached_rows(prior, states=True)] if prior else []
        parts.append(_sources(sql, query, names, dims, states=True))
        text = (
            f"INSERT INTO {table} SELECT dim, name, dim_value, sum(n), sum(g), sum(p), "
            f"quantilesTDigestMergeState({_LEVELS_SQL})(q) FROM ({' UNION ALL '.join(parts)}) "
            "GROUP BY dim, name, dim_value"
        )
        return text, sql.params

    return insert


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _segments(
    query: Query, known: vitals_cache.Settled, now: dt.datetime
) -> tuple[list[tuple[Query, Hashable]], Query | None]:
    """The cacheable parts of the period, each with its cache key — the closed days
    (before the horizon), then the hours after it up to the current one (or the
    period's end), keyed also by each hour's samples and cached with the closed days —
    and the rest of the period, read anew (None when there is none)."""
    start, end = query.start.astimezone(dt.UTC), query.end.astimezone(dt.UTC)
    horizon = dt.datetime.combine(known.horizon, dt.time(), dt.UTC)
    settled_from = max(start, horizon)
    live_from = max(settled_from, min(end, _hour(now)))
    key: tuple[Any, ...] = (known.recorded, query.site, query.metrics, query.by)
    segments: list[tuple[Query, Hashable]] = []
    if start < horizon:
        closed_end = min(end, horizon)
        key = (*key, start, closed_end)
        segments.append((msgspec.structs.replace(query, end=closed_end), key))
    if settled_from < live_from:
        first, last = _hour(settled_from).timestamp(), live_from.timestamp()
        samples = tuple((h, n) for h, n in known.samples if first <= h < last)
        part = msgspec.structs.replace(query, start=settled_from, end=live_from)
        segments.append((part, (*key, settled_from, live_from, samples)))
    live_start = max(start, live_from)
    live = msgspec.structs.replace(query, start=live_start) if live_start < end else None
    return segments, live


def _aggregate(
    store: Store,
    query: Query,
    names: tuple[str, ...],
    by: str,
    known: vitals_cache.Settled | None,
) -> list[tuple[Any, ...]]:
    """(dim, name, value, samples, good, poor, quantiles) for the whole site (dim ''),
    every attribution target, and — with `by` — the `query.limit` values of `by` with
    the most samples, in one query.

    T-digest states of the rollup and of the raw edges merge into the same answer a raw
    scan would give. Percentiles are computed only for the values shown: merging the
    states of every page is most of the cost. Without filters, the part that cannot
    change (closed days, and later hours whose samples are as when they were read) is
    merged once per process and kept (`vitals_cache`); only the current hour is read anew.
    """
    dims = ("", "target", by) if by else ("", "target")
    shown = (by, query.limit)
    if known is None or query.filters:
        return _merge(store, query, names, shown, dims, None)
    segments, live = _segments(query, known, dt.datetime.now(dt.UTC))
    with vitals_cache.cache_lock:
        table = None  # each cached part holds the ones before it: the last has them all
        for part, key in segments:
            fill = _fill(store.db, part, names, dims, table)
            table = vitals_cache.cached_table(store, (key, names), fill)
        return _merge(store, live, names, shown, dims, table)


def _merge(
    store: Store,
    query: Query | None,
    names: tuple[str, ...],
    shown_values: tuple[str, int],
    dims: tuple[str, ...],
    cached: str | None,
) -> list[tuple[Any, ...]]:
    """`_aggregate` over the rows of the `cached` table (if any) and the sources of
    `query` (None: nothing after the cached part); `shown_values` is `by` and the limit."""
    sql = Sql(store.db)
    by, limit = shown_values

    def sources(dims: tuple[str, ...], *, states: bool) -> str:
        parts = [_cached_rows(cached, states=states)] if cached else []
        if query is not None:
            parts.append(_sources(sql, query, names, dims, states=states))
        return " UNION ALL ".join(parts)

    shown = ""
    if by:
        top = (
            f"SELECT dim_value FROM ({sources((by,), states=False)}) "
            f"WHERE dim = {sql.bind(by, 'String')} "
            f"GROUP BY dim_value ORDER BY sum(n) DESC, dim_value "
            f"LIMIT {sql.bind(limit, 'UInt32')}"
        )
        shown = f"WHERE dim != {sql.bind(by, 'String')} OR dim_value IN ({top}) "
    text = (
        "SELECT dim, name, dim_value, sum(n) AS samples, sum(g), sum(p), "
        f"quantilesTDigestMerge({_LEVELS_SQL})(q) FROM ({sources(dims, states=True)}) {shown}"
        "GROUP BY dim, name, dim_value ORDER BY dim, name, samples DESC, dim_value"
    )
    return store.rows(text, sql.params)


def _attribution(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """The attribution targets (LCP element, INP target, CLS source) with the most poor
    samples, then the highest p75 (of the 5 targets with the most samples)."""
    worst: dict[str, list[Any]] = {name: [] for name in names}
    for dim, name, target, samples, good, poor, quantiles in rows:
        if dim == "target" and target and len(worst[name]) < 5:
            worst[name].append({"target": target, **_summary(samples, good, poor, quantiles, name)})
    for targets in worst.values():
        targets.sort(key=lambda t: (-t["poor"] * t["samples"], -(t["p75"] or 0), t["target"]))
    return worst


def _error_counts(
    store: Store, query: Query, dimension: str, values: list[str] | None
) -> dict[str, tuple[int, int]]:
    sql = Sql(store.db)
    text = error_counts(sql, query, dimension, values)
    return {
        value: (int(views), int(errors)) for value, views, errors in store.rows(text, sql.params)
    }


def _page_error_rates(
    store: Store,
    query: Query,
    dimension: str,
    values: list[str],
    known: vitals_cache.Settled | None,
) -> dict[str, float]:
    """Errored page views over page views of each page (route), the closed days' counts
    of every page kept per process (they never change)."""
    # The error rate is the page's, whatever the vitals filters.
    rest: Query | None = msgspec.structs.replace(query, filters=())
    parts: list[dict[str, tuple[int, int]]] = []
    horizon = dt.datetime.combine(known.horizon, dt.time(), dt.UTC) if known else query.start
    if known is not None and query.start < horizon:
        closed_end = min(query.end, horizon)
        closed = msgspec.structs.replace(query, filters=(), end=closed_end)
        key = (known.recorded, query.site, dimension, query.start.astimezone(dt.UTC), closed_end)
        parts.append(
            vitals_cache.cached_counts(key, lambda: _error_counts(store, closed, dimension, None))
        )
        rest = msgspec.structs.replace(closed, start=closed_end, end=query.end)
        rest = rest if closed_end < query.end else None
    if rest is not None:
        parts.append(_error_counts(store, rest, dimension, values))
    rates: dict[str, float] = {}
    for value in values:
        views = sum(part.get(value, (0, 0))[0] for part in parts)
        errors = sum(part.get(value, (0, 0))[1] for part in parts)
        if views:
            rates[value] = round(errors / views, 6)
    return rates


def errors_impact(store: Store, query: Query) -> dict[str, Any]:
    """Sessions that hit an error vs those that did not: bounce rate and p75 INP."""
    needs = ("errors", "views", "engagements")
    sql = Sql(store.db)
    sessions = session_rows(sql, query, needs)
    text = (
        "SELECT s.errors > 0 AS hit, count() AS sessions, "
        "countIf(s.views = 1 AND s.engagements = 0) / count() AS bounce_rate "
        f"FROM ({sessions}) AS s GROUP BY hit"
    )
    groups: dict[str, dict[str, Any]] = {
        "with_errors": {"sessions": 0, "bounce_rate": 0.0, "inp_p75": None, "inp_samples": 0},
        "without_errors": {"sessions": 0, "bounce_rate": 0.0, "inp_p75": None, "inp_samples": 0},
    }
    for hit, count, bounce in store.rows(text, sql.params):
        key = "with_errors" if hit else "without_errors"
        groups[key].update(sessions=int(count), bounce_rate=round(float(bounce), 6))
    sql = Sql(store.db)
    sessions = session_rows(sql, query, needs)
    text = (
        "SELECT s.errors > 0 AS hit, quantileTDigest(0.75)(e.value), count() "
        f"FROM {sql.table('events')} AS e INNER JOIN (SELECT session_key, errors "
        f"FROM ({sessions})) AS s ON cityHash64(e.sid, e.session_seq) = s.session_key "
        f"WHERE e.site_id = {sql.bind(query.site, 'String')} AND e.type = 'vital' "
        f"AND e.name = 'INP' AND e.ts >= {sql.instant(query.start)} "
        f"AND e.ts < {sql.instant(query.end + dt.timedelta(days=1))} GROUP BY hit"
    )
    for hit, p75, samples in store.rows(text, sql.params):
        key = "with_errors" if hit else "without_errors"
        groups[key].update(inp_p75=round(float(p75), 1), inp_samples=int(samples))
    return groups


def vitals(store: Store, query: Query) -> dict[str, Any]:
    names = tuple(m.upper() for m in query.metrics) or VITAL_NAMES
    unknown = [n for n in names if n not in VITAL_NAMES]
    if unknown:
        raise QueryError(f"metric: {unknown[0]!r} is not one of {', '.join(VITAL_NAMES)}")
    if query.by and query.by not in BY:
        raise QueryError(f"by: {query.by!r} is not one of {', '.join(BY)}")
    known = vitals_cache.settled(store, query.site)
    rows = _aggregate(store, query, names, query.by, known)
    totals = {name: _summary(0, 0, 0, [], name) for name in names}
    for dim, name, _, samples, good, poor, quantiles in rows:
        if dim == "":
            totals[name] = _summary(samples, good, poor, quantiles, name)
    result: dict[str, Any] = {"metrics": totals, "attribution": _attribution(rows, names)}
    if query.by:
        by_value: dict[str, dict[str, Any]] = {}
        for dim, name, value, samples, good, poor, quantiles in rows:
            if dim == query.by:
                by_value.setdefault(value, {"value": value})[name] = _summary(
                    samples, good, poor, quantiles, name
                )
        ordered = sorted(
            by_value.values(),
            key=lambda r: (-sum(v["samples"] for k, v in r.items() if k != "value"), r["value"]),
        )[: query.limit]
        if query.by in PAGE_COLUMNS:
            shown = [r["value"] for r in ordered]
            rates = _page_error_rates(store, query, query.by, shown, known)
            for row in ordered:
                row["error_rate"] = rates.get(row["value"], 0.0)
        result["by"] = query.by
        result["breakdown"] = ordered
    return result


#: Buckets of a vitals time series: the local time of each sample (`ts`) in the zone.
_SERIES_BUCKETS = {
    "minute": "toStartOfMinute(toTimeZone(ts, {tz}))",
    "hour": "toStartOfHour(toTimeZone(ts, {tz}))",
    "day": "toDateTime(toDate(toTimeZone(ts, {tz})), {tz})",
    "week": "toDateTime(toMonday(toTimeZone(ts, {tz})), {tz})",
}
SERIES_NAMES = ("LCP", "INP", "CLS", "FCP", "TTFB")


def vitals_timeseries(store: Store, query: Query) -> dict[str, Any]:
    """Per bucket of the period (`interval`, in `tz`) and metric: samples, percentiles and
    rating shares, the dashboard's p75 trend. A sample belongs to the bucket of the time
    it was measured (DESIGN §6); empty buckets are included (no samples, null
    percentiles). Read from raw vital events (with the filters, as `vitals` does with
    filters), so it costs one scan of the period's vital samples."""
    names = tuple(m.upper() for m in query.metrics) or SERIES_NAMES
    unknown = [n for n in names if n not in VITAL_NAMES]
    if unknown:
        raise QueryError(f"metric: {unknown[0]!r} is not one of {', '.join(VITAL_NAMES)}")
    sql = Sql(store.db)
    ranges = f"ts >= {sql.instant(query.start)} AND ts < {sql.instant(query.end)}"
    bucket = _SERIES_BUCKETS[query.interval].format(tz=sql.bind(query.tz, "String"))
    text = (
        "SELECT formatDateTime(bucket_start, '%Y-%m-%dT%H:%i:%S') AS bucket, name, count(), "
        "countIf(rating = 'good'), countIf(rating = 'poor'), "
        f"quantilesTDigest({_LEVELS_SQL})(value) FROM {sql.table('events')} "
        f"WHERE {' AND '.join(_conditions(sql, query, names, ranges_condition=ranges))} "
        f"GROUP BY {bucket} AS bucket_start, name ORDER BY bucket_start, name"
    )
    found = {
        (label, name): _summary(samples, good, poor, quantiles, name)
        for label, name, samples, good, poor, quantiles in store.rows(text, sql.params)
    }
    empty = {name: _summary(0, 0, 0, [], name) for name in names}
    points = []
    for start in _bucket_starts(query):
        label = start.strftime("%Y-%m-%dT%H:%M:%S")
        points.append({"date": label, **{n: found.get((label, n), empty[n]) for n in names}})
    return {"interval": query.interval, "tz": query.tz, "metrics": list(names), "results": points}
