"""Issue queries and triage writes over the store (DESIGN §7 issues endpoints).

Owns the SQL of the triage API: the list (counts from the `issues_daily` rollup for whole
UTC days and from raw events for the partial days at the period's edges, so any period is
exact), the detail (the same counts; raw `events` for the hourly histogram, the recent
events, their breadcrumbs and the browser/os/page/release breakdowns, all narrowed by site,
period, `type = 'error'` and the fingerprint's bloom-filter index), triage state and
history (versioned rows, see `sql/006_issues.sql`) and the regression evidence that
`app.triage.lifecycle` turns into a derived status.

Limits: the list reads every issue of the period before filtering by status or text and
paging (fine for thousands of issues; `beacon bench triage` says how long); titles are
made for the page shown only, except when searching with `q`; users are Beacon's
daily-rotating visitor ids, so an issue's users over several days may count a person once
per day. State writes are serialized per process; two API processes changing the same
issue at the same moment may lose one change (the last version wins).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from typing import Any

import msgspec

from app.store.client import Store
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
]

ISSUE_ID = re.compile(r"^[0-9a-f]{16}$")
SORTS = ("events", "users", "sessions", "last_seen", "first_seen")
STATUSES = ("unresolved", "resolved", "ignored", "regressed", "all")
RECENT_EVENTS = 10
BREADCRUMBS = 10
BREADCRUMB_TYPES = ("pageview", "click", "submit")
_write_lock = threading.Lock()


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


def _utc(moment: dt.datetime) -> dt.datetime:
    """Bound parameter form of an instant (naive UTC, what the driver sends)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return _aware(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    where = "site_id = {site:String}"
    params: dict[str, Any] = {"site": site}
    if fingerprints is not None:
        where += " AND fingerprint IN {fps:Array(String)}"
        params["fps"] = fingerprints
    rows = store.rows(
        f"SELECT fingerprint, argMax(tuple({_STATE_COLUMNS}), version) "
        f"FROM {store.table('issue_state')} WHERE {where} GROUP BY fingerprint",
        params,
    )
    states = {}
    for fingerprint, values in rows:
        status, resolved_at, release, mode, ignored_at, until, assignee, version = values
        states[fingerprint] = IssueState(
            status=status,
            resolved_at=_aware(resolved_at),
            resolved_in_release=release,
            resolve_mode=mode,
            ignored_at=_aware(ignored_at),
            ignore_until_count=until,
            assignee=assignee,
            version=version,
        )
    return states


def _release_order(store: Store, site: str) -> ReleaseOrder:
    rows = store.rows(
        f"SELECT release, min(first_seen) FROM {store.table('issues_daily')} "
        "WHERE site_id = {site:String} AND release != '' GROUP BY release",
        {"site": site},
    )
    return ReleaseOrder({release: _aware(first) for release, first in rows})


def _seen_after(
    store: Store, site: str, since: dict[str, dt.datetime]
) -> dict[str, list[ReleaseSeen]]:
    """Per issue and release: events after the issue's own reference moment. Whole days
    after it come from the rollup, the reference day itself from raw events."""
    if not since:
        return {}
    fingerprints = sorted(since)
    times = [_utc(since[fp]) for fp in fingerprints]
    params: dict[str, Any] = {
        "site": site,
        "fps": fingerprints,
        "times": times,
        "days": sorted({t.date() for t in times}),
    }
    reference = (
        "transform(fingerprint, {fps:Array(String)}, {times:Array(DateTime64(3, 'UTC'))}, "
        "toDateTime64('2200-01-01 00:00:00', 3, 'UTC'))"
    )
    later_days = store.rows(
        "SELECT fingerprint, toString(release), min(first_seen), sum(events) "
        f"FROM {store.table('issues_daily')} "
        "WHERE site_id = {site:String} AND fingerprint IN {fps:Array(String)} "
        f"AND day > toDate({reference}) GROUP BY fingerprint, release",
        params,
    )
    same_day = store.rows(
        "SELECT fingerprint, toString(release), min(ts), count() "
        f"FROM {store.table('events')} "
        "WHERE site_id = {site:String} AND toDate(ts) IN {days:Array(Date)} "
        "AND type = 'error' AND fingerprint IN {fps:Array(String)} "
        f"AND toDate(ts) = toDate({reference}) AND ts > {reference} "
        "GROUP BY fingerprint, release",
        params,
    )
    merged: dict[tuple[str, str], tuple[dt.datetime, int]] = {}
    for fingerprint, release, first_ts, count in [*later_days, *same_day]:
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
    order = (
        _release_order(store, site)
        if any(s.status == "resolved" for s in states.values())
        else ReleaseOrder({})
    )
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


def _day_ceil(moment: dt.datetime) -> dt.datetime:
    floor = _day_floor(moment)
    return floor if floor == _aware(moment) else floor + dt.timedelta(days=1)


def _day_floor(moment: dt.datetime) -> dt.datetime:
    return _aware(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def _period_aggregates(
    store: Store,
    site: str,
    start: dt.datetime,
    end: dt.datetime,
    fingerprint: str | None = None,
) -> list[tuple[Any, ...]]:
    """(fingerprint, events, users, sessions) per issue with events in [start, end):
    whole UTC days from the rollup, the partial days at the edges from raw events."""
    first_day, last_day = _day_ceil(start), _day_floor(end)
    params: dict[str, Any] = {"site": site}
    only = ""
    if fingerprint is not None:
        only = " AND fingerprint = {fp:String}"
        params["fp"] = fingerprint
    parts = []
    if first_day < last_day:
        params.update(d0=first_day.date(), d1=last_day.date())
        parts.append(
            "SELECT fingerprint, events, users, sessions "
            f"FROM {store.table('issues_daily')} WHERE site_id = {{site:String}}{only} "
            "AND day >= {d0:Date} AND day < {d1:Date}"
        )
        edges = [(start, first_day), (last_day, end)]
    else:
        edges = [(start, end)]
    ranges = []
    for index, (lo, hi) in enumerate(edges):
        if lo < hi:
            params[f"lo{index}"], params[f"hi{index}"] = _utc(lo), _utc(hi)
            lo_param = f"{{lo{index}:DateTime64(3, 'UTC')}}"
            hi_param = f"{{hi{index}:DateTime64(3, 'UTC')}}"
            ranges.append(f"(ts >= {lo_param} AND ts < {hi_param})")
    if ranges:
        parts.append(
            "SELECT fingerprint, count() AS events, uniqState(visitor_id) AS users, "
            "uniqState(cityHash64(sid, session_seq)) AS sessions "
            f"FROM {store.table('events')} WHERE site_id = {{site:String}}{only} "
            f"AND type = 'error' AND fingerprint != '' AND ({' OR '.join(ranges)}) "
            "GROUP BY fingerprint"
        )
    return store.rows(
        "SELECT fingerprint, sum(events), uniqMerge(users), uniqMerge(sessions) FROM ("
        + " UNION ALL ".join(parts)
        + ") GROUP BY fingerprint",
        params,
    )


def _lifetimes(store: Store, site: str, fingerprints: list[str]) -> dict[str, tuple[Any, ...]]:
    """fingerprint -> (first_seen, last_seen, first_release, last_release), all time."""
    if not fingerprints:
        return {}
    rows = store.rows(
        "SELECT fingerprint, min(first_seen), max(last_seen), argMin(release, first_seen), "
        f"argMax(release, last_seen) FROM {store.table('issues_daily')} "
        "WHERE site_id = {site:String} AND fingerprint IN {fps:Array(String)} "
        "GROUP BY fingerprint",
        {"site": site, "fps": fingerprints},
    )
    return {row[0]: row[1:] for row in rows}


def _samples(store: Store, site: str, fingerprints: list[str]) -> dict[str, tuple[Any, ...]]:
    """fingerprint -> a recent event's (kind, type, message, culprit, file, req_url,
    status, method)."""
    if not fingerprints:
        return {}
    rows = store.rows(
        f"SELECT fingerprint, anyLast(sample) FROM {store.table('issues_daily')} "
        "WHERE site_id = {site:String} AND fingerprint IN {fps:Array(String)} "
        "GROUP BY fingerprint",
        {"site": site, "fps": fingerprints},
    )
    return {fingerprint: sample for fingerprint, sample in rows}


def _summary(
    counts: tuple[Any, ...],
    lifetime: tuple[Any, ...],
    state: IssueState,
    effective: Effective,
) -> dict[str, Any]:
    fingerprint, events, users, sessions = counts
    first, last, first_rel, last_rel = lifetime
    return {
        "issue_id": fingerprint,
        **_state_json(state, effective),
        "events": events,
        "users": users,
        "sessions": sessions,
        "first_seen": _iso(first),
        "last_seen": _iso(last),
        "first_release": first_rel or None,
        "last_release": last_rel or None,
    }


def _describe(summary: dict[str, Any], sample: tuple[Any, ...] | None) -> dict[str, Any]:
    kind, type_, message, culprit = sample[:4] if sample else ("", "", "", "")
    return {
        "issue_id": summary["issue_id"],
        "title": _title(sample) if sample else "",
        "type": type_,
        "message": message,
        "culprit": culprit,
        "error_kind": kind,
        **{k: v for k, v in summary.items() if k != "issue_id"},
    }


def _matches(fingerprint: str, sample: tuple[Any, ...] | None, needle: str) -> bool:
    parts = [fingerprint]
    if sample:
        parts += [_title(sample), str(sample[1]), str(sample[2]), str(sample[3])]
    return needle.lower() in " ".join(parts).lower()


_SORT_INDEX = {"events": 1, "users": 2, "sessions": 3, "first_seen": 4, "last_seen": 5}


def list_issues(store: Store, query: IssueQuery) -> dict[str, Any]:
    """Issues with events in the period. Counts come first, then the triage state, so a
    status accounts for every event counted; titles are read for the page shown only
    (or for every candidate when searching)."""
    counts = _period_aggregates(store, query.site, query.start, query.end)
    fingerprints = [row[0] for row in counts]
    lifetimes = _lifetimes(store, query.site, fingerprints)
    states = _states(store, query.site)
    relevant = {fp: states.get(fp, IssueState()) for fp in fingerprints}
    effective = _effective(
        store, query.site, {fp: s for fp, s in relevant.items() if s.status != "unresolved"}
    )
    # (fingerprint, events, users, sessions, first_seen, last_seen): raw values to filter
    # and sort on; only the page shown is formatted.
    records = [
        (fp, events, users, sessions, *lifetimes[fp][:2])
        for fp, events, users, sessions in counts
        if fp in lifetimes
    ]
    status_of = {
        fp: effective[fp].status if fp in effective else relevant[fp].status for fp in fingerprints
    }
    if "all" not in query.statuses:
        records = [r for r in records if status_of[r[0]] in query.statuses]
    samples: dict[str, tuple[Any, ...]] = {}
    if query.q:
        samples = _samples(store, query.site, [r[0] for r in records])
        records = [r for r in records if _matches(r[0], samples.get(r[0]), query.q)]
    index = _SORT_INDEX[query.sort]
    records.sort(key=lambda r: (r[index], r[0]), reverse=True)
    page = records[query.offset : query.offset + query.limit]
    if not query.q:
        samples = _samples(store, query.site, [r[0] for r in page])
    issues = []
    for fp, events, users, sessions, *_ in page:
        state = relevant[fp]
        summary = _summary(
            (fp, events, users, sessions),
            lifetimes[fp],
            state,
            effective.get(fp, Effective(state.status)),
        )
        issues.append(_describe(summary, samples.get(fp)))
    return {
        "site": query.site,
        "from": _iso(query.start),
        "to": _iso(query.end),
        "total": len(records),
        "issues": issues,
    }


# -- detail --------------------------------------------------------------------------


_BREAKDOWNS = ("browser", "os", "path", "release")


def _breakdowns(
    store: Store, site: str, fingerprint: str, query: IssueQuery
) -> dict[str, list[dict[str, Any]]]:
    """Events and users by browser, os, page and release: one scan, grouping sets."""
    rows = store.rows(
        "SELECT toString(browser), toString(os), path, toString(release), "
        "grouping(browser, os, path, release) AS g, count(), uniq(visitor_id) "
        f"FROM {store.table('events')} "
        "WHERE site_id = {site:String} AND type = 'error' AND fingerprint = {fp:String} "
        "AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} "
        "GROUP BY GROUPING SETS ((browser), (os), (path), (release))",
        {"site": site, "fp": fingerprint, "start": _utc(query.start), "end": _utc(query.end)},
    )
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in _BREAKDOWNS}
    # grouping() sets bit (3 - i) when column i is NOT grouped: the grouped one is the 0 bit.
    bit_of = {0b0111: 0, 0b1011: 1, 0b1101: 2, 0b1110: 3}
    for *values, g, events, users in rows:
        column = bit_of[g]
        out[_BREAKDOWNS[column]].append({"value": values[column], "events": events, "users": users})
    for name in _BREAKDOWNS:
        out[name] = sorted(out[name], key=lambda b: (-b["events"], b["value"]))[:20]
    return out


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


def _recent_events(
    store: Store, site: str, fingerprint: str, query: IssueQuery
) -> list[dict[str, Any]]:
    columns = ", ".join(
        f"toString({c})"
        if c
        in (
            "release",
            "error_kind",
            "error_type",
            "browser",
            "browser_version",
            "os",
            "device",
            "country",
            "method",
        )
        else c
        for c in _RECENT_COLUMNS
    )
    rows = store.rows(
        f"SELECT {columns} FROM {store.table('events')} "
        "WHERE site_id = {site:String} AND type = 'error' AND fingerprint = {fp:String} "
        "AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} "
        f"ORDER BY ts DESC LIMIT {RECENT_EVENTS}",
        {"site": site, "fp": fingerprint, "start": _utc(query.start), "end": _utc(query.end)},
    )
    events = [dict(zip(_RECENT_COLUMNS, row, strict=True)) for row in rows]
    if not events:
        return []
    # Breadcrumbs: the page views and interactions before each error in its session.
    sids = sorted({e["sid"] for e in events})
    earliest = min(_aware(e["ts"]) for e in events) - dt.timedelta(days=1)
    latest = max(_aware(e["ts"]) for e in events)
    crumbs = store.rows(
        "SELECT sid, session_seq, ts, toString(type), path, target, text, title "
        f"FROM {store.table('events')} "
        "WHERE site_id = {site:String} AND sid IN {sids:Array(String)} "
        "AND type IN {types:Array(String)} "
        "AND ts >= {start:DateTime64(3, 'UTC')} AND ts <= {end:DateTime64(3, 'UTC')} "
        "ORDER BY ts",
        {
            "site": site,
            "sids": sids,
            "types": list(BREADCRUMB_TYPES),
            "start": _utc(earliest),
            "end": _utc(latest),
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


def _histogram(
    store: Store, site: str, fingerprint: str, query: IssueQuery
) -> list[dict[str, Any]]:
    rows = store.rows(
        "SELECT toStartOfHour(ts) AS hour, count() "
        f"FROM {store.table('events')} "
        "WHERE site_id = {site:String} AND type = 'error' AND fingerprint = {fp:String} "
        "AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} "
        "GROUP BY hour ORDER BY hour",
        {"site": site, "fp": fingerprint, "start": _utc(query.start), "end": _utc(query.end)},
    )
    return [{"hour": _iso(hour), "events": events} for hour, events in rows]


def _history(store: Store, site: str, fingerprint: str) -> list[dict[str, Any]]:
    rows = store.rows(
        f"SELECT at, toString(action), actor, detail FROM {store.table('issue_history')} "
        "WHERE site_id = {site:String} AND fingerprint = {fp:String} ORDER BY at, version",
        {"site": site, "fp": fingerprint},
    )
    return [
        {"at": _iso(at), "action": action, "by": actor or None, **json.loads(detail or "{}")}
        for at, action, actor, detail in rows
    ]


def _exists(store: Store, site: str, fingerprint: str) -> bool:
    rows = store.rows(
        f"SELECT count() FROM {store.table('issues_daily')} "
        "WHERE site_id = {site:String} AND fingerprint = {fp:String}",
        {"site": site, "fp": fingerprint},
    )
    return bool(rows and rows[0][0])


def issue_detail(store: Store, query: IssueQuery, fingerprint: str) -> dict[str, Any]:
    if not ISSUE_ID.match(fingerprint) or not _exists(store, query.site, fingerprint):
        raise IssueNotFound(fingerprint)
    # Counts first, state after: the status then accounts for every event counted.
    rows = _period_aggregates(store, query.site, query.start, query.end, fingerprint)
    lifetime = _lifetimes(store, query.site, [fingerprint])[fingerprint]
    sample = _samples(store, query.site, [fingerprint]).get(fingerprint)
    state = _states(store, query.site, [fingerprint]).get(fingerprint, IssueState())
    effective = _effective(store, query.site, {fingerprint: state})[fingerprint]
    counts = rows[0] if rows else (fingerprint, 0, 0, 0)
    summary = _describe(_summary(counts, lifetime, state, effective), sample)
    recent = _recent_events(store, query.site, fingerprint, query)
    latest = recent[0] if recent else None
    frames: list[dict[str, Any]] = []
    if latest and latest["stack"]:
        parsed = parse_stack(latest["stack"])
        maps = load_maps(
            store,
            query.site,
            latest["release"],
            [file_key(f.abs_path) for f in parsed if f.abs_path and not f.native],
        )
        frames = [msgspec.to_builtins(frame) for frame in deminify(parsed, maps)]
    breakdowns = _breakdowns(store, query.site, fingerprint, query)
    culprit_frame = next((f for f in frames if f["in_app"]), frames[0] if frames else None)
    return {
        **summary,
        "from": _iso(query.start),
        "to": _iso(query.end),
        "culprit_frame": culprit_frame,
        "stack": frames,
        "browsers": breakdowns["browser"],
        "os": breakdowns["os"],
        "pages": breakdowns["path"],
        "releases": breakdowns["release"],
        "histogram": _histogram(store, query.site, fingerprint, query),
        "recent_events": recent,
        "history": _history(store, query.site, fingerprint),
    }


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
