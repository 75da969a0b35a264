"""Web vitals: percentiles, rating shares, breakdowns, attribution, and what errors cost.

Percentiles are ClickHouse `quantiles`: linear interpolation between the closest ranks
(numpy's default, PERCENTILE.INC), exact up to 8,192 samples per group and a uniform
sample beyond. Ratings use the web-vitals thresholds (DESIGN §6), stored at ingest.
Vitals count by the time they were measured (`ts` in the period).

Without filters, reads the whole UTC days of the period from the `vitals_daily` rollup
and only the partial days at its edges from raw events; with filters, raw vital events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.query.params import Query, QueryError
from app.query.sql import Sql, session_rows
from app.store.client import Store

__all__ = ["VITAL_NAMES", "vitals"]

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


def _conditions(sql: Sql, query: Query, names: tuple[str, ...]) -> list[str]:
    """WHERE conditions over raw vital events."""
    conditions = [
        f"site_id = {sql.bind(query.site, 'String')}",
        "type = 'vital'",
        f"name IN {sql.bind(list(names), 'Array(String)')}",
        f"ts >= {sql.instant(query.start)}",
        f"ts < {sql.instant(query.end)}",
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


def _whole_utc_days(query: Query) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole UTC days inside the period, as [first midnight, last midnight)."""
    start, end = query.start.astimezone(dt.UTC), query.end.astimezone(dt.UTC)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += dt.timedelta(days=1)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


def _aggregate(
    store: Store, query: Query, names: tuple[str, ...], by: str
) -> list[tuple[Any, ...]]:
    """(name, dimension value, samples, good, poor, quantiles) per vital and value.

    Without filters, the whole UTC days of the period come from the `vitals_daily`
    rollup and only the partial days at its edges from raw events; their quantile states
    are merged, so the answer is the one a raw scan would give (up to the sampling of
    `quantiles` beyond 8,192 values per group) at a fraction of its cost.
    """
    sql = Sql(store.db)
    levels = ", ".join(str(level) for level in LEVELS)
    group = f"toString({_ROLLUP_DIMENSIONS[by]})" if by else "''"
    days = None if query.filters else _whole_utc_days(query)
    if days is None:
        text = (
            f"SELECT name, {group} AS dim_value, count() AS n, countIf(rating = 'good'), "
            f"countIf(rating = 'poor'), quantiles({levels})(value) FROM {sql.table('events')} "
            f"WHERE {' AND '.join(_conditions(sql, query, names))} "
            "GROUP BY name, dim_value ORDER BY name, n DESC, dim_value"
        )
        return store.rows(text, sql.params)
    first, last = days
    site = sql.bind(query.site, "String")
    wanted = sql.bind(list(names), "Array(String)")
    rollup = (
        f"SELECT name, dim_value, sum(samples) AS n, sum(good) AS g, sum(poor) AS p, "
        f"quantilesMergeState({levels})(quantiles) AS q FROM {sql.table('vitals_daily')} "
        f"WHERE site_id = {site} AND name IN {wanted} AND dim = {sql.bind(by, 'String')} "
        f"AND day >= toDate({sql.instant(first)}) AND day < toDate({sql.instant(last)}) "
        "GROUP BY name, dim_value"
    )
    edges = []
    if query.start < first:
        edges.append(f"(ts >= {sql.instant(query.start)} AND ts < {sql.instant(first)})")
    if last < query.end:
        edges.append(f"(ts >= {sql.instant(last)} AND ts < {sql.instant(query.end)})")
    parts = [rollup]
    if edges:
        parts.append(
            f"SELECT name, {group} AS dim_value, count() AS n, countIf(rating = 'good') AS g, "
            f"countIf(rating = 'poor') AS p, quantilesState({levels})(value) AS q "
            f"FROM {sql.table('events')} WHERE site_id = {site} AND type = 'vital' "
            f"AND name IN {wanted} AND ({' OR '.join(edges)}) GROUP BY name, dim_value"
        )
    text = (
        f"SELECT name, dim_value, sum(n) AS samples, sum(g), sum(p), "
        f"quantilesMerge({levels})(q) FROM ({' UNION ALL '.join(parts)}) "
        "GROUP BY name, dim_value ORDER BY name, samples DESC, dim_value"
    )
    return store.rows(text, sql.params)


def _attribution(store: Store, query: Query, names: tuple[str, ...]) -> dict[str, list[Any]]:
    """The attribution targets (LCP element, INP target, CLS source) with the most poor
    samples, then the highest p75."""
    worst: dict[str, list[Any]] = {name: [] for name in names}
    for name, target, samples, good, poor, quantiles in _aggregate(store, query, names, "target"):
        if target and len(worst[name]) < 5:
            worst[name].append({"target": target, **_summary(samples, good, poor, quantiles, name)})
    for targets in worst.values():
        targets.sort(key=lambda t: (-t["poor"] * t["samples"], -(t["p75"] or 0), t["target"]))
    return worst


def _page_error_rates(store: Store, query: Query, column: str) -> dict[str, float]:
    sql = Sql(store.db)
    text = (
        f"SELECT {column}, uniqExactIf(pid, type = 'error') / countIf(type = 'pageview') "
        f"FROM {sql.table('events')} WHERE site_id = {sql.bind(query.site, 'String')} "
        f"AND type IN ('pageview', 'error') AND ts >= {sql.instant(query.start)} "
        f"AND ts < {sql.instant(query.end)} GROUP BY {column} "
        "HAVING countIf(type = 'pageview') > 0"
    )
    return {value: round(float(rate), 6) for value, rate in store.rows(text, sql.params)}


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
        "SELECT s.errors > 0 AS hit, quantile(0.75)(e.value), count() "
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
    totals = {name: _summary(0, 0, 0, [], name) for name in names}
    for name, _, samples, good, poor, quantiles in _aggregate(store, query, names, ""):
        totals[name] = _summary(samples, good, poor, quantiles, name)
    result: dict[str, Any] = {"metrics": totals, "attribution": _attribution(store, query, names)}
    if query.by:
        rows: dict[str, dict[str, Any]] = {}
        for name, value, samples, good, poor, quantiles in _aggregate(
            store, query, names, query.by
        ):
            rows.setdefault(value, {"value": value})[name] = _summary(
                samples, good, poor, quantiles, name
            )
        ordered = sorted(
            rows.values(), key=lambda r: -sum(v["samples"] for k, v in r.items() if k != "value")
        )[: query.limit]
        if query.by in ("page", "route"):
            rates = _page_error_rates(store, query, _ROLLUP_DIMENSIONS[query.by])
            for row in ordered:
                row["error_rate"] = rates.get(row["value"], 0.0)
        result["by"] = query.by
        result["breakdown"] = ordered
    return result
