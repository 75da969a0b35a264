"""Reads of the issue rollups (sql/006, 007, 020, 021) that keep the list and detail off
raw events.

Owns: per-issue counts over a period (`period_counts`), the issue rows (lifetime, release
and latest sample: `issue_rows`) and, for one issue, its counts, hourly histogram and
breakdowns by browser, os, page and release (`issue_period`). Every period is exact:
whole UTC days come from the closed days' plain numbers (`issue_days_closed`, written by
app/store/closing.py) before the closed horizon and from the rollups' states after it,
the partial days at the period's edges from raw events, narrowed by site, the edge days
(`toDate(ts)` leads the events table's sort key after the site; a bare `ts` range lets
the index skip far less), the time range, `type = 'error'` and the fingerprint.

Users and sessions are counted per UTC day and summed over the period's days. Visitor
ids rotate every UTC day (app/ingest/visitor.py), so a person is a new visitor each day
anyway and the sum equals the distinct count over the period, except for a session that
errs on both sides of midnight (it keeps its visitor id and counts on both days).

Per-process caches (app/store/settled_cache.py), each period cut and each entry keyed as
every reader of settled numbers does (app/store/segments.py), so that a repeated read
merges few states:
- what cannot change any more: the closed days' sums of the list (`_finalized_sums`), a
  partial edge day of the list that is closed (`_closed_edges`), and an issue's period up
  to the closed horizon (`_closed_details`). Closed days stay as the closer wrote them
  (ingest drops events that old); a period reaching past the retention keeps the numbers
  of days that the TTL has since dropped until the entry leaves the cache.
- the list's days after the horizon and before today (`_closed_days`, `_closed_sums`):
  each read looks every day up under the rollup's event total for that day (the key's
  guard), so an event that arrives late for such a day refreshes it on the next read.
Limits: a cold process pays the merges once (`beacon bench triage` reports the first
list and details separately); the caches are bounded (`CACHED_DAYS`, `CACHED_SUMS`,
`CACHED_DETAILS`), least recently used first out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from app.store.client import Store
from app.store.horizon import first_open_day_sql, forget_recent, recent_horizon
from app.store.segments import Bounds, SegmentKey, as_utc, midnight, split
from app.store.settled_cache import SettledCache

__all__ = [
    "CACHED_DAYS",
    "Counts",
    "IssueRow",
    "clear_cache",
    "days_of",
    "issue_period",
    "issue_rows",
    "issue_rows_by_site",
    "issue_times",
    "issue_times_by_site",
    "period_counts",
    "period_counts_by_site",
]

CACHED_DAYS = 1024
CACHED_SUMS = 32
FACETS = ("browser", "os", "path", "release")

TS = "DateTime64(3, 'UTC')"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Counts(msgspec.Struct):
    """One issue's events, users and sessions in a period (users and sessions per day,
    summed: see the module docstring)."""

    events: int = 0
    users: int = 0
    sessions: int = 0

    def add(self, events: int, users: int, sessions: int) -> None:
        self.events += events
        self.users += users
        self.sessions += sessions


class IssueRow(msgspec.Struct, frozen=True):
    """An issue's all-time row of `issues`: sightings and the latest event's fields."""

    fingerprint: str
    events: int
    first_seen: dt.datetime
    first_release: str
    last_seen: dt.datetime
    last_release: str
    # (kind, type, message, culprit, file, req_url, status, method) of the latest event
    sample: tuple[str, str, str, str, str, str, int, str]


def utc(moment: dt.datetime) -> dt.datetime:
    """Bound parameter form of an instant (naive UTC, what the driver sends)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _floor(moment: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    moment = as_utc(moment)
    if unit == dt.timedelta(hours=1):
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(moment: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    floor = _floor(moment, unit)
    return floor if floor == as_utc(moment) else floor + unit


def split_period(
    start: dt.datetime, end: dt.datetime, unit: dt.timedelta
) -> tuple[dt.datetime, dt.datetime, list[tuple[dt.datetime, dt.datetime]]]:
    """(first whole unit, end of the last whole unit, partial ranges at the edges)."""
    first, last = _ceil(start, unit), _floor(end, unit)
    if first < last:
        edges = [(start, first), (last, end)]
    else:
        first = last = _ceil(start, unit)
        edges = [(start, end)]
    return first, last, [(lo, hi) for lo, hi in edges if as_utc(lo) < as_utc(hi)]


def days_of(lo: dt.datetime, hi: dt.datetime) -> list[dt.date]:
    """The UTC days that [lo, hi) touches."""
    first, last = as_utc(lo).date(), (as_utc(hi) - dt.timedelta(microseconds=1)).date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _edge_filter(
    edges: list[tuple[dt.datetime, dt.datetime]], params: dict[str, Any]
) -> str | None:
    """A `ts` condition covering the edge ranges (bound into `params`), None when none.
    It names the ranges' UTC days as well: `events` is sorted by `toDate(ts)`, and a
    bare `ts` range lets the index skip several times fewer granules."""
    ranges = []
    days: set[dt.date] = set()
    for index, (lo, hi) in enumerate(edges):
        params[f"lo{index}"], params[f"hi{index}"] = utc(lo), utc(hi)
        ranges.append(f"(ts >= {{lo{index}:{TS}}} AND ts < {{hi{index}:{TS}}})")
        days.update(days_of(lo, hi))
    if not ranges:
        return None
    params["edge_days"] = sorted(days)
    return f"(toDate(ts) IN {{edge_days:Array(Date)}} AND ({' OR '.join(ranges)}))"


# -- counts ----------------------------------------------------------------------------

_PerIssue = dict[str, tuple[int, int, int]]  # fingerprint -> (events, users, sessions)
#: A day after the horizon, guarded by the rollup's event total it was read with.
_closed_days: SettledCache[_PerIssue] = SettledCache("issue days after the horizon", CACHED_DAYS)
#: Days after the horizon summed, guarded by each day's event total.
_closed_sums: SettledCache[_PerIssue] = SettledCache("issue day sums", CACHED_SUMS)
#: The closed days of a period summed (closed segment).
_finalized_sums: SettledCache[_PerIssue] = SettledCache("issue closed-day sums", CACHED_SUMS)
#: A partial day at a period's edge that is closed.
_closed_edges: SettledCache[_PerIssue] = SettledCache("issue closed edges", CACHED_SUMS)


def clear_cache() -> None:
    """Forget every cached day (benchmarks measure a cold process with it)."""
    for cache in (_closed_days, _closed_sums, _finalized_sums, _closed_edges, _closed_details):
        cache.clear()
    forget_recent()


def _day_key(store: Store, site: str, day: dt.date, total: int) -> SegmentKey:
    return SegmentKey.of(store, site, _day_bounds(day, day + dt.timedelta(days=1)), guard=total)


def _day_bounds(first: dt.date, end: dt.date) -> Bounds:
    return midnight(first), midnight(end)


def _day_rows(
    store: Store, site: str, days: list[dt.date]
) -> dict[dt.date, dict[str, tuple[int, int, int]]]:
    rows = store.rows(
        "SELECT day, fingerprint, sum(events), uniqMerge(users), uniqMerge(sessions) "
        f"FROM {store.table('issues_by_day')} "
        "WHERE site_id = {site:String} AND day IN {days:Array(Date)} "
        "GROUP BY day, fingerprint",
        {"site": site, "days": days},
    )
    out: dict[dt.date, dict[str, tuple[int, int, int]]] = {day: {} for day in days}
    for day, fingerprint, events, users, sessions in rows:
        out[day][fingerprint] = (events, users, sessions)
    return out


def _whole_days(
    store: Store, site: str, first: dt.date, last: dt.date, today: dt.date
) -> tuple[list[dict[str, tuple[int, int, int]]], dt.date | None]:
    """Per-issue counts of the days in [first, last) that have errors: the days before
    the closed horizon from `issue_days_closed` (cached), the other closed days (before
    today) summed into one mapping (cached), then each open day (today, or later); and
    the closed horizon (None when no day of the range has errors)."""
    totals = store.rows(
        f"SELECT day, sum(events), {first_open_day_sql(store.table('closed_days'))} "
        f"FROM {store.table('issues_by_day')} WHERE site_id = {{site:String}} "
        "AND day >= {d0:Date} AND day < {d1:Date} GROUP BY day",
        {"site": site, "d0": first, "d1": last},
    )
    if not totals:
        return [], None
    horizon: dt.date = totals[0][2]
    cut = split(midnight(first), midnight(last), midnight(horizon), midnight(today))
    found = []
    if cut.closed:
        found.append(_finalized_sum(store, site, cut.closed[0].date(), cut.closed[1].date()))
    settled = tuple(sorted((day, total) for day, total, _ in totals if _inside(cut.settled, day)))
    open_days = sorted(day for day, _total, _ in totals if _inside(cut.live, day))
    if settled:
        found.append(_closed_sum(store, site, settled))
    if open_days:
        found += _day_rows(store, site, open_days).values()
    return found, horizon


def _inside(bounds: Bounds | None, day: dt.date) -> bool:
    return bounds is not None and bounds[0] <= midnight(day) < bounds[1]


def _finalized_sum(
    store: Store, site: str, first: dt.date, until: dt.date
) -> dict[str, tuple[int, int, int]]:
    """Counts per issue summed over the finalized days in [first, until) (cached: a day
    in `issue_days_closed` never changes, the closer writes it once)."""
    key = SegmentKey.of(store, site, _day_bounds(first, until))
    summed = _finalized_sums.get(key)
    if summed is not None:
        return summed
    rows = store.rows(
        "SELECT fingerprint, sum(events), sum(users), sum(sessions) "
        f"FROM {store.table('issue_days_closed')} WHERE site_id = {{site:String}} "
        "AND dimension = '' AND day >= {d0:Date} AND day < {d1:Date} GROUP BY fingerprint",
        {"site": site, "d0": first, "d1": until},
    )
    summed = {fp: (events, users, sessions) for fp, events, users, sessions in rows}
    _finalized_sums.put(key, summed)
    return summed


def _closed_sum(
    store: Store, site: str, closed: tuple[tuple[dt.date, int], ...]
) -> dict[str, tuple[int, int, int]]:
    """Counts per issue summed over closed days, given as (day, rollup events total)."""
    bounds = _day_bounds(closed[0][0], closed[-1][0] + dt.timedelta(days=1))
    key = SegmentKey.of(store, site, bounds, guard=closed)
    summed = _closed_sums.get(key)
    if summed is not None:
        return summed
    days: dict[dt.date, _PerIssue] = {}
    missing = []
    for day, total in closed:
        cached = _closed_days.get(_day_key(store, site, day, total))
        if cached is not None:
            days[day] = cached
        else:
            missing.append(day)
    fetched = _day_rows(store, site, missing) if missing else {}
    days.update(fetched)
    combined: dict[str, tuple[int, int, int]] = {}
    for per_issue in days.values():
        for fp, (events, users, sessions) in per_issue.items():
            had = combined.get(fp)
            combined[fp] = (
                (events, users, sessions)
                if had is None
                else (had[0] + events, had[1] + users, had[2] + sessions)
            )
    consistent = True
    for day, total in closed:
        if day in fetched:
            # Cached under the total of what was read: events that arrived after the
            # check make the next check miss and read the day again.
            read = sum(counts[0] for counts in fetched[day].values())
            _closed_days.put(_day_key(store, site, day, read), fetched[day])
            consistent = consistent and read == total
    if consistent:
        _closed_sums.put(key, combined)
    return combined


def _edge_rows(
    store: Store, site: str, edges: list[tuple[dt.datetime, dt.datetime]]
) -> dict[str, tuple[int, int, int]]:
    """Counts per issue in the edge ranges, from raw events (users per day, summed)."""
    return _edge_rows_by_site(store, [site], edges).get(site, {})


def _edge_rows_by_site(
    store: Store, sites: list[str], edges: list[tuple[dt.datetime, dt.datetime]]
) -> dict[str, dict[str, tuple[int, int, int]]]:
    """`_edge_rows` of several sites in one scan, per site."""
    params: dict[str, Any] = {"sites": sites}
    ranges = _edge_filter(edges, params)
    out: dict[str, dict[str, tuple[int, int, int]]] = {}
    if ranges is None:
        return out
    rows = store.rows(
        "SELECT site_id, fingerprint, count(), uniq(visitor_id), "
        f"uniq(cityHash64(sid, session_seq)) FROM {store.table('events')} "
        "PREWHERE site_id IN {sites:Array(String)} "
        f"AND type = 'error' AND {ranges} WHERE fingerprint != '' "
        "GROUP BY site_id, fingerprint, toDate(ts)",
        params,
    )
    for site, fp, events, users, sessions in rows:
        per_issue = out.setdefault(site, {})
        had = per_issue.get(fp, (0, 0, 0))
        per_issue[fp] = (had[0] + events, had[1] + users, had[2] + sessions)
    return out


def period_counts_by_site(
    store: Store, sites: list[str], start: dt.datetime, end: dt.datetime
) -> dict[str, dict[str, Counts]]:
    """`period_counts` of several sites: one scan of raw events when the period holds no
    whole UTC day (an alert's window), else site by site."""
    first, last, edges = split_period(start, end, dt.timedelta(days=1))
    if first < last:
        return {site: period_counts(store, site, start, end) for site in sites}
    found = _edge_rows_by_site(store, sites, edges)
    return {
        site: {fp: Counts(*counts) for fp, counts in found.get(site, {}).items()} for site in sites
    }


def _closed_edge(
    store: Store, site: str, lo: dt.datetime, hi: dt.datetime
) -> dict[str, tuple[int, int, int]]:
    """`_edge_rows` of a range on a closed day (cached: ingest adds nothing to it)."""
    key = SegmentKey.of(store, site, (lo, hi))
    cached = _closed_edges.get(key)
    if cached is not None:
        return cached
    rows = _edge_rows(store, site, [(lo, hi)])
    _closed_edges.put(key, rows)
    return rows


def period_counts(
    store: Store,
    site: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    today: dt.date | None = None,
) -> dict[str, Counts]:
    """Counts per issue with errors in [start, end)."""
    today = today or dt.datetime.now(dt.UTC).date()
    first, last, edges = split_period(start, end, dt.timedelta(days=1))
    found: list[dict[str, tuple[int, int, int]]] = []
    horizon = None
    if first < last:
        found, horizon = _whole_days(store, site, first.date(), last.date(), today)
    live = []
    for lo, hi in edges:
        if horizon is not None and days_of(lo, hi)[-1] < horizon:
            found.append(_closed_edge(store, site, lo, hi))
        else:
            live.append((lo, hi))
    if live:
        found.append(_edge_rows(store, site, live))
    out: dict[str, Counts] = {}
    for per_issue in found:
        for fp, (events, users, sessions) in per_issue.items():
            counts = out.get(fp)
            if counts is None:
                out[fp] = Counts(events, users, sessions)
            else:
                counts.add(events, users, sessions)
    return out


# -- issue rows --------------------------------------------------------------------------


def issue_times(store: Store, site: str) -> dict[str, tuple[int, int]]:
    """fingerprint -> (first seen, last seen) in epoch milliseconds, every issue of the
    site (what the list sorts by, without building datetimes for issues not shown)."""
    return issue_times_by_site(store, [site]).get(site, {})


def issue_times_by_site(
    store: Store, sites: list[str], fingerprints: list[str] | None = None
) -> dict[str, dict[str, tuple[int, int]]]:
    """`issue_times` of several sites (only of `fingerprints`, when given), per site."""
    where = "site_id IN {sites:Array(String)}"
    params: dict[str, Any] = {"sites": sites}
    if fingerprints is not None:
        where += " AND fingerprint IN {fps:Array(String)}"
        params["fps"] = fingerprints
    rows = store.rows(
        "SELECT site_id, fingerprint, toUnixTimestamp64Milli(min(first).1), "
        f"toUnixTimestamp64Milli(max(last).1) FROM {store.table('issues')} "
        f"WHERE {where} GROUP BY site_id, fingerprint",
        params,
    )
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for site, fp, first, last in rows:
        out.setdefault(site, {})[fp] = (first, last)
    return out


def issue_rows(store: Store, site: str, fingerprints: list[str] | None = None) -> list[IssueRow]:
    """All-time rows of the site's issues (or of `fingerprints`)."""
    if fingerprints is not None and not fingerprints:
        return []
    return issue_rows_by_site(store, [site], fingerprints).get(site, [])


def issue_rows_by_site(
    store: Store, sites: list[str], fingerprints: list[str] | None = None
) -> dict[str, list[IssueRow]]:
    """`issue_rows` of several sites (only of `fingerprints`, when given), per site."""
    where = "site_id IN {sites:Array(String)}"
    params: dict[str, Any] = {"sites": sites}
    if fingerprints is not None:
        where += " AND fingerprint IN {fps:Array(String)}"
        params["fps"] = fingerprints
    rows = store.rows(
        "SELECT site_id, fingerprint, sum(events), min(first), max(last), max(sample) "
        f"FROM {store.table('issues')} WHERE {where} GROUP BY site_id, fingerprint",
        params,
    )
    out: dict[str, list[IssueRow]] = {}
    for site, fp, events, first, last, sample in rows:
        out.setdefault(site, []).append(
            IssueRow(
                fingerprint=fp,
                events=events,
                first_seen=as_utc(first[0]),
                first_release=first[1],
                last_seen=as_utc(last[0]),
                last_release=last[1],
                sample=sample[1:],
            )
        )
    return out


# -- detail ------------------------------------------------------------------------------

CACHED_DETAILS = 256
_DETAIL_FACETS = ("", *FACETS)


class _Part:
    """One segment of an issue's period, summed: counts, (events, users) per facet value
    and events per hour (epoch seconds)."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.facets: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in FACETS}
        self.hours: dict[int, int] = {}

    def add(self, dimension: str, value: str, events: int, users: int, sessions: int) -> None:
        if dimension == "":
            self.counts.add(events, users, sessions)
        elif dimension == "hour":
            seconds = int(value)
            self.hours[seconds] = self.hours.get(seconds, 0) + events
        else:
            had = self.facets[dimension].get(value, (0, 0))
            self.facets[dimension][value] = (had[0] + events, had[1] + users)

    def merge(self, other: _Part) -> _Part:
        out = _Part()
        for part in (self, other):
            out.counts.add(part.counts.events, part.counts.users, part.counts.sessions)
            for name, values in part.facets.items():
                for value, (events, users) in values.items():
                    out.add(name, value, events, users, 0)
            for seconds, events in part.hours.items():
                out.hours[seconds] = out.hours.get(seconds, 0) + events
        return out


#: An issue's closed segment (scope: the fingerprint) summed.
_closed_details: SettledCache[_Part] = SettledCache("issue closed segments", CACHED_DETAILS)


def _period_sql(
    store: Store, lo: dt.datetime, hi: dt.datetime, cut: dt.datetime, params: dict[str, Any]
) -> list[str]:
    """SELECTs of (segment, dimension, value, events, users, sessions) for [lo, hi), the
    segment 'closed' before `cut` (a midnight, or `lo` or `hi`) and 'live' from it on:
    whole closed days from `issue_days_closed`, whole live days from the rollups, the
    whole days' hours from `issues_hourly`, the partial days at the edges from one raw
    scan (which also gives their hours). Each SELECT groups by day inside, so that users
    sum over days."""
    first, last, edges = split_period(lo, hi, dt.timedelta(days=1))
    params["cut"] = utc(cut)
    segment = f"if({{column}} < {{{{cut:{TS}}}}}, 'closed', 'live')"
    one = "site_id = {site:String} AND fingerprint = {fp:String}"
    parts = []
    if first < last:
        middle = min(max(first, cut), last)
        params.update(d0=first.date(), d1=middle.date(), d2=last.date())
        params.update(h0=utc(first), h1=utc(last))
        if first < middle:
            parts.append(
                "SELECT 'closed', toString(dimension), value, sum(events), sum(users), "
                f"sum(sessions) FROM {store.table('issue_days_closed')} WHERE {one} "
                "AND day >= {d0:Date} AND day < {d1:Date} "
                "AND dimension IN {dimensions:Array(String)} GROUP BY dimension, value"
            )
        if middle < last:
            days = f"{one} AND day >= {{d1:Date}} AND day < {{d2:Date}}"
            parts.append(
                "SELECT 'live', '', '', sum(events), uniqMerge(users), uniqMerge(sessions) "
                f"FROM {store.table('issues_by_day')} WHERE {days} GROUP BY day"
            )
            parts.append(
                "SELECT 'live', toString(dimension), value, sum(events), uniqMerge(users), 0 "
                f"FROM {store.table('issue_facets_daily')} WHERE {days} "
                "GROUP BY dimension, value, day"
            )
        parts.append(
            f"SELECT {segment.format(column='hour')}, 'hour', "
            "toString(toUnixTimestamp(hour)), sum(events), 0, 0 "
            f"FROM {store.table('issues_hourly')} WHERE {one} "
            f"AND hour >= {{h0:{TS}}} AND hour < {{h1:{TS}}} GROUP BY hour"
        )
    ranges = _edge_filter(edges, params)
    if ranges is not None:
        # The '' facet is the issue itself: the edge days' counts; 'hour' their histogram.
        parts.append(
            "SELECT segment, facet.1 AS facet_name, facet.2, count(), "
            "if(facet_name = 'hour', 0, uniq(visitor_id)), "
            "if(facet_name = '', uniq(session), 0) "
            f"FROM (SELECT toDate(ts) AS day, {segment.format(column='ts')} AS segment, "
            "visitor_id, cityHash64(sid, session_seq) AS session, "
            "[('', ''), ('browser', toString(browser)), ('os', toString(os)), ('path', path), "
            "('release', toString(release)), "
            "('hour', toString(toUnixTimestamp(toStartOfHour(ts))))] AS facets "
            f"FROM {store.table('events')} "
            f"PREWHERE site_id = {{site:String}} AND type = 'error' AND {ranges} "
            "WHERE fingerprint = {fp:String}) ARRAY JOIN facets AS facet "
            "GROUP BY segment, facet.1, facet.2, day"
        )
    return parts


def _read_period(
    store: Store, site: str, fingerprint: str, lo: dt.datetime, hi: dt.datetime, cut: dt.datetime
) -> tuple[_Part, _Part]:
    """[lo, hi) summed in one query: (the segment before `cut`, the segment from it)."""
    params: dict[str, Any] = {"site": site, "fp": fingerprint, "dimensions": list(_DETAIL_FACETS)}
    parts = _period_sql(store, lo, hi, cut, params)
    out = {"closed": _Part(), "live": _Part()}
    if parts:
        # The first, empty SELECT names the columns: the parts' own expressions then need
        # no aliases, which a WHERE or GROUP BY could mistake for the columns they shadow.
        header = (
            "SELECT '' AS segment, '' AS dimension, '' AS value, toUInt64(0) AS events, "
            "toUInt64(0) AS users, toUInt64(0) AS sessions WHERE 0"
        )
        rows = store.rows(
            "SELECT segment, dimension, value, sum(events), sum(users), sum(sessions) FROM ("
            + " UNION ALL ".join([header, *parts])
            + ") GROUP BY segment, dimension, value",
            params,
        )
        for segment, dimension, value, events, users, sessions in rows:
            out[segment].add(dimension, value, events, users, sessions)
    return out["closed"], out["live"]


def issue_period(
    store: Store, site: str, fingerprint: str, start: dt.datetime, end: dt.datetime
) -> tuple[Counts, dict[str, list[tuple[str, int, int]]], list[tuple[dt.datetime, int]]]:
    """One issue's counts in [start, end), its (value, events, users) per facet in `FACETS`
    (most events first; every value, not only the ones a page shows) and its hourly
    histogram as (hour, events), oldest first. Users (and sessions) per day, summed like
    `period_counts`.

    The period splits at the closed horizon (as this process read it in the last
    `TRUSTED_SECONDS`: an older one only reads more days from the rollups, which keep
    the closed days too). Its closed segment (closed days, and the partial first day
    when that day is closed) cannot change, so it is read once per process and issue
    (kept in `_closed_details`); the live edge is read on every call from the rollups
    and raw events."""
    start, end = as_utc(start), as_utc(end)
    horizon = recent_horizon(store)
    closed_bounds = split(start, end, horizon).closed
    if closed_bounds is None:
        closed, live = _read_period(store, site, fingerprint, start, end, start)
    else:
        edge = closed_bounds[1]
        key = SegmentKey.of(store, site, closed_bounds, scope=(fingerprint,))
        cached = _closed_details.get(key)
        if cached is not None:
            closed, live = cached, _read_period(store, site, fingerprint, edge, end, edge)[1]
        else:
            closed, live = _read_period(store, site, fingerprint, start, end, edge)
            _closed_details.put(key, closed)
    whole = closed.merge(live)
    facets = {
        name: sorted(
            ((value, events, users) for value, (events, users) in values.items()),
            key=lambda item: (-item[1], item[0]),
        )
        for name, values in whole.facets.items()
    }
    hours = sorted(whole.hours.items())
    histogram = [(_from_seconds(seconds), events) for seconds, events in hours]
    return whole.counts, facets, histogram


def _from_seconds(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)
