"""Web vitals: percentiles, rating shares, breakdowns, attribution, and what errors cost.

Percentiles are ClickHouse t-digests (`quantilesTDigest`), raw and rolled up alike: on a
handful of values a percentile is the nearest-rank value (p75 of 1, 2, 3, 4 is 3), on
millions it is within a fraction of a percent of the exact one, and its states merge
cheaply. Ratings use the web-vitals thresholds (DESIGN §6), stored at ingest.
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
    store: Store,
    query: Query,
    names: tuple[str, ...],
    by: str,
    *,
    only: list[str] | None = None,
    quantiles: bool = True,
) -> list[tuple[Any, ...]]:
    """(name, dimension value, samples, good, poor, quantiles) per vital and value —
    for the values in `only` when given; without `quantiles`, (dimension value, samples)
    for the values with the most samples first, which is cheap.

    Without filters, the whole UTC days of the period come from the `vitals_daily`
    rollup and only the partial days at its edges from raw events; their t-digest states
    are merged, so the answer is the one a raw scan would give at a fraction of its cost.
    """
    sql = Sql(store.db)
    levels = ", ".join(str(level) for level in LEVELS)
    group = f"toString({_ROLLUP_DIMENSIONS[by]})" if by else "''"
    state = f", quantilesTDigestState({levels})(value) AS q" if quantiles else ""
    days = None if query.filters else _whole_utc_days(query)
    subset = sql.bind(only, "Array(String)") if only is not None else ""
    raw_columns = (
        f"SELECT name, {group} AS dim_value, count() AS n, countIf(rating = 'good') AS g, "
        f"countIf(rating = 'poor') AS p{state} FROM {sql.table('events')} "
    )
    raw_subset = f" AND {group} IN {subset}" if subset else ""
    if days is None:
        parts = [
            f"{raw_columns} WHERE {' AND '.join(_conditions(sql, query, names))}{raw_subset} "
            "GROUP BY name, dim_value"
        ]
    else:
        first, last = days
        site = sql.bind(query.site, "String")
        wanted = sql.bind(list(names), "Array(String)")
        merge_state = f", quantilesTDigestMergeState({levels})(quantiles) AS q" if quantiles else ""
        parts = [
            f"SELECT name, dim_value, sum(samples) AS n, sum(good) AS g, sum(poor) AS p"
            f"{merge_state} FROM {sql.table('vitals_daily')} "
            f"WHERE site_id = {site} AND name IN {wanted} AND dim = {sql.bind(by, 'String')} "
            f"AND day >= toDate({sql.instant(first)}) AND day < toDate({sql.instant(last)})"
            f"{f' AND dim_value IN {subset}' if subset else ''} GROUP BY name, dim_value"
        ]
        edges = []
        if query.start < first:
            edges.append(f"ts >= {sql.instant(query.start)} AND ts < {sql.instant(first)}")
        if last < query.end:
            edges.append(f"ts >= {sql.instant(last)} AND ts < {sql.instant(query.end)}")
        for edge in edges:  # one part per edge: an OR of two ranges would defeat the index
            parts.append(
                f"{raw_columns} WHERE site_id = {site} AND type = 'vital' AND name IN {wanted} "
                f"AND {edge}{raw_subset} GROUP BY name, dim_value"
            )
    union = " UNION ALL ".join(parts)
    if not quantiles:
        text = (
            f"SELECT dim_value, sum(n) AS samples FROM ({union}) GROUP BY dim_value "
            f"ORDER BY samples DESC, dim_value LIMIT {sql.bind(query.limit, 'UInt32')}"
        )
        return store.rows(text, sql.params)
    text = (
        f"SELECT name, dim_value, sum(n) AS samples, sum(g), sum(p), "
        f"quantilesTDigestMerge({levels})(q) FROM ({union}) "
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


def _page_error_rates(
    store: Store, query: Query, column: str, values: list[str]
) -> dict[str, float]:
    sql = Sql(store.db)
    text = (
        f"SELECT {column}, uniqExactIf(pid, type = 'error') / countIf(type = 'pageview') "
        f"FROM {sql.table('events')} WHERE site_id = {sql.bind(query.site, 'String')} "
        f"AND type IN ('pageview', 'error') AND ts >= {sql.instant(query.start)} "
        f"AND ts < {sql.instant(query.end)} AND {column} IN {sql.bind(values, 'Array(String)')} "
        f"GROUP BY {column} HAVING countIf(type = 'pageview') > 0"
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
    totals = {name: _summary(0, 0, 0, [], name) for name in names}
    for name, _, samples, good, poor, quantiles in _aggregate(store, query, names, ""):
        totals[name] = _summary(samples, good, poor, quantiles, name)
    result: dict[str, Any] = {"metrics": totals, "attribution": _attribution(store, query, names)}
    if query.by:
        # Percentiles only for the values shown: merging every page's states is the cost.
        top = [value for value, _ in _aggregate(store, query, names, query.by, quantiles=False)]
        rows: dict[str, dict[str, Any]] = {value: {"value": value} for value in top}
        for name, value, samples, good, poor, quantiles in _aggregate(
            store, query, names, query.by, only=top
        ):
            rows.setdefault(value, {"value": value})[name] = _summary(
                samples, good, poor, quantiles, name
            )
        ordered = sorted(
            rows.values(), key=lambda r: -sum(v["samples"] for k, v in r.items() if k != "value")
        )[: query.limit]
        if query.by in ("page", "route"):
            rates = _page_error_rates(store, query, _ROLLUP_DIMENSIONS[query.by], top)
            for row in ordered:
                row["error_rate"] = rates.get(row["value"], 0.0)
        result["by"] = query.by
        result["breakdown"] = ordered
    return result
