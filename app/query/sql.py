"""SQL for the analytics API: text built from fixed pieces, values bound as parameters.

Every query is `(text, parameters)`. The text is assembled only from constants of this
module and column names looked up in `DIMENSIONS`; every value a request supplies (site,
period, time zone, filter values, limits) goes into `parameters` and reaches ClickHouse
as a server-side bound `{name:Type}` value.

The population of every session metric is *the sessions that start in the period*, have
a page view and match the filters: `session_rows` reads settled sessions as they are and
merges only the few written since the last settling run from the `sessions` rollup's
partial rows (GROUP BY its UInt64 key), computing only the columns the caller needs,
since merging unused aggregate states is most of the cost of that part. Dimensions that
are constant within a session (country, device, browser, os) filter before merging;
entry/exit page, source and UTM after; page and route filter sessions through their page
views (a session matches when one of its page views does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from app.query.params import DIMENSIONS, Filter, Query
from app.store.client import Store
from app.store.horizon import first_open_day_sql, read_horizon
from app.store.segments import as_utc, midnight, split, whole_days

__all__ = [
    "BOUNCE",
    "ENGAGED",
    "EVENT_METRICS",
    "MAX_BOUND_TOUCHED",
    "METRICS",
    "METRIC_NEEDS",
    "SESSION_CONSTANT",
    "SESSION_RATIOS",
    "SESSION_SUMS",
    "Sql",
    "Touched",
    "device_conditions",
    "device_only",
    "filter_condition",
    "first_open_day",
    "metric_columns",
    "needs_of",
    "session_ratio",
    "session_rows",
    "split_closed_days",
    "touched_sessions",
]


class Sql:
    """Collects bound parameters while a query is assembled."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.params: dict[str, Any] = {}

    def bind(self, value: Any, type_: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{type_}}}"

    def table(self, name: str) -> str:
        return f"{self.db}.{name}"

    def instant(self, moment: dt.datetime) -> str:
        return self.bind(moment.astimezone(dt.UTC).replace(tzinfo=None), "DateTime64(3, 'UTC')")

    def ts_range(self, start: dt.datetime, end: dt.datetime, column: str = "ts") -> str:
        """`start <= column < end` on an event time, by the UTC days it spans: `events` is
        sorted by `toDate(ts)` after the site, and ClickHouse narrows that key by a range
        of `ts` itself not at all (it reads every granule of a month's part). A range of
        whole UTC days is the days alone (one comparison per row, as the bare range)."""
        first, last = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        days = (
            f"toDate({column}) >= {self.bind(first.date(), 'Date')} AND toDate({column}) "
            f"<= {self.bind((last - dt.timedelta(microseconds=1)).date(), 'Date')}"
        )
        if first.timetz() == last.timetz() == dt.time(tzinfo=dt.UTC):
            return f"({days})"
        return f"({column} >= {self.instant(start)} AND {column} < {self.instant(end)} AND {days})"

    def closed_horizon(self) -> str:
        """The first instant of the first day not closed (app/store/closing.py), as a
        scalar subquery (1970-01-02 before any day is closed)."""
        return f"toDateTime64({first_open_day_sql(self.table('closed_days'))}, 3, 'UTC')"

    def site(self, query: Query, column: str = "site_id") -> str:
        """The condition on the site column: the query's site, or its `sites`."""
        if query.sites:
            return f"{column} IN {self.bind(list(query.sites), 'Array(String)')}"
        return f"{column} = {self.bind(query.site, 'String')}"


def filter_condition(sql: Sql, column: str, spec: Filter) -> str:
    parts = []
    if spec.values:
        parts.append(f"{column} IN {sql.bind(list(spec.values), 'Array(String)')}")
    for prefix in spec.prefixes:
        parts.append(f"startsWith({column}, {sql.bind(prefix, 'String')})")
    condition = "(" + " OR ".join(parts) + ")"
    return f"NOT {condition}" if spec.negate else condition


# Session-level columns: constant within a session (grouped by, filterable before the
# merge) and merged ones.
SESSION_CONSTANT = frozenset({"country", "device", "browser", "os"})
_MERGED = {
    "sid": "any(sid)",
    "session_seq": "any(session_seq)",
    "visitor_id": "any(visitor_id)",
    "first_ts": "min(first_ts)",
    "last_ts": "max(last_ts)",
    # Qualified: inside these, the bare names would be the aliases first_ts and last_ts.
    "duration_ms": "toUnixTimestamp64Milli(max(partial.last_ts)) "
    "- toUnixTimestamp64Milli(min(partial.first_ts))",
    "views": "sum(pageviews)",
    "engagements": "sum(engagements)",
    "customs": "sum(customs)",
    "errors": "sum(errors)",
    "error_pages": "uniqExactIfMerge(error_pages)",
    "engaged_ms": "sum(engaged_ms)",
    "max_scroll": "max(max_scroll)",
    "entry_page": "argMinIfMerge(entry_path)",
    "exit_page": "argMaxIfMerge(exit_path)",
    "entry_route": "argMinIfMerge(entry_route)",
    "exit_route": "argMaxIfMerge(exit_route)",
    "source": "argMinIfMerge(referrer_source)",
    "referrer": "argMinIfMerge(referrer_domain)",
    "utm_source": "argMinIfMerge(utm_source)",
    "utm_medium": "argMinIfMerge(utm_medium)",
    "utm_campaign": "argMinIfMerge(utm_campaign)",
    "user_id": "max(user_id)",
}
SESSION_COLUMNS = frozenset(_MERGED) | SESSION_CONSTANT


