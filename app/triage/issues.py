"""Issue queries and triage writes over the store (DESIGN §7 issues endpoints).

Owns the SQL-level composition of the triage API: the list (per-issue counts of the
period from `app.triage.rollups`, all-time rows of `issues` for lifetimes, titles and
text search), the detail (the same counts for one issue, the hourly histogram and the
breakdowns from their rollups, the recent events and their breadcrumbs from raw
`events`, narrowed to the latest hours that hold them), triage state and history
(versioned rows, see `sql/006_issues.sql`) and the regression evidence that
`app.triage.lifecycle` turns into a derived status.

Limits: the list reads every issue of the period before filtering by status or text and
paging (fine for thousands of issues; `beacon bench triage` says how long); users are
Beacon's daily-rotating visitor ids counted per day (see `app.triage.rollups`). State
writes are serialized per process; two API processes changing the same issue at the
same moment may lose one change (the last version wins).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import msgspec

from app.store.client import Store
from app.store.segments import as_utc
from app.triage.fingerprint import fingerprint_error
from app.triage.lifecycle import (
    Action,
    Comment,
    Effective,
    IssueState,
    ReleaseOrder,
    ReleaseSeen,
    apply_action,
    evaluate,
)
from app.triage.rollups import (
    Counts,
    IssueRow,
    days_of,
    issue_period,
    issue_rows,
    issue_rows_by_site,
    issue_times,
    issue_times_by_site,
    period_counts,
    period_counts_by_site,
    utc,
)
from app.triage.sourcemaps import deminify, file_key, load_maps
from app.triage.stack import parse_stack

__all__ = [
    "ISSUE_ID",
    "SORTS",
    "STATUSES",
    "IssueNotFound",
    "IssueQuery",
    "change_issue",
    "issue_detail",
    "list_issues",
    "list_issues_by_site",
]

ISSUE_ID = re.compile(r"^[0-9a-f]{16}$")
SORTS = ("events", "users", "sessions", "last_seen", "first_seen")
STATUSES = ("unresolved", "resolved", "ignored", "regressed", "all")
RECENT_EVENTS = 10
BREADCRUMBS = 10
TOP_VALUES = 20  # values per breakdown in the detail
BREADCRUMB_TYPES = ("pageview", "click", "submit")
_write_lock = threading.Lock()
TS = "DateTime64(3, 'UTC')"
_utc, _aware = utc, as_utc


class IssueNotFound(LookupError):
    pass


class IssueQuery(msgspec.Struct, frozen=True, kw_only=True):
    site: str
    start: dt.datetime
    end: dt.datetime
    statuses: tuple[str, ...] = ("unresolved", "regressed")
    q: str = ""
    sort: str = "last_seen"
    limit: int = 100
    offset: int = 0


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return _aware(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@lru_cache(maxsize=16384)
def _title(sample: tuple[Any, ...]) -> str:
    kind, type_, message, _culprit, file, req_url, status, method = sample
    return fingerprint_error(
        kind=kind or "error",
        type=type_,
        message=message,
        stack="",
        file=file,
        req_url=req_url,
        status=status or None,
        method=method,
    ).title


# -- state ---------------------------------------------------------------------------

_STATE_COLUMNS = (
    "status, resolved_at, resolved_in_release, resolve_mode, ignored_at, "
    "ignore_until_count, assignee, version"
)


def _states(
    store: Store, site: str, fingerprints: list[str] | None = None
) -> dict[str, IssueState]:
    return _states_by_site(store, [site], fingerprints).get(site, {})


def _states_by_site(
    store: Store, sites: list[str], fingerprints: list[str] | None = None
) -> dict[str, dict[str, IssueState]]:
    where = "site_id IN {sites:Array(String)}"
    params: dict[str, Any] = {"sites": sites}
    if fingerprints is not None:
        where += " AND fingerprint IN {fps:Array(String)}"
        params["fps"] = fingerprints
    rows = store.rows(
        f"SELECT site_id, fingerprint, argMax(tuple({_STATE_COLUMNS}), version) "
        f"FROM {store.table('issue_state')} WHERE {where} GROUP BY site_id, fingerprint",
        params,
    )
    out: dict[str, dict[str, IssueState]] = {}
    for site, fingerprint, values in rows:
        out.setdefault(site, {})[fingerprint] = _state(values)
    return out


def _state(values: tuple[Any, ...]) -> IssueState:
    """An `IssueState` from a tuple of `_STATE_COLUMNS`."""
    status, resolved_at, release, mode, ignored_at, until, assignee, version = values
    return IssueState(
        status=status,
        resolved_at=_aware(resolved_at),
        resolved_in_release=release,
        resolve_mode=mode,
        ignored_at=_aware(ignored_at),
        ignore_until_count=until,
        assignee=assignee,
        version=version,
    )


class _ReleaseFirstSeen(Mapping[str, dt.datetime]):
    """When the site first sent an error from each release, read on first use only:
    `ReleaseOrder` needs it just for releases that do not read as versions."""

    def __init__(self, store: Store, site: str) -> None:
        self._store, self._site = store, site
        self._loaded: dict[str, dt.datetime] | None = None

    def _load(self) -> dict[str, dt.datetime]:
        if self._loaded is None:
            rows = self._store.rows(
                f"SELECT release, min(first_seen) FROM {self._store.table('issues_daily')} "
                "WHERE site_id = {site:String} AND release != '' GROUP BY release",
                {"site": self._site},
            )
            self._loaded = {release: _aware(first) for release, first in rows}
        return self._loaded

    def __getitem__(self, release: str) -> dt.datetime:
        return self._load()[release]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _seen_after(
    store: Store, site: str, since: dict[str, dt.datetime]
) -> dict[str, list[ReleaseSeen]]:
    """Per issue and release: events after the issue's own reference moment. The daily
    rollup answers for every day whose events all fall after it; raw events only for the
    reference day of the issues that had events on both sides of the moment that day."""
    if not since:
        return {}
    fingerprints = sorted(since)
    times = [_utc(since[fp]) for fp in fingerprints]
    # The earliest reference day bounds `day` for the table's index (the per-issue
    # reference itself is a different value per row, which the index cannot use).
    earliest = min(since[fp].astimezone(dt.UTC).date() for fp in fingerprints)
    params: dict[str, Any] = {
        "site": site,
        "fps": fingerprints,
        "times": times,
        "earliest": earliest,
    }
    reference = (
        f"transform(fingerprint, {{fps:Array(String)}}, {{times:Array({TS})}}, "
        "toDateTime64('2200-01-01 00:00:00', 3, 'UTC'))"
    )
    if len(fingerprints) == 1:
        # One issue (the detail, a change): its reference is a constant, which the index
        # can use for `day` as well.
        reference = f"{{time:{TS}}}"
        params["time"] = times[0]
    # Per (issue, release): the reference day on its own, the later days summed.
    rows = store.rows(
        "SELECT fingerprint, toString(release), same_day, sum(events), min(first_seen), "
        "any(ref) FROM (SELECT fingerprint, release, events, first_seen, last_seen, "
        f"{reference} AS ref, day = toDate(ref) AS same_day "
        f"FROM {store.table('issues_daily')} "
        "WHERE site_id = {site:String} AND fingerprint IN {fps:Array(String)} "
        "AND day >= {earliest:Date} AND day >= toDate(ref)) "
        "GROUP BY fingerprint, release, same_day "
        "HAVING max(last_seen) > any(ref)",
        params,
    )
    # On its reference day an issue may have events on both sides of the moment: those
    # days are counted from raw events.
    straddling = {fp for fp, _rel, same_day, _n, first, ref in rows if same_day and first <= ref}
    found: list[tuple[str, str, Any, int]] = [
        (fp, release, first, events)
        for fp, release, _same_day, events, first, _ref in rows
        if fp not in straddling or not _same_day
    ]
    if straddling:
        days = sorted({since[fp].astimezone(dt.UTC).date() for fp in straddling})
        found += store.rows(
            "SELECT fingerprint, toString(release), min(ts), count() "
            f"FROM {store.table('events')} PREWHERE site_id = {{site:String}} "
            "AND toDate(ts) IN {days:Array(Date)} AND type = 'error' "
            "WHERE fingerprint IN {straddling:Array(String)} "
            f"AND toDate(ts) = toDate({reference}) AND ts > {reference} "
            "GROUP BY fingerprint, release",
            {**params, "days": days, "straddling": sorted(straddling)},
        )
    merged: dict[tuple[str, str], tuple[dt.datetime, int]] = {}
    for fingerprint, release, first_ts, count in found:
        key = (fingerprint, release)
        first = _aware(first_ts)
        if key in merged:
            earlier, total = merged[key]
            merged[key] = (min(earlier, first), total + count)
        else:
            merged[key] = (first, count)
    seen: dict[str, list[ReleaseSeen]] = {}
    for (fingerprint, release), (first, count) in merged.items():
        seen.setdefault(fingerprint, []).append(ReleaseSeen(release, first, count))
    return seen


def _effective(store: Store, site: str, states: dict[str, IssueState]) -> dict[str, Effective]:
    since = {}
    for fingerprint, state in states.items():
        if state.status == "resolved":
            since[fingerprint] = state.resolved_at
        elif state.status == "ignored" and state.ignore_until_count:
            since[fingerprint] = state.ignored_at
    seen = _seen_after(store, site, since)
    order = ReleaseOrder(_ReleaseFirstSeen(store, site))
    return {fp: evaluate(state, seen.get(fp, []), order) for fp, state in states.items()}


def _state_json(state: IssueState, effective: Effective) -> dict[str, Any]:
    return {
        "status": effective.status,
        "stored_status": state.status,
        "assignee": state.assignee or None,
        "resolved_at": _iso(state.resolved_at) if state.status == "resolved" else None,
        "resolved_in_release": state.resolved_in_release if state.status == "resolved" else None,
        "resolve_mode": state.resolve_mode if state.status == "resolved" else None,
        "ignore_until_count": state.ignore_until_count if state.status == "ignored" else None,
        "regressed": effective.status == "regressed",
        "regressed_at": _iso(effective.regressed_at),
        "regressed_release": effective.regressed_release,
        "events_since_status_change": effective.events_since,
    }


# -- list ----------------------------------------------------------------------------


def _describe(
    row: IssueRow, counts: Counts, state: IssueState, effective: Effective
) -> dict[str, Any]:
    kind, type_, message, culprit = row.sample[:4]
    return {
        "issue_id": row.fingerprint,
        "title": _title(row.sample),
        "type": type_,
        "message": message,
        "culprit": culprit,
        "error_kind": kind,
        **_state_json(state, effective),
        "events": counts.events,
        "users": counts.users,
        "sessions": counts.sessions,
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
        "first_release": row.first_release or None,
        "last_release": row.last_release or None,
    }


def _matches(row: IssueRow, needle: str) -> bool:
    sample = row.sample
    text = " ".join((row.fingerprint, _title(sample), sample[1], sample[2], sample[3]))
    return needle.lower() in text.lower()


def _sort_key(sort: str, times: dict[str, tuple[int, int]]) -> Any:
    match sort:
        case "events" | "users" | "sessions":
            return lambda item: (getattr(item[1], sort), item[0])
        case "first_seen":
            return lambda item: (times[item[0]][0], item[0])
        case _:
            return lambda item: (times[item[0]][1], item[0])


def list_issues(store: Store, query: IssueQuery) -> dict[str, Any]:
    """Issues with events in the period. Counts come first, then the triage state, so a
    status accounts for every event counted. Titles are read for the page shown only,
    or for every candidate when searching."""
    counts = period_counts(store, query.site, query.start, query.end)
    times = issue_times(store, query.site)
    return _listing(store, query, counts, times, _states(store, query.site), None)


def list_issues_by_site(
    store: Store, query: IssueQuery, sites: list[str]
) -> dict[str, dict[str, Any]]:
    """`list_issues` of the same period and options for several sites, with their counts,
    issue times, states and rows read once for all of them (what the alert evaluator
    asks of many sites at once); no text search."""
    counts = period_counts_by_site(store, sites, query.start, query.end)
    listed = sorted({fp for per_site in counts.values() for fp in per_site})
    busy = [site for site in sites if counts.get(site)]
    times = issue_times_by_site(store, busy, listed) if busy else {}
    states = _states_by_site(store, busy, listed) if busy else {}
    rows = issue_rows_by_site(store, busy, listed) if busy else {}
    return {
        site: _listing(
            store,
            msgspec.structs.replace(query, site=site, q=""),
            counts.get(site, {}),
            times.get(site, {}),
            states.get(site, {}),
            {row.fingerprint: row for row in rows.get(site, [])},
        )
        for site in sites
    }


def _listing(
    store: Store,
    query: IssueQuery,
    counts: dict[str, Counts],
    times: dict[str, tuple[int, int]],
    states: dict[str, IssueState],
    known_rows: dict[str, IssueRow] | None,
) -> dict[str, Any]:
    """The list from its inputs (`known_rows`: the issues' rows when already read)."""
    records = [(fp, c) for fp, c in counts.items() if fp in times]
    relevant = {fp: states.get(fp, IssueState()) for fp, _ in records}
    effective = _effective(
        store, query.site, {fp: s for fp, s in relevant.items() if s.status != "unresolved"}
    )

    def status_of(fp: str) -> str:
        return effective[fp].status if fp in effective else relevant[fp].status

    if "all" not in query.statuses:
        records = [r for r in records if status_of(r[0]) in query.statuses]
    rows: dict[str, IssueRow] = {}
    if query.q:
        rows = {row.fingerprint: row for row in issue_rows(store, query.site)}
        records = [r for r in records if r[0] in rows and _matches(rows[r[0]], query.q)]
    records.sort(key=_sort_key(query.sort, times), reverse=True)
    page = records[query.offset : query.offset + query.limit]
    if not query.q:
        shown = [r[0] for r in page]
        if known_rows is not None:
            rows = {fp: known_rows[fp] for fp in shown if fp in known_rows}
        else:
            rows = {row.fingerprint: row for row in issue_rows(store, query.site, shown)}
    issues = []
    for fp, issue_counts in page:
        state = relevant[fp]
        issues.append(
            _describe(rows[fp], issue_counts, state, effective.get(fp, Effective(state.status)))
        )
    return {
        "site": query.site,
        "from": _iso(query.start),
        "to": _iso(query.end),
        "total": len(records),
        "issues": issues,
    }


# -- detail --------------------------------------------------------------------------


_RECENT_COLUMNS = (
    "ts",
    "sid",
    "session_seq",
    "visitor_id",
    "pid",
    "url",
    "path",
    "browser",
    "browser_version",
    "os",
    "device",
    "country",
    "release",
    "error_kind",
    "error_type",
    "message",
    "stack",
    "file",
    "line",
    "col",
    "method",
    "req_url",
    "status",
)
_LOW_CARDINALITY = frozenset(
    [
        "release",
        "error_kind",
        "error_type",
        "browser",
        "browser_version",
        "os",
        "device",
        "country",
        "method",
    ]
)


def _recent_since(histogram: list[tuple[dt.datetime, int]], start: dt.datetime) -> dt.datetime:
    """The start of the latest hours that hold `RECENT_EVENTS` events (or `start`)."""
    seen = 0
    for hour, events in reversed(histogram):
        seen += events
        if seen >= RECENT_EVENTS:
            return max(hour, _aware(start))
    return _aware(start)


def _recent_events(
    store: Store,
    site: str,
    fingerprint: str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[dict[str, Any]]:
    columns = ", ".join(f"toString({c})" if c in _LOW_CARDINALITY else c for c in _RECENT_COLUMNS)
    rows = store.rows(
        f"SELECT {columns} FROM {store.table('events')} "
        f"PREWHERE site_id = {{site:String}} AND type = 'error' "
        "AND toDate(ts) IN {days:Array(Date)} "
        f"AND ts >= {{start:{TS}}} AND ts < {{end:{TS}}} "
        "WHERE fingerprint = {fp:String} "
        f"ORDER BY ts DESC LIMIT {RECENT_EVENTS}",
        {
            "site": site,
            "fp": fingerprint,
            "start": _utc(start),
            "end": _utc(end),
            "days": days_of(start, end),
        },
    )
    events = [dict(zip(_RECENT_COLUMNS, row, strict=True)) for row in rows]
    if not events:
        return []
    # Breadcrumbs: the page views and interactions before each error in its session (up
    # to a day before), found by the sessions' visitors (in the table's sort key).
    earliest = min(_aware(e["ts"]) for e in events)
    latest = max(_aware(e["ts"]) for e in events)
    session_start = earliest - dt.timedelta(days=1)
    crumbs = store.rows(
        "SELECT sid, session_seq, ts, toString(type), path, target, text, title "
        f"FROM {store.table('events')} "
        "PREWHERE site_id = {site:String} AND type IN {types:Array(String)} "
        "AND toDate(ts) IN {days:Array(Date)} "
        f"AND ts >= {{start:{TS}}} AND ts <= {{end:{TS}}} "
        "AND visitor_id IN {visitors:Array(UInt64)} "
        "WHERE sid IN {sids:Array(String)} ORDER BY ts",
        {
            "site": site,
            "sids": sorted({e["sid"] for e in events}),
            "visitors": sorted({e["visitor_id"] for e in events}),
            "types": list(BREADCRUMB_TYPES),
            "start": _utc(session_start),
            "end": _utc(latest),
            "days": days_of(session_start, latest + dt.timedelta(microseconds=1)),
        },
    )
    for event in events:
        before = [
            {
                "ts": _iso(ts),
                "type": type_,
                "path": path,
                "target": target or None,
                "text": text or None,
                "title": title or None,
            }
            for sid, seq, ts, type_, path, target, text, title in crumbs
            if sid == event["sid"]
            and seq == event["session_seq"]
            and _aware(ts) <= _aware(event["ts"])
        ]
        event["breadcrumbs"] = before[-BREADCRUMBS:]
        event["ts"] = _iso(event["ts"])
        event["status"] = event["status"] or None
    return events


def _stack(store: Store, site: str, latest: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not latest or not latest["stack"]:
        return []
    parsed = parse_stack(latest["stack"])
    maps = load_maps(
        store,
        site,
        latest["release"],
        [file_key(f.abs_path) for f in parsed if f.abs_path and not f.native],
    )
    return [msgspec.to_builtins(frame) for frame in deminify(parsed, maps)]


def _issue_state_history(
    store: Store, site: str, fingerprint: str
) -> tuple[IssueRow | None, IssueState, list[dict[str, Any]]]:
    """The issue's all-time row (None when there is none), its triage state and its
    history, in one query (the state and history as scalar subqueries)."""
    rows = store.rows(
        "SELECT sum(events), min(first), max(last), max(sample), "
        f"(SELECT groupArray(s) FROM (SELECT argMax(tuple({_STATE_COLUMNS}), version) AS s "
        f"FROM {store.table('issue_state')} "
        "WHERE site_id = {site:String} AND fingerprint = {fp:String} GROUP BY fingerprint)), "
        "(SELECT groupArray((at, version, toString(action), actor, detail)) "
        f"FROM {store.table('issue_history')} "
        "WHERE site_id = {site:String} AND fingerprint = {fp:String}) "
        f"FROM {store.table('issues')} WHERE site_id = {{site:String}} "
        "AND fingerprint = {fp:String} GROUP BY fingerprint",
        {"site": site, "fp": fingerprint},
    )
    if not rows:
        return None, IssueState(), []
    events, first, last, sample, states, history = rows[0]
    row = IssueRow(
        fingerprint=fingerprint,
        events=events,
        first_seen=_aware(first[0]),
        first_release=first[1],
        last_seen=_aware(last[0]),
        last_release=last[1],
        sample=sample[1:],
    )
    state = _state(states[0]) if states else IssueState()
    entries = [
        {"at": _iso(at), "action": action, "by": actor or None, **json.loads(detail or "{}")}
        for at, _version, action, actor, detail in sorted(history, key=lambda h: (h[0], h[1]))
    ]
    return row, state, entries


def issue_detail(store: Store, query: IssueQuery, fingerprint: str) -> dict[str, Any]:
    """One issue over the query's period. Queries, in order: counts, breakdowns and the
    hourly histogram (one query, `issue_period`); the issue's row, triage state and
    history (one query); the regression evidence (resolved or count-ignored issues only);
    the recent events, their breadcrumbs and the source maps of the latest stack."""
    if not ISSUE_ID.match(fingerprint):
        raise IssueNotFound(fingerprint)
    # Counts first, state after: the status then accounts for every event counted.
    counts, breakdowns, histogram = issue_period(
        store, query.site, fingerprint, query.start, query.end
    )
    row, state, history = _issue_state_history(store, query.site, fingerprint)
    if row is None:
        raise IssueNotFound(fingerprint)
    effective = _effective(store, query.site, {fingerprint: state})[fingerprint]
    summary = _describe(row, counts, state, effective)
    recent = (
        _recent_events(
            store, query.site, fingerprint, _recent_since(histogram, query.start), query.end
        )
        if histogram
        else []
    )
    frames = _stack(store, query.site, recent[0] if recent else None)
    culprit_frame = next((f for f in frames if f["in_app"]), frames[0] if frames else None)

    def top(name: str) -> list[dict[str, Any]]:
        return [
            {"value": value, "events": events, "users": users}
            for value, events, users in breakdowns[name][:TOP_VALUES]
        ]

    return {
        **summary,
        "from": _iso(query.start),
        "to": _iso(query.end),
        "culprit_frame": culprit_frame,
        "stack": frames,
        "browsers": top("browser"),
        "os": top("os"),
        "pages": top("path"),
        "releases": top("release"),
        "histogram": [{"hour": _iso(hour), "events": events} for hour, events in histogram],
        "recent_events": recent,
        "history": history,
    }


def _exists(store: Store, site: str, fingerprint: str) -> bool:
    return bool(ISSUE_ID.match(fingerprint) and issue_rows(store, site, [fingerprint]))


# -- changes -------------------------------------------------------------------------


def _latest_releases(store: Store, site: str, fingerprint: str) -> tuple[str, str]:
    """(the issue's latest release, the site's latest release), "" when unknown."""
    rows = store.rows(
        "SELECT argMaxIf(release, last_seen, fingerprint = {fp:String}), "
        "argMax(release, last_seen) "
        f"FROM {store.table('issues_daily')} WHERE site_id = {{site:String}} AND release != ''",
        {"site": site, "fp": fingerprint},
    )
    return (rows[0][0], rows[0][1]) if rows else ("", "")


def change_issue(
    store: Store, site: str, fingerprint: str, action: Action, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Apply a triage action; return the issue's state after it and the history entry."""
    if not ISSUE_ID.match(fingerprint) or not _exists(store, site, fingerprint):
        raise IssueNotFound(fingerprint)
    now = now or dt.datetime.now(dt.UTC)
    with _write_lock:
        state = _states(store, site, [fingerprint]).get(fingerprint, IssueState())
        issue_release, site_release = _latest_releases(store, site, fingerprint)
        version = max(time.time_ns(), state.version + 1)
        new, detail = apply_action(
            state,
            action,
            now=now,
            version=version,
            issue_release=issue_release,
            site_release=site_release,
        )
        if not isinstance(action, Comment):
            store.command(
                f"INSERT INTO {store.table('issue_state')} (site_id, fingerprint, version, status, "
                "resolved_at, resolved_in_release, resolve_mode, ignored_at, ignore_until_count, "
                "assignee, updated_at) VALUES ({site:String}, {fp:String}, {version:UInt64}, "
                "{status:String}, {resolved_at:DateTime64(3, 'UTC')}, {release:String}, "
                "{mode:String}, {ignored_at:DateTime64(3, 'UTC')}, {until:UInt64}, "
                "{assignee:String}, {now:DateTime64(3, 'UTC')})",
                {
                    "site": site,
                    "fp": fingerprint,
                    "version": new.version,
                    "status": new.status,
                    "resolved_at": _utc(new.resolved_at),
                    "release": new.resolved_in_release,
                    "mode": new.resolve_mode,
                    "ignored_at": _utc(new.ignored_at),
                    "until": new.ignore_until_count,
                    "assignee": new.assignee,
                    "now": _utc(now),
                },
            )
        store.command(
            f"INSERT INTO {store.table('issue_history')} (site_id, fingerprint, at, version, "
            "action, actor, detail) VALUES ({site:String}, {fp:String}, "
            "{at:DateTime64(3, 'UTC')}, {version:UInt64}, {action:String}, {actor:String}, "
            "{detail:String})",
            {
                "site": site,
                "fp": fingerprint,
                "at": _utc(now),
                "version": version,
                "action": type(action).__struct_config__.tag,
                "actor": action.by,
                "detail": json.dumps(detail),
            },
        )
    effective = _effective(store, site, {fingerprint: new})[fingerprint]
    return {
        "issue_id": fingerprint,
        **_state_json(new, effective),
        "change": {
            "at": _iso(now),
            "action": type(action).__struct_config__.tag,
            "by": action.by or None,
            **detail,
        },
    }
