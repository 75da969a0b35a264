"""`beacon bench triage`: issue list and detail latency over many error events (chdb).

Fills a scratch database with N synthetic error events (default 1 million over 30 days:
`--issues` distinct fingerprints with a Zipf-like spread, 10 releases rolled out over the
period, four browsers, sessions with a page view and a click before each error for the
breadcrumbs) in one INSERT … SELECT, so `issues_daily` is fed by the same materialized
view as real traffic, then closes the days that can no longer change, as a running
server's closer would have (app/store/closing.py). A tenth of the issues is resolved
half-way through the period, so the list pays for regression checks. Then it times,
through the same functions the API calls, the list (default filter, text search, all
statuses by users), the detail of the biggest and of a middling issue, and a triage
change, and reports medians, plus the first list and the first detail of each issue in
a fresh process (before any cache).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable
from typing import Any

from app.bench.stats import median_ms
from app.config import Settings
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import closable_until, close_days
from app.store.migrate import apply_migrations
from app.triage.issues import IssueQuery, change_issue, issue_detail, list_issues
from app.triage.lifecycle import Assign, Resolve
from app.triage.rollups import clear_cache

__all__ = ["fill_errors", "register", "run_triage_bench"]

SITE = "s_triage_bench"
STACK = (
    "TypeError: Cannot read properties of undefined (reading 'id')\n"
    "    at render (https://bench.test/assets/app-BkF3x9aZ.js:1:{col})\n"
    "    at loadPage (https://bench.test/assets/app-BkF3x9aZ.js:1:999)"
)


def register(benches: Any) -> None:
    parser = benches.add_parser("triage", help="issue list and detail latency over error events")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--issues", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run_triage_bench)


def fill_errors(
    store: Store, count: int, *, issues: int, end: dt.datetime, days: int = 30
) -> float:
    """Insert `count` error events (plus a page view and a click before each); seconds."""
    span_ms = days * 86_400_000
    end_ms = int(end.timestamp() * 1000)
    sql = f"""
    INSERT INTO {store.table("events")}
        (site_id, ts, received_at, type, sid, visitor_id, session_seq, session_start, pid,
         url, host, path, route, country, browser, os, device, target, error_kind,
         error_type, message, stack, release, fingerprint, culprit)
    SELECT
        {{site:String}},
        fromUnixTimestamp64Milli(toInt64(at_ms + (slot - 2) * 3000), 'UTC') AS ts,
        ts,
        ['pageview', 'click', 'error'][slot + 1] AS type,
        concat('sid', toString(n)),
        cityHash64(intDiv(n, 4)) % 200000 + 1,
        1,
        fromUnixTimestamp64Milli(toInt64(at_ms - 6000), 'UTC'),
        concat('pid', toString(n)),
        concat('https://bench.test', page),
        'bench.test',
        page,
        page,
        ['US', 'GB', 'DE', 'FR'][1 + n % 4],
        ['Chrome', 'Safari', 'Firefox', 'Edge'][1 + n % 4],
        ['Windows', 'iOS', 'Linux', 'Mac OS X'][1 + n % 4],
        'desktop',
        if(slot = 1, 'button#buy', ''),
        if(slot = 2, 'error', ''),
        if(slot = 2, ['TypeError', 'RangeError', 'Error'][1 + issue % 3], ''),
        if(slot = 2, concat('Failure number ', toString(issue), ' in render'), ''),
        if(slot = 2, replaceOne({{stack:String}}, '{{col}}', toString(issue)), ''),
        if(slot = 2, concat('1.', toString(toUInt32(intDiv((at_ms - {end_ms - span_ms}) * 10,
                                                        {span_ms})))), ''),
        if(slot = 2, leftPad(lower(hex(cityHash64(issue))), 16, '0'), ''),
        if(slot = 2, concat('render', toString(issue), ' (assets/app)'), '')
    FROM
    (
        SELECT
            intDiv(number, 3) AS n,
            number % 3 AS slot,
            toUInt32(pow((cityHash64(n, 'issue') % 1000000) / 1000000, 3) * {{issues:UInt32}})
                AS issue,
            {end_ms - span_ms} + intDiv(n * {span_ms}, {{count:UInt64}}) AS at_ms,
            concat('/p/', toString(cityHash64(n, 'page') % 200)) AS page
        FROM numbers({{rows:UInt64}})
    )
    """
    began = time.perf_counter()
    store.command(
        sql, {"site": SITE, "count": count, "rows": count * 3, "issues": issues, "stack": STACK}
    )
    return time.perf_counter() - began


def run_triage_bench(args: argparse.Namespace) -> int:
    events: int = args.events
    with tempfile.TemporaryDirectory(prefix="beacon-tbench-") as tmp:
        store = Store.open(Settings(data_dir=tmp, database="tbench"))
        apply_migrations(store, retention_days=400)
        end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        fill_seconds = fill_errors(store, events, issues=args.issues, end=end)
        # What a running server's closer has done by now (every 10 minutes): the days
        # that can no longer change, finalized (app/store/closing.py).
        began = time.perf_counter()
        age = dt.timedelta(hours=Settings().max_event_age_hours)
        # A second past the fill: the watermark is whole seconds, and sessions touched in
        # its own second would stay unsettled and stop the closer at their day.
        settled_at = dt.datetime.now(dt.UTC) + SETTLE_MARGIN + dt.timedelta(seconds=1)
        settle_sessions(store, now=settled_at)
        closed_days = len(close_days(store, until=closable_until(end, age)))
        close_seconds = time.perf_counter() - began
        stored = store.rows(f"SELECT count() FROM {store.table('events')} WHERE type = 'error'")[0][
            0
        ]
        rollup_rows = store.rows(f"SELECT count() FROM {store.table('issues_daily')}")[0][0]
        period = {"site": SITE, "start": end - dt.timedelta(days=30), "end": end}
        everything = list_issues(
            store, IssueQuery(**period, statuses=("all",), sort="events", limit=1_000_000)
        )
        ids = [i["issue_id"] for i in everything["issues"]]
        middle = ids[len(ids) // 2]
        halfway = end - dt.timedelta(days=15)
        for fingerprint in ids[::10]:
            change_issue(store, SITE, fingerprint, Resolve(), now=halfway)
        # A cold process: the first list pays for merging the closed days' rollup states
        # (app/triage/rollups.py caches them as plain numbers).
        clear_cache()
        began = time.perf_counter()
        list_issues(store, IssueQuery(**period))
        cold_list_ms = round((time.perf_counter() - began) * 1000, 1)
        # The first detail of each issue in the process (nothing of it read before).
        first_detail_ms = {}
        for name, fingerprint in (("biggest", ids[0]), ("middling", middle)):
            began = time.perf_counter()
            issue_detail(store, IssueQuery(**period), fingerprint)
            first_detail_ms[name] = round((time.perf_counter() - began) * 1000, 1)
        cases: dict[str, Callable[[], Any]] = {
            "baseline: count() of error events": lambda: store.rows(
                f"SELECT count() FROM {store.table('events')} WHERE type = 'error'"
            ),
            "list (unresolved+regressed, by last seen)": lambda: list_issues(
                store, IssueQuery(**period)
            ),
            "list (all, by users)": lambda: list_issues(
                store, IssueQuery(**period, statuses=("all",), sort="users")
            ),
            "list (search q)": lambda: list_issues(store, IssueQuery(**period, q="number 7")),
            "list (last 24 hours)": lambda: list_issues(
                store, IssueQuery(**{**period, "start": end - dt.timedelta(days=1)})
            ),
            "detail (biggest issue)": lambda: issue_detail(store, IssueQuery(**period), ids[0]),
            "detail (middling issue)": lambda: issue_detail(store, IssueQuery(**period), middle),
            "change (assign)": lambda: change_issue(store, SITE, middle, Assign(assignee="a")),
        }
        results = {name: median_ms(run, args.repeat) for name, run in cases.items()}
        regressed = sum(
            1 for i in list_issues(store, IssueQuery(**period, statuses=("regressed",)))["issues"]
        )
    report = {
        "error_events": int(stored),
        "issues": len(ids),
        "rollup_rows": int(rollup_rows),
        "resolved_issues": len(ids[::10]),
        "regressed_issues": regressed,
        "fill_seconds": round(fill_seconds, 1),
        "closed_days": closed_days,
        "close_seconds": round(close_seconds, 1),
        "first_list_ms": cold_list_ms,
        "first_detail_ms": first_detail_ms,
        "repeat": args.repeat,
        "median_ms": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{stored:,} error events, {len(ids):,} issues ({rollup_rows:,} rollup rows), "
            f"filled in {fill_seconds:.1f}s, {closed_days} days closed in {close_seconds:.1f}s; "
            f"{regressed} of {len(ids[::10])} resolved issues regressed; medians of "
            f"{args.repeat} runs; first in the process: list {cold_list_ms:.1f} ms, detail "
            f"biggest {first_detail_ms['biggest']:.1f} ms, middling "
            f"{first_detail_ms['middling']:.1f} ms"
        )
        for name, value in results.items():
            print(f"{name:44}{value:>10.1f} ms")
    return 0