def device_only(query: Query) -> bool:
    """Whether the query has filters and every one is on the device: what the rollups by
    device class answer (sql/082, sql/083)."""
    return bool(query.filters) and all(f.dimension == "device" for f in query.filters)


def device_conditions(sql: Sql, query: Query) -> list[str]:
    """The query's device filters as conditions on a `device` column."""
    return [filter_condition(sql, "device", f) for f in query.filters if f.dimension == "device"]


def split_closed_days(
    start: dt.datetime, end: dt.datetime, closed_until: dt.date | None
) -> tuple[tuple[dt.datetime, dt.datetime] | None, list[tuple[dt.datetime, dt.datetime]]]:
    """The whole UTC days of [start, end) before the closed horizon `closed_until` (None:
    none closed), as a range of midnights, and the parts of [start, end) outside them."""
    days, _ = whole_days(start, end)
    horizon = midnight(closed_until) if closed_until else None
    closed = split(*days, horizon).closed if days else None
    if closed is None:
        return None, [(start, end)] if start < end else []
    first, last = closed
    return closed, [r for r in ((start, first), (last, end)) if r[0] < r[1]]


def _page_view_filter(
    sql: Sql, query: Query, spec: Filter, closed_until: dt.date | None = None
) -> str:
    """Sessions with a page view matching `spec` (or without one, when negated) from the
    period's start to a day after its end (a session starting in it may go on). For the
    page, the whole days before the closed horizon `closed_until` come from
    `page_sessions_closed` (sql/084: a range of its key), the rest from raw page views."""
    column = DIMENSIONS[spec.dimension].event_column
    positive = Filter(spec.dimension, spec.values, spec.prefixes, negate=False)
    copied = closed_until if column == "path" else None
    closed, raw_ranges = split_closed_days(query.start, query.end + dt.timedelta(days=1), copied)
    parts: list[str] = []
    if closed is not None:
        first, last = closed
        parts.append(
            f"SELECT session_key FROM {sql.table('page_sessions_closed')} "
            f"WHERE {sql.site(query)} AND day >= toDate({sql.instant(first)}) "
            f"AND day < toDate({sql.instant(last)}) AND {filter_condition(sql, column, positive)}"
        )
    for lo, hi in raw_ranges:
        parts.append(
            f"SELECT cityHash64(sid, session_seq) FROM {sql.table('events')} "
            f"WHERE {sql.site(query)} AND type = 'pageview' AND {sql.ts_range(lo, hi)} "
            f"AND {filter_condition(sql, column, positive)}"
        )
    inner = " UNION ALL ".join(parts)
    return f"session_key {'NOT IN' if spec.negate else 'IN'} ({inner})"


class Touched(msgspec.Struct, frozen=True):
    """The sessions touched since the last settling run (key, start), looked up before a
    query (`touched_sessions`) so that it can bind them instead of finding them itself,
    and the closed horizon as it was then (the first day not closed; None before any)."""

    sessions: tuple[tuple[int, dt.datetime], ...]
    closed_until: dt.date | None = None

    def within(self, query: Query) -> tuple[list[int], dt.datetime | None]:
        """The keys of those that start in `query`'s period, and the first start."""
        inside = [(k, s) for k, s in self.sessions if query.start <= s < query.end]
        return sorted({k for k, _ in inside}), min((s for _, s in inside), default=None)


#: Beyond this many touched sessions (after a long pause of the settler), queries find
#: them with a subquery instead of binding them.
MAX_BOUND_TOUCHED = 20_000


def touched_sessions(store: Store, query: Query) -> Touched | None:
    """The sessions of `query`'s period touched since the last settling run, or None when
    there are too many to bind."""
    sql = Sql(store.db)
    text = (
        f"SELECT DISTINCT session_key, session_start FROM {sql.table('session_touches')} "
        f"WHERE {sql.site(query)} "
        f"AND session_start >= {sql.instant(query.start)} "
        f"AND session_start < {sql.instant(query.end)} AND inserted_at >= "
        f"(SELECT max(watermark) FROM {sql.table('sessions_settle_runs')}) "
        f"LIMIT {MAX_BOUND_TOUCHED + 1}"
    )
    rows = store.rows(text, sql.params)
    if len(rows) > MAX_BOUND_TOUCHED:
        return None
    horizon = read_horizon(store)
    return Touched(
        tuple((key, as_utc(start)) for key, start in rows),
        closed_until=horizon.day if horizon else None,
    )


