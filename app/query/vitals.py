"""Web vitals: percentiles, rating shares, breakdowns, attribution, and what errors cost.

Percentiles are ClickHouse t-digests (`quantilesTDigest`), raw and rolled up alike: on a
handful of values a percentile is the nearest-rank value (p75 of 1, 2, 3, 4 is 3), on
millions it is within a fraction of a percent of the exact one, and its states merge.
Ratings use the web-vitals thresholds (DESIGN §6), stored at ingest; their shares are
exact counts. Vitals count by the time they were measured (`ts` in the period).

Without filters, a period is read from the rollups (sql/017, 018, 080) — whole weeks by
week, other whole UTC days by day; the partial days at its edges by hour for the
dimensions with few values and raw for pages and routes; the minutes left from raw
events — in one query with the totals, the attribution targets and the breakdown
(percentiles only for the values shown). With device filters only, and a breakdown by
page or route (or none), likewise from the rollups by device class (sql/082), which have
no hourly table: their partial edge days are read raw. Its part before the current hour
is merged once per process and kept (`app/query/vitals_cache.py`): closed days never
change, and later hours are kept as long as their sample counts do not. With other
filters, raw vital events, in one scan (a grouping set per dimension); with filters on
the vitals' own columns (page, route, device, browser, country, target) their part
before the current hour is kept likewise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from app.query import buckets, vitals_cache
from app.query.pages import PAGE_COLUMNS, Range, error_counts, utc_days
from app.query.params import Query, QueryError
from app.query.sql import (
    SESSION_CONSTANT,
    Sql,
    device_conditions,
    device_only,
    filter_condition,
    session_rows,
)
from app.query.traffic import Sessions, event_conditions, look_up
from app.store.client import Store
from app.store.segments import SegmentKey, split

__all__ = ["VITAL_NAMES", "vitals", "vitals_by_site", "vitals_timeseries"]

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


class _Rollups(msgspec.Struct, frozen=True):
    """One family of vitals rollups: its tables by week, UTC day and UTC hour (if any),
    the dimensions it holds, and those it holds by hour (few values each)."""

    weekly: str
    days: str
    hourly: str
    dims: frozenset[str]
    hourly_dims: frozenset[str]


#: Every vital, by week, day and hour (sql/017, 080, 018).
_ALL_DEVICES = _Rollups(
    "vitals_weekly",
    "vitals_days",
    "vitals_hourly",
    frozenset({"", *_ROLLUP_DIMENSIONS}),
    frozenset({"", "device", "browser", "country", "target"}),
)
#: The same per device class, for the dimensions a device filter is read with (sql/082);
#: none by hour: the edges' raw scan for the pages gives the rest for less.
_BY_DEVICE = _Rollups(
    "vitals_device_weekly",
    "vitals_device_days",
    "",
    frozenset({"", "page", "route", "target"}),
    frozenset(),
)


def _rollups(query: Query, dims: tuple[str, ...]) -> _Rollups | None:
    """The rollups that hold `query`'s vitals for `dims`: those of every vital without
    filters, those by device class when every filter is on the device (values, prefixes
    or negated: a condition on the rollup's `device` column) and they hold every
    dimension asked, and none otherwise (raw vital events)."""
    if not query.filters:
        return _ALL_DEVICES
    if device_only(query) and set(dims) <= _BY_DEVICE.dims:
        return _BY_DEVICE
    return None


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
    sql: Sql,
    query: Query,
    names: tuple[str, ...],
    found: Sessions | None,
    *,
    ranges_condition: str,
) -> list[str]:
    """WHERE conditions over raw vital events: the site, the names, the time ranges and
    the filters — a dimension the vitals rollups have (page, route, device, browser,
    country) on the vital's own column, any other through the session (`event_conditions`,
    with the query's looked-up sessions `found`)."""
    conditions = [
        sql.site(query),
        "type = 'vital'",
        f"name IN {sql.bind(list(names), 'Array(String)')}",
        f"({ranges_condition})",
    ]
    session_filters = []
    for spec in query.filters:
        column = _ROLLUP_DIMENSIONS.get(spec.dimension)
        if column is None:
            session_filters.append(spec)
        else:
            conditions.append(filter_condition(sql, column, spec))
    if session_filters:
        only_sessions = msgspec.structs.replace(query, filters=tuple(session_filters))
        conditions += event_conditions(sql, only_sessions, found)
    return conditions


def _by_session(query: Query) -> bool:
    """Whether a filter of `query` selects vitals through their sessions' set."""
    return any(
        f.dimension not in _ROLLUP_DIMENSIONS and f.dimension not in SESSION_CONSTANT
        for f in query.filters
    )


_LEVELS_SQL = ", ".join(str(level) for level in LEVELS)
_STATE = f"quantilesTDigestState({_LEVELS_SQL})(value) AS q"
_NO_STATE = "0 AS q"
_FINAL = f"quantilesTDigest({_LEVELS_SQL})(value) AS q"


def _raw_part(
    sql: Sql,
    query: Query,
    names: tuple[str, ...],
    dims: tuple[str, ...],
    ranges: tuple[Range, ...],
    *,
    states: bool,
    found: Sessions | None = None,
    final: bool = False,
) -> str:
    """(dim, name, dim_value, n, g, p, q) of raw vital events in `ranges`, one row per
    dimension value, as the rollup's view makes them (with the filters, if any); q is the
    t-digest state, 0 without `states`, and the percentiles themselves when `final`.

    One scan, one grouping set per dimension (`(name)` for the whole site, per site with
    several; `(name, value)` for the others): each event is aggregated once per set
    without being copied per dimension first, as an ARRAY JOIN would (1.5x the time on
    a month of a site's vitals with a device filter)."""
    keys = {dim: f"toString({_ROLLUP_DIMENSIONS[dim]})" for dim in dims if dim}
    whole = "site_id" if query.sites else "''"  # several sites: the whole of each
    whole_set = ("name", "site_id") if query.sites else ("name",)
    sets = [("name", keys[dim]) if dim else whole_set for dim in dims]
    if len(sets) == 1:  # one dimension: a plain GROUP BY
        group_by = ", ".join(sets[0])
    else:
        group_by = f"GROUPING SETS ({', '.join('(' + ', '.join(s) + ')' for s in sets)})"

    def by_set(then: Callable[[str, str], str], otherwise: str) -> str:
        """`then(dim, key)` of the set a row was grouped by, `otherwise` for the whole."""
        if not keys:
            return otherwise
        if len(sets) == 1:
            return then(*next(iter(keys.items())))
        cases = ", ".join(f"grouping({key}) = 0, {then(d, key)}" for d, key in keys.items())
        return f"multiIf({cases}, {otherwise})"

    dim = by_set(lambda d, _key: f"'{d}'", "''")
    value = by_set(lambda _d, key: key, whole)
    within = " OR ".join(sql.ts_range(start, end) for start, end in ranges)
    conditions = _conditions(sql, query, names, found, ranges_condition=within)
    return (
        f"SELECT {dim} AS dim, name, {value} AS dim_value, count() AS n, "
        "countIf(rating = 'good') AS g, countIf(rating = 'poor') AS p, "
        f"{_FINAL if final else _STATE if states else _NO_STATE} FROM {sql.table('events')} "
        f"WHERE {' AND '.join(conditions)} GROUP BY {group_by}"
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
    source: tuple[str, str],
    ranges: tuple[Range, ...],
    *,
    states: bool,
) -> str:
    """Rows of one vitals rollup, `source` its table and time key (`week`, `day` or
    `hour`), whose time key lies in `ranges` (and, in a rollup by device class, whose
    device passes the query's device filters)."""
    table, key = source

    def bound(moment: dt.datetime) -> str:
        value = sql.instant(moment)
        return value if key == "hour" else f"toDate({value})"

    within = " OR ".join(f"({key} >= {bound(a)} AND {key} < {bound(b)})" for a, b in ranges)
    # Several sites: the whole-site rows (dim '') told apart by site, as the raw part does.
    value = "if(dim = '', site_id, dim_value)" if query.sites else "dim_value"
    devices = "".join(f" AND {c}" for c in device_conditions(sql, query))
    return (
        f"SELECT dim, name, {value} AS dim_value, samples AS n, good AS g, poor AS p"
        f", {'quantiles AS q' if states else _NO_STATE} FROM {sql.table(table)} "
        f"WHERE {sql.site(query)}{devices} "
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
    found: Sessions | None = None,
) -> str:
    """Vital rows of the period for `dims` — (dim, name, dim_value, n, g, p, q), q the
    t-digest state or, without `states`, 0.

    From the rollups that hold them (`_rollups`): whole weeks by week, the other whole
    UTC days by day; the partial days at the edges by hour (their whole hours) and from
    raw events (the minutes around them) for the dimensions held by hour (few values
    each), from raw events for pages and routes. Otherwise (filters the rollups cannot
    answer): raw events.
    """
    rollups = _rollups(query, dims)
    if rollups is None:
        period = ((query.start, query.end),)
        return _raw_part(sql, query, names, dims, period, states=states, found=found)
    cut = utc_days(query)
    weeks, days = whole_weeks(cut.days) if cut.days else (None, ())
    hours, minutes = whole_hours(cut.edges)
    hourly = tuple(d for d in dims if d in rollups.hourly_dims)
    other = tuple(d for d in dims if d not in rollups.hourly_dims)
    parts = []
    if weeks:
        weekly = (rollups.weekly, "week")
        parts.append(_rollup_part(sql, query, names, dims, weekly, (weeks,), states=states))
    if days:
        daily = (rollups.days, "day")
        parts.append(_rollup_part(sql, query, names, dims, daily, days, states=states))
    if hourly and hours:
        by_hour = (rollups.hourly, "hour")
        parts.append(_rollup_part(sql, query, names, hourly, by_hour, hours, states=states))
    if hourly and minutes:
        parts.append(_raw_part(sql, query, names, hourly, minutes, states=states))
    if other and cut.edges:
        parts.append(_raw_part(sql, query, names, other, cut.edges, states=states))
    return " UNION ALL ".join(parts)


def _cached_rows(table: str, *, states: bool) -> str:
    return (
        "SELECT dim, name, dim_value, samples AS n, good AS g, poor AS p, "
        f"{'quantiles AS q' if states else _NO_STATE} FROM {table}"
    )


def _fill(
    db: str, query: Query, names: tuple[str, ...], dims: tuple[str, ...]
) -> Callable[[str], tuple[str, dict[str, Any]]]:
    """The `INSERT … SELECT` of the part `query`, merged once per value of `dims`."""

    def insert(table: str) -> tuple[str, dict[str, Any]]:
        sql = Sql(db)
        text = (
            f"INSERT INTO {table} SELECT dim, name, dim_value, sum(n), sum(g), sum(p), "
            f"quantilesTDigestMergeState({_LEVELS_SQL})(q) "
            f"FROM ({_sources(sql, query, names, dims, states=True)}) "
            "GROUP BY dim, name, dim_value"
        )
        return text, sql.params

    return insert


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _segments(
    store: Store,
    query: Query,
    names: tuple[str, ...],
    known: vitals_cache.Settled,
    now: dt.datetime,
) -> tuple[list[tuple[Query, SegmentKey]], Query | None]:
    """The cacheable parts of the period, each with its key — the closed days (before
    the horizon), then the hours after it up to the current one (or the period's end),
    guarded also by each hour's samples — and the live edge, read anew (None when there
    is none). Each part is cached on its own: a new hour or a late sample refills the
    hours' part only, not the closed days again."""
    cut = split(query.start, query.end, known.horizon.start, min(query.end, _hour(now)))
    scope = (query.metrics, query.by, query.filters, names)
    marker = known.horizon.recorded
    segments: list[tuple[Query, SegmentKey]] = []
    if cut.closed:
        start, end = cut.closed
        key = SegmentKey.of(store, query.site, cut.closed, scope, marker)
        segments.append((msgspec.structs.replace(query, start=start, end=end), key))
    if cut.settled:
        start, end = cut.settled
        first, last = _hour(start).timestamp(), end.timestamp()
        samples = tuple((h, n) for h, n in known.samples if first <= h < last)
        key = SegmentKey.of(store, query.site, cut.settled, scope, (marker, samples))
        segments.append((msgspec.structs.replace(query, start=start, end=end), key))
    live = msgspec.structs.replace(query, start=cut.live[0]) if cut.live else None
    return segments, live


def _settles(query: Query) -> bool:
    """Whether the part of `query` before the current hour stays as it is once read: its
    filters (if any) are on the vital's own columns, fixed at ingest, so that only a new
    sample can change it, and a new sample changes the hour's sample count, which keys
    the cached part (a filter through the sessions can change as a session goes on)."""
    return all(spec.dimension in _ROLLUP_DIMENSIONS for spec in query.filters)


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
    So is the raw part of a period with filters on the vitals' own columns (`_settles`).
    """
    dims = ("", "target", by) if by else ("", "target")
    shown = (by, query.limit)
    if known is None or not _settles(query):
        found = look_up(store, query)[0] if _by_session(query) else None
        return _merge(store, query, names, shown, dims, (), found)
    segments, live = _segments(store, query, names, known, dt.datetime.now(dt.UTC))
    with vitals_cache.cache_lock:
        tables = tuple(
            vitals_cache.cached_table(store, key, _fill(store.db, part, names, dims))
            for part, key in segments
        )
        return _merge(store, live, names, shown, dims, tables)


def _merge(
    store: Store,
    query: Query | None,
    names: tuple[str, ...],
    shown_values: tuple[str, int],
    dims: tuple[str, ...],
    cached: tuple[str, ...] = (),
    found: Sessions | None = None,
) -> list[tuple[Any, ...]]:
    """`_aggregate` over the rows of the `cached` tables (if any) and the sources of
    `query` (None: nothing after the cached parts); `shown_values` is `by` and the limit."""
    sql = Sql(store.db)
    by, limit = shown_values
    if not cached and query is not None and _rollups(query, dims) is None:
        return store.rows(_raw_merge(sql, query, names, by, limit, dims, found), sql.params)

    def sources(dims: tuple[str, ...], *, states: bool) -> str:
        parts = [_cached_rows(table, states=states) for table in cached]
        if query is not None:
            parts.append(_sources(sql, query, names, dims, states=states, found=found))
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


def _raw_merge(
    sql: Sql,
    query: Query,
    names: tuple[str, ...],
    by: str,
    limit: int,
    dims: tuple[str, ...],
    found: Sessions | None,
) -> str:
    """`_merge` of a period read wholly from raw events (a filter): one scan makes the
    final figures of every value, and the `limit` values of `by` with the most samples
    are picked from them by rank (no states to merge, no second scan for the top)."""
    period = ((query.start, query.end),)
    grouped = _raw_part(sql, query, names, dims, period, states=False, final=True, found=found)
    shown = ""
    if by:
        totals = f"SELECT *, sum(n) OVER (PARTITION BY dim, dim_value) AS total FROM ({grouped})"
        grouped = (
            "SELECT *, dense_rank() OVER (PARTITION BY dim ORDER BY total DESC, dim_value) "
            f"AS place FROM ({totals})"
        )
        shown = f"WHERE dim != {sql.bind(by, 'String')} OR place <= {sql.bind(limit, 'UInt32')} "
    return (
        f"SELECT dim, name, dim_value, n, g, p, q FROM ({grouped}) {shown}"
        "ORDER BY dim, name, n DESC, dim_value"
    )


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


def _page_error_rates(
    store: Store, query: Query, dimension: str, values: list[str]
) -> dict[str, float]:
    """Errored page views over page views of each page (route) shown: the page's own,
    whatever the vitals filters (`app/query/pages.py: error_counts`)."""
    sql = Sql(store.db)
    unfiltered = msgspec.structs.replace(query, filters=())
    text = error_counts(sql, unfiltered, dimension, values)
    return {
        value: round(int(errors) / int(views), 6)
        for value, views, errors in store.rows(text, sql.params)
        if views
    }


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
        f"WHERE {sql.site(query, 'e.site_id')} AND e.type = 'vital' "
        f"AND e.name = 'INP' "
        f"AND {sql.ts_range(query.start, query.end + dt.timedelta(days=1), 'e.ts')} GROUP BY hit"
    )
    for hit, p75, samples in store.rows(text, sql.params):
        key = "with_errors" if hit else "without_errors"
        groups[key].update(inp_p75=round(float(p75), 1), inp_samples=int(samples))
    return groups


def vitals_by_site(store: Store, query: Query) -> dict[str, dict[str, Any]]:
    """The totals of each vital (`metrics` of `vitals`) over the period for every site of
    `query.sites`, in one statement (no breakdown, no attribution, no per-process cache):
    what the alert evaluator asks of many sites at once."""
    names = tuple(m.upper() for m in query.metrics) or VITAL_NAMES
    found = look_up(store, query)[0] if _by_session(query) else None
    rows = _merge(store, query, names, ("", query.limit), ("",), (), found)
    totals = {
        site: {"metrics": {name: _summary(0, 0, 0, [], name) for name in names}}
        for site in query.sites
    }
    for _dim, name, site, samples, good, poor, quantiles in rows:
        if site in totals:
            totals[site]["metrics"][name] = _summary(samples, good, poor, quantiles, name)
    return totals


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
            rates = _page_error_rates(store, query, query.by, shown)
            for row in ordered:
                row["error_rate"] = rates.get(row["value"], 0.0)
        result["by"] = query.by
        result["breakdown"] = ordered
    return result


SERIES_NAMES = ("LCP", "INP", "CLS", "FCP", "TTFB")


def vitals_timeseries(store: Store, query: Query) -> dict[str, Any]:
    """Per bucket of the period (`interval`, in `tz`: the buckets of `timeseries`) and
    metric: samples, percentiles and rating shares, the dashboard's p75 trend. A sample
    belongs to the bucket of the time it was measured (DESIGN §6); empty buckets are
    included (no samples, null percentiles). Read from raw vital events (with the
    filters, as `vitals` does with filters), so it costs one scan of the period's vital
    samples."""
    names = tuple(m.upper() for m in query.metrics) or SERIES_NAMES
    unknown = [n for n in names if n not in VITAL_NAMES]
    if unknown:
        raise QueryError(f"metric: {unknown[0]!r} is not one of {', '.join(VITAL_NAMES)}")
    zone = query.zone
    starts = buckets.bucket_starts(store, query.start, query.end, query.interval, zone)
    found_sessions = look_up(store, query)[0] if _by_session(query) else None
    sql = Sql(store.db)
    ranges = sql.ts_range(query.start, query.end)
    bucket = buckets.bucket_sql(query.interval, sql.bind(query.tz, "String"))
    column = "toDateTime(ts, 'UTC')"
    conditions = _conditions(sql, query, names, found_sessions, ranges_condition=ranges)
    text = (
        f"SELECT toUnixTimestamp({bucket(column)}) AS b, name, count(), "
        "countIf(rating = 'good'), countIf(rating = 'poor'), "
        f"quantilesTDigest({_LEVELS_SQL})(value) FROM {sql.table('events')} "
        f"WHERE {' AND '.join(conditions)} GROUP BY b, name"
    )
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for epoch, name, samples, good, poor, quantiles in store.rows(text, sql.params):
        index = buckets.bucket_index(starts, dt.datetime.fromtimestamp(epoch, dt.UTC))
        if index >= 0:
            found[index, name] = _summary(samples, good, poor, quantiles, name)
    empty = {name: _summary(0, 0, 0, [], name) for name in names}
    points = [
        {
            "date": buckets.label(start, zone),
            "start": buckets.start_label(start, zone),
            **{n: found.get((index, n), empty[n]) for n in names},
        }
        for index, start in enumerate(starts)
    ]
    return {"interval": query.interval, "tz": query.tz, "metrics": list(names), "results": points}
