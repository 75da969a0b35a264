"""`beacon bench queries`: dashboard query latency on millions of events (embedded chdb).

Fills a scratch database with N synthetic events (default 10 million: sessions of 12
events over 30 days, Zipf-like pages, vitals, clicks, errors) with INSERT … SELECT in
chunks of `--chunk` events (memory stays bounded; progress and the fill rate go to
stderr), so the rollups are fed by the same materialized views as real traffic: all but
the last half hour, then a settling run, then the last half hour (open, as in a running
server). Then runs each dashboard query repeatedly through the same functions the API
uses and reports medians, with a plain `count()` scan of the same rows, in the same run,
as the ratio's base. "vitals by page" is reported warm (its settled days cached, as in a
running server) and with the cache emptied before each run (as the first call of a fresh
process). Three filtered queries follow: a session dimension (device), a page, and vitals
by page with a device filter (the rollups by device class, their settled part cached like
the unfiltered one: reported warm and cold).

Also reported: the fill rate (events/s), the store's size on disk (`system.parts` per
table, and the data directory as `du` counts it) and the process's peak RSS. `--keep
DIR` fills a store in DIR and keeps it; `--reuse DIR` queries a kept store without
filling (a 100M-event fill takes a while). Every query asks the last 30 days of the
zone `--tz` (default UTC) as dates, as a person there would: from local midnight to the
local midnight after the fill's last event.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from app.bench.stats import median_ms
from app.config import Settings
from app.query import metrics, sessions, vitals, vitals_cache
from app.query.params import parse_query
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import closable_until, close_days
from app.store.migrate import apply_migrations

__all__ = ["fill_events", "register", "run_query_bench"]

SITE = "s_bench"
EVENTS_PER_SESSION = 12


def fill_events(
    store: Store,
    count: int,
    *,
    end: dt.datetime,
    days: int = 30,
    part: tuple[int, int] | None = None,
    site: str = SITE,
) -> float:
    """Insert `count` synthetic events of `site` ending at `end`, or only those numbered in
    the half-open range `part` of them (in time order); returns the seconds it took."""
    first, last = part or (0, count)
    sessions = max(count // EVENTS_PER_SESSION, 1)
    span_ms = days * 86_400_000
    end_ms = int(end.timestamp() * 1000)
    # Per event n: its session k, its slot in the session, and pseudo-random draws.
    sql = f"""
    INSERT INTO {store.table("events")}
        (site_id, ts, received_at, type, sid, visitor_id, session_seq, session_start, pid,
         url, host, path, route, referrer_source, referrer_domain, country, browser, os,
         device, name, value, rating, target, error_kind, error_type, message, fingerprint,
         rage, scroll_depth, engaged_ms)
    SELECT
        {{site:String}},
        fromUnixTimestamp64Milli(toInt64(start_ms + slot * 20000), 'UTC') AS ts,
        ts,
        multiIf(slot IN (0, 6), 'pageview', slot IN (1, 2, 3, 4, 7), 'vital',
                slot = 5, 'click', slot = 8, 'engagement', slot = 9, 'scroll',
                slot = 10 AND k % 17 = 0, 'error', slot = 10, 'custom', 'timing') AS type,
        concat('sid', toString(k)),
        intDiv(k, 3) + 1,
        0,
        fromUnixTimestamp64Milli(toInt64(start_ms), 'UTC'),
        concat('pid', toString(k), '-', toString(slot >= 6)),
        concat('https://bench.test', page),
        'bench.test',
        page,
        page,
        ['direct', 'search', 'social', 'other'][1 + k % 4],
        ['', 'google.com', 'twitter.com', 'partner.test'][1 + k % 4],
        ['US', 'GB', 'DE', 'FR', 'IN', 'BR'][1 + k % 6],
        ['Chrome', 'Safari', 'Firefox', 'Edge'][1 + k % 4],
        ['Windows', 'iOS', 'Android', 'Mac OS X'][1 + k % 4],
        ['desktop', 'mobile', 'desktop', 'tablet'][1 + k % 4],
        multiIf(slot = 1, 'LCP', slot = 2, 'FCP', slot = 3, 'TTFB', slot = 4, 'CLS',
                slot = 7, 'INP', slot = 10 AND k % 17 != 0, 'signup', ''),
        multiIf(slot = 1, 800 + r * 4000, slot = 2, 400 + r * 2500, slot = 3, 50 + r * 1500,
                slot = 4, r * r * 0.4, slot = 7, 8 * floor(5 + r * 70), 0),
        multiIf(slot = 1, if(800 + r * 4000 <= 2500, 'good', if(800 + r * 4000 <= 4000,
                'needs-improvement', 'poor')), slot IN (2, 3, 4, 7), 'good', ''),
        multiIf(slot = 1, ['main>img.hero', 'h1', 'section>p'][1 + k % 3], slot = 5,
                'button#buy', slot = 7, 'button#buy', ''),
        if(type = 'error', 'error', ''),
        if(type = 'error', 'TypeError', ''),
        if(type = 'error', 'x is undefined', ''),
        if(type = 'error', lower(hex(k % 40)), ''),
        0,
        if(slot = 9, toUInt8(r * 100), 0),
        if(slot = 8, toUInt32(r * 120000), 0)
    FROM
    (
        SELECT
            number AS n,
            intDiv(number, {EVENTS_PER_SESSION}) AS k,
            number % {EVENTS_PER_SESSION} AS slot,
            {end_ms - span_ms} + intDiv(k * {span_ms}, {sessions}) AS start_ms,
            (cityHash64(number) % 1000000) / 1000000 AS r,
            concat('/p/', toString(toUInt32(pow((cityHash64(k) % 1000) / 1000, 3) * 500))) AS page
        FROM numbers({{first:UInt64}}, {{rows:UInt64}})
    )
    """
    began = time.perf_counter()
    store.command(sql, {"site": site, "first": first, "rows": last - first})
    return time.perf_counter() - began


def register(benches: Any) -> None:
    parser = benches.add_parser("queries", help="dashboard query latency on synthetic events")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=5_000_000, help="events per fill insert")
    parser.add_argument("--tz", default="UTC", help="time zone of every query (IANA name)")
    parser.add_argument("--keep", metavar="DIR", help="fill a store in DIR and keep it")
    parser.add_argument("--reuse", metavar="DIR", help="query a store kept with --keep")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run_query_bench)


class _Meta(msgspec.Struct):
    """What a kept store holds (`bench-queries.json` beside it)."""

    events: int
    end: dt.datetime
    fill_seconds: float
    settle_seconds: float


def _fill(store: Store, events: int, chunk: int, end: dt.datetime) -> tuple[float, float]:
    """All but the last half hour in chunks, a settling run, the last half hour, the
    page days closed; returns (fill seconds, settle seconds)."""
    tail = max(events // 1440, 1)
    fill_seconds = 0.0
    first = 0
    while first < events - tail:
        last = min(first + chunk, events - tail)
        fill_seconds += fill_events(store, events, end=end, part=(first, last))
        first = last
        print(
            f"filled {last:,} of {events:,} events in {fill_seconds:.0f} s "
            f"({last / fill_seconds:,.0f} events/s)",
            file=sys.stderr,
        )
    # Settled as a running server does every few minutes (the run dated one margin after
    # the fill, so that everything inserted so far is behind its watermark); then the
    # last half hour arrives and stays open, like the sessions touched since the last
    # run in a running server.
    began = time.perf_counter()
    settle_sessions(store, now=dt.datetime.now(dt.UTC) + SETTLE_MARGIN)
    settle_seconds = time.perf_counter() - began
    fill_seconds += fill_events(store, events, end=end, part=(events - tail, events))
    # Page days that can no longer change are closed, as the server does (the last 4
    # days stay open).
    began = time.perf_counter()
    close_days(store, until=closable_until(end, dt.timedelta(hours=72)))
    settle_seconds += time.perf_counter() - began
    return fill_seconds, settle_seconds


def _disk(store: Store, directory: Path) -> dict[str, Any]:
    tables = store.rows(
        "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes), count() "
        "FROM system.parts WHERE active AND database = {db:String} GROUP BY table "
        "ORDER BY sum(bytes_on_disk) DESC",
        {"db": store.db},
    )
    used = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                used += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return {
        "tables": {
            t: {"rows": int(r), "bytes_on_disk": int(b), "uncompressed_bytes": int(u),
                "parts": int(p)}
            for t, r, b, u, p in tables
        },
        "parts_bytes_on_disk": int(sum(row[2] for row in tables)),
        "data_dir_bytes": used,
    }  # fmt: skip


def run_query_bench(args: argparse.Namespace) -> int:
    if args.keep and args.reuse:
        raise ValueError("--keep fills a new store and --reuse reads one: give one of them")
    with tempfile.TemporaryDirectory(prefix="beacon-qbench-") as tmp:
        directory = Path(args.reuse or args.keep or tmp)
        meta_file = directory / "bench-queries.json"
        if args.reuse and not meta_file.exists():
            raise ValueError(f"--reuse {directory}: no store kept by --keep there")
        if args.keep and meta_file.exists():
            raise ValueError(f"--keep {directory}: a store is there already (use --reuse)")
        directory.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=str(directory), database="qbench")
        store = Store.open(settings)
        # A kept store may come from an older version: brought up to date as a server
        # starting on it would (before any timing).
        apply_migrations(store, retention_days=400)
        if args.reuse:
            meta = msgspec.json.decode(meta_file.read_bytes(), type=_Meta)
        else:
            end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
            fill_seconds, settle_seconds = _fill(store, args.events, args.chunk, end)
            meta = _Meta(args.events, end, round(fill_seconds, 1), round(settle_seconds, 1))
            if args.keep:
                meta_file.write_bytes(msgspec.json.encode(meta))
        report = _run_queries(store, meta, args, directory)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _run_queries(
    store: Store, meta: _Meta, args: argparse.Namespace, directory: Path
) -> dict[str, Any]:
    end, fill_seconds, settle_seconds = meta.end, meta.fill_seconds, meta.settle_seconds
    stored = store.rows(f"SELECT count() FROM {store.table('events')}")[0][0]
    # What a person asks in any zone, UTC included: the last 30 local days as dates. The
    # period starts and ends at local midnights (off UTC days and hours elsewhere), and
    # ends after the fill's last event, as a dashboard's period ends after "now": the
    # part after the settled hours is read anew in every zone alike.
    last_day = end.astimezone(ZoneInfo(args.tz)).date()
    first_day = last_day - dt.timedelta(days=29)
    period = {"from": [first_day.isoformat()], "to": [last_day.isoformat()], "tz": [args.tz]}
    query = parse_query(SITE, period)
    hourly = parse_query(SITE, {**period, "interval": ["hour"]}, allowed=["interval"])
    by_page = parse_query(SITE, {**period, "by": ["page"]}, allowed=["by"])
    # The dashboard's pages card asks for ten rows; the API's default is a hundred.
    ten_pages = parse_query(SITE, {**period, "limit": ["10"]}, allowed=["limit"])
    listing = parse_query(SITE, {**period, "limit": ["50"]}, allowed=["limit"])
    mobile = parse_query(SITE, {**period, "device": ["mobile"]})
    one_page = parse_query(SITE, {**period, "page": ["/p/1"]})
    mobile_by_page = parse_query(
        SITE, {**period, "by": ["page"], "device": ["mobile"]}, allowed=["by"]
    )
    table = store.table("events")
    cases: dict[str, Callable[[], Any]] = {
        # The same rows as the dashboard queries read: the site and the period.
        "baseline count() scan": lambda: store.rows(
            f"SELECT count() FROM {table} WHERE site_id = {{s:String}} "
            "AND ts >= {a:DateTime64(3, 'UTC')} AND ts < {b:DateTime64(3, 'UTC')}",
            {
                "s": SITE,
                "a": query.start.replace(tzinfo=None),
                "b": query.end.replace(tzinfo=None),
            },
        ),
        "overview (with previous)": lambda: metrics.overview(store, query),
        "timeseries hourly, 30 days": lambda: metrics.timeseries(store, hourly),
        "breakdown by page": lambda: metrics.breakdown(store, query, "page"),
        "breakdown by page, 10 rows": lambda: metrics.breakdown(store, ten_pages, "page"),
        "vitals by page": lambda: vitals.vitals(store, by_page),
        # As the first call of a fresh process: the settled days merged anew and cached.
        "vitals by page, cold cache": lambda: (
            vitals_cache.clear_cache(),
            vitals.vitals(store, by_page),
        ),
        "sessions list": lambda: sessions.session_list(store, listing),
        # With filters: a session dimension reads settled sessions; a page filter goes
        # through the page views; vitals with a device filter read the rollups by device
        # class (any other filter: raw vital events).
        "overview, device filter": lambda: metrics.overview(store, mobile),
        "overview, page filter": lambda: metrics.overview(store, one_page),
        "vitals by page, device filter": lambda: vitals.vitals(store, mobile_by_page),
        "vitals by page, device filter, cold cache": lambda: (
            vitals_cache.clear_cache(),
            vitals.vitals(store, mobile_by_page),
        ),
    }
    results = {name: median_ms(run, args.repeat) for name, run in cases.items()}
    base = results["baseline count() scan"]
    disk = _disk(store, directory)
    return {
        "events": int(stored),
        "tz": args.tz,
        "period": [query.start.isoformat(), query.end.isoformat()],
        "fill_seconds": fill_seconds,
        "fill_events_per_second": round(meta.events / fill_seconds) if fill_seconds else None,
        "settle_seconds": settle_seconds,
        "reused": bool(args.reuse),
        "disk": disk,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "repeat": args.repeat,
        "median_ms": results,
        "ratio_to_count_scan": {
            k: round(v / base, 2) if base else None for k, v in results.items()
        },
    }


def _print(report: dict[str, Any]) -> None:
    disk = report["disk"]
    filled = "a kept store, filled" if report["reused"] else "filled"
    print(
        f"{report['events']:,} events ({filled} in "
        f"{report['fill_seconds']:.1f} s, {report['fill_events_per_second'] or 0:,} events/s; "
        f"sessions settled and pages closed in {report['settle_seconds']:.1f} s); "
        f"on disk {disk['parts_bytes_on_disk'] / 2**20:,.0f} MiB in parts, data directory "
        f"{disk['data_dir_bytes'] / 2**20:,.0f} MiB; peak RSS {report['peak_rss_mb']} MiB; "
        f"tz {report['tz']}, period {report['period'][0]} to {report['period'][1]}; "
        f"medians of {report['repeat']} runs"
    )
    print(f"{'query':32}{'median ms':>11}{'x count()':>11}")
    for name, value in report["median_ms"].items():
        print(f"{name:32}{value:>11.1f}{report['ratio_to_count_scan'][name]:>11}")
    print(f"{'table':28}{'rows':>14}{'on disk MiB':>13}{'raw MiB':>10}{'parts':>7}")
    for table, t in disk["tables"].items():
        print(
            f"{table:28}{t['rows']:>14,}{t['bytes_on_disk'] / 2**20:>13.1f}"
            f"{t['uncompressed_bytes'] / 2**20:>10.1f}{t['parts']:>7}"
        )