def first_open_day(store: Store, touched: Touched | None) -> dt.date | None:
    """The closed horizon's day (None before any day is closed): as read with the touched
    sessions, or read now when they were too many to look up."""
    if touched is not None:
        return touched.closed_until
    horizon = read_horizon(store)
    return horizon.day if horizon else None


def session_rows(
    sql: Sql,
    query: Query,
    needs: Iterable[str] = (),
    touched: Touched | None = None,
    *,
    viewless: bool = False,
    where: Sequence[str] = (),
) -> str:
    """One row per session that starts in the period, has a page view (any session, with
    `viewless`) and passes the filters; columns `session_key`, `session_start` and those
    in `needs`. `where` adds conditions on `session_key` and `session_start`.

    Settled sessions come finished from `sessions_settled` (a scan; FINAL keeps a session's
    latest version), those of closed days from its closed copy without FINAL
    (`sql/070_sessions_settled_closed.sql`); the few touched since the last settling run
    are merged from the `sessions` rollup's partial rows (`sql/011_sessions_settled.sql`).
    `touched`, when given, names those (`touched_sessions`); without it the query finds
    them itself.
    """
    wanted = set(needs) | {"views"}
    unknown = wanted - SESSION_COLUMNS
    if unknown:
        raise ValueError(f"no session column {sorted(unknown)[0]!r}")
    period = [
        sql.site(query),
        f"session_start >= {sql.instant(query.start)}",
        f"session_start < {sql.instant(query.end)}",
        *where,
    ]
    before_merge: list[str] = []
    after_merge = [] if viewless else ["views > 0"]
    page_filters: list[str] = []
    for spec in query.filters:
        column = DIMENSIONS[spec.dimension].session_column
        if not column:
            closed_until = touched.closed_until if touched is not None else None
            page_filters.append(_page_view_filter(sql, query, spec, closed_until))
        elif column in SESSION_CONSTANT:
            before_merge.append(filter_condition(sql, column, spec))
        else:
            wanted.add(column)
            after_merge.append(filter_condition(sql, column, spec))
    constant = sorted(wanted & SESSION_CONSTANT)
    group = ", ".join(["site_id", "session_key", "session_start", *constant])
    merged_names = sorted(wanted - SESSION_CONSTANT)
    merged = ", ".join(f"{_MERGED[name]} AS {name}" for name in merged_names)
    # Sessions touched since the last settling run are merged from `sessions`, every
    # other one read settled. Both sides select by the key alone (a key shared by two
    # sessions of one sid, before and after a pause, sends both to the merge): one
    # UInt64 set, cheaper than (start, key) pairs.
    settled_table = sql.table("sessions_settled")
    open_from = f"SELECT {group}, {merged} FROM {sql.table('sessions')} AS partial"
    having = f" HAVING {' AND '.join(after_merge)}" if after_merge else ""
    open_tail = f"GROUP BY {group}{having}"
    if touched is None:
        watermark = f"(SELECT max(watermark) FROM {sql.table('sessions_settle_runs')})"
        keys = (
            f"(SELECT session_key FROM {sql.table('session_touches')} "
            f"WHERE {' AND '.join(period)} AND inserted_at >= {watermark})"
        )
        settled = [[*period, f"session_key NOT IN {keys}"]]
        open_ = [*period, f"session_key IN {keys}"]
    elif not (inside := touched.within(query))[0]:
        settled, open_ = [period], []
    else:
        # Sessions that start before the first touched one cannot be open: read those
        # without the set look-up, and merge only from that start on.
        bound_keys, first_start = inside
        start = sql.instant(first_start or query.start)
        first = f"session_start >= {start}"
        keys = sql.bind(bound_keys, "Array(UInt64)")
        settled = [
            [*period, f"session_start < {start}"],
            [*period, first, f"session_key NOT IN {keys}"],
        ]
        open_ = [*period, first, f"session_key IN {keys}"]
    # Sessions starting on closed days are read plain from their closed copy, the later
    # ones from `sessions_settled` FINAL (its versions not yet folded by merges).
    closed_table, final_table = sql.table("sessions_settled_closed"), f"{settled_table} FINAL"
    sources: tuple[tuple[str, tuple[str, ...]], ...]
    if touched is None:
        # Without a looked-up horizon, the query reads it itself.
        horizon = sql.closed_horizon()
        sources = (
            (closed_table, (f"session_start < {horizon}",)),
            (final_table, (f"session_start >= {horizon}",)),
        )
    else:
        at = midnight(touched.closed_until) if touched.closed_until else None
        cut = split(query.start, query.end, at)
        if cut.closed and cut.live:
            sources = (
                (closed_table, (f"session_start < {sql.instant(cut.closed[1])}",)),
                (final_table, (f"session_start >= {sql.instant(cut.live[0])}",)),
            )
        else:
            sources = ((closed_table if cut.closed else final_table, ()),)
    parts = [
        f"SELECT {group}, {', '.join(merged_names)} FROM {source} "
        f"WHERE {' AND '.join([*branch, *side, *before_merge, *after_merge])}"
        for branch in settled
        for source, side in sources
    ]
    if open_:
        parts.append(f"{open_from} WHERE {' AND '.join([*open_, *before_merge])} {open_tail}")
    union = " UNION ALL ".join(parts)
    if not page_filters:
        return union
    # A page filter is a set of session keys built from the page views. Inside each branch
    # ClickHouse would build that set once per branch; applied to their union, once.
    return f"SELECT * FROM ({union}) WHERE {' AND '.join(page_filters)}"


#: DESIGN §6 over one session's columns: a bounce, and an engaged session.
BOUNCE = "views = 1 AND engagements = 0"
ENGAGED = "engaged_ms >= 10000 OR views >= 2 OR customs > 0"
#: Additive sums over the sessions counted (rows with `counted`): every session metric
#: is one of them over `sessions`, so sums of closed days and of open sessions add up
#: (`app/store/closing.py` keeps closed days as these sums).
SESSION_SUMS: dict[str, str] = {
    "sessions": "countIf(counted)",
    "bounces": f"countIf(counted AND {BOUNCE})",
    "engaged_sessions": f"countIf(counted AND ({ENGAGED}))",
    "session_views": "sumIf(views, counted)",
    "duration_ms_sum": "sumIf(duration_ms, counted)",
    "engaged_ms_sum": "sumIf(engaged_ms, counted)",
}
#: Each session metric as (sum, over sessions).
SESSION_RATIOS: dict[str, str] = {
    "bounce_rate": "bounces",
    "engagement_rate": "engaged_sessions",
    "views_per_session": "session_views",
    "avg_session_duration_ms": "duration_ms_sum",
    "avg_engaged_ms": "engaged_ms_sum",
}


def session_ratio(name: str, sums: dict[str, str] | None = None) -> str:
    """A session metric from its sums (`SESSION_SUMS`, or the columns `sums` names)."""
    found = sums or SESSION_SUMS
    count = found["sessions"]
    return f"if({count} = 0, 0, {found[SESSION_RATIOS[name]]} / {count})"


# The overview's metrics (DESIGN §6) as aggregates over population rows
# (`app/query/traffic.py: population`): one per session with an event in the period,
# `counted` when it starts in the period with a page view (the sessions of session
# metrics), `pv` its page views in the period and `ev` its pages with an error event in
# it. A session's own page views are `views`, so that no metric alias shadows a column it
# aggregates. A time series computes the session metrics over `session_rows` (every row
# counted) and the event metrics from `traffic_slots` or raw events.
METRICS: dict[str, str] = {
    "visitors": "uniqExact(visitor_id)",
    "sessions": SESSION_SUMS["sessions"],
    "pageviews": "sum(pv)",
    **{name: session_ratio(name) for name in SESSION_RATIOS},
    "error_rate": "if(sum(pv) = 0, 0, sum(ev) / sum(pv))",
}
#: The overview's order of its keys.
METRICS = {
    name: METRICS[name]
    for name in (
        "visitors",
        "sessions",
        "pageviews",
        "bounce_rate",
        "engagement_rate",
        "views_per_session",
        "avg_session_duration_ms",
        "avg_engaged_ms",
        "error_rate",
    )
}
#: Counted by the event's own time (the rest by the session's start).
EVENT_METRICS = ("visitors", "pageviews", "error_rate")
METRIC_NEEDS: dict[str, tuple[str, ...]] = {
    "visitors": ("visitor_id",),
    "sessions": (),
    "pageviews": (),
    "bounce_rate": ("views", "engagements"),
    "engagement_rate": ("engaged_ms", "views", "customs"),
    "views_per_session": ("views",),
    "avg_session_duration_ms": ("duration_ms",),
    "avg_engaged_ms": ("engaged_ms",),
    "error_rate": (),
}


def needs_of(metrics: Iterable[str]) -> set[str]:
    return {column for metric in metrics for column in METRIC_NEEDS[metric]}


def metric_columns(names: Iterable[str]) -> str:
    return ", ".join(f"{METRICS[name]} AS {name}" for name in names)
