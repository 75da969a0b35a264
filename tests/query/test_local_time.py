"""DESIGN §6 "Periods and buckets" in local time: one question, one number.

Traffic dated around a local midnight of each zone — half-hour (Asia/Kolkata,
America/St_Johns) and 45-minute (Asia/Kathmandu) offsets, and New York's 25-hour day
when clocks went back (2026-11-01) — goes through the real ingest pipeline, with sessions
that cross local midnights, local hours and UTC midnight. Then every answer that counts
page views (time series per local hour and day, the overview, the sum of every breakdown
dimension), sessions and vital and error samples must equal one independent count made
here from the generated events: page views, samples and errors by their own time,
sessions by their start. Each is asked on three store paths: with every session open
(merged from the `sessions` rollup) and the days open, with a no-op filter (which reads
raw events of the matching sessions everywhere), and after the sessions are settled and
the days closed (plain numbers of `sessions_settled`, `session_slots_closed`,
`traffic_days_closed`, `issue_days_closed`); periods are local days (raw edges around
the UTC days of the rollups), several local days, and UTC-aligned periods (rollups only).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from app.query import metrics, vitals
from app.query import traffic as traffic_module
from app.query.params import DIMENSIONS, parse_query
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import close_days
from app.triage.issues import IssueQuery, list_issues
from tests.inprocess import LocalIngest, scratch_store
from tests.support import CHROME_UA

MIN = dt.timedelta(minutes=1)
#: The zones and the local day at whose start their traffic is centred.
ZONES = {
    "Asia/Kolkata": dt.date(2026, 11, 24),
    "Asia/Kathmandu": dt.date(2026, 11, 25),
    "America/St_Johns": dt.date(2026, 11, 26),
    "America/New_York": dt.date(2026, 11, 1),  # 25 hours: 01:00-02:00 happens twice
}
#: A filter that matches every session but makes every answer read raw events.
NO_OP_FILTER = {"utm_campaign!": ["no-such-campaign"]}


class Event(msgspec.Struct, frozen=True):
    ts: dt.datetime
    type: str
    session: int


class Traffic(msgspec.Struct):
    site: str
    zone: ZoneInfo
    day: dt.date
    events: list[Event]
    session_starts: list[dt.datetime]


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _generate(ingest: LocalIngest, zone: ZoneInfo, day: dt.date, seed: int) -> Traffic:
    """About 500 sessions from the local day before `day` to the one after, a tenth of
    them started minutes before a local midnight; some session ids come back after a
    35-minute pause (two sessions server-side)."""
    rng = random.Random(seed)
    first = _local_midnight(day - dt.timedelta(days=1), zone)
    last = _local_midnight(day + dt.timedelta(days=2), zone)
    midnights = [_local_midnight(day + dt.timedelta(days=n), zone) for n in (0, 1)]
    visitors = [(f"10.0.{n // 250}.{n % 250}", f"{CHROME_UA} V/{n}") for n in range(120)]
    starts = [first + (last - first) * rng.random() for _ in range(450)]
    starts += [m - rng.uniform(1, 25) * MIN for m in midnights for _ in range(25)]
    starts.sort()
    traffic = Traffic(ingest.site, zone, day, [], [])
    for number, start in enumerate(starts):
        ip, agent = rng.choice(visitors)
        sid = f"sid-{seed}-{number}"
        parts = 2 if rng.random() < 0.08 else 1
        moment = start
        for part in range(parts):
            if part:
                moment += 35 * MIN + rng.uniform(0, 20) * MIN
            session = len(traffic.session_starts)
            traffic.session_starts.append(moment)
            batch: list[dict[str, Any]] = []
            for view in range(rng.randint(1, 5)):
                if view:
                    moment += rng.uniform(0.5, 14) * MIN
                pid = f"{sid}-{part}-{view}"
                url = f"https://local.test/p/{rng.randint(1, 12)}?utm_source=s{rng.randint(1, 3)}"
                batch.append({"t": "pageview", "ts": _ms(moment), "pid": pid, "url": url})
                traffic.events.append(Event(moment, "pageview", session))
                lcp = moment + dt.timedelta(seconds=rng.uniform(0.5, 50))
                batch.append(
                    {"t": "vital", "ts": _ms(lcp), "pid": pid, "name": "LCP", "value": 2000.0}
                )
                traffic.events.append(Event(lcp, "vital", session))
                if rng.random() < 0.15:
                    error = moment + dt.timedelta(seconds=rng.uniform(1, 60))
                    batch.append(
                        {"t": "error", "ts": _ms(error), "pid": pid, "kind": "error",
                         "type": "TypeError", "message": f"boom {rng.randint(1, 3)}"}
                    )  # fmt: skip
                    traffic.events.append(Event(error, "error", session))
            ordered = sorted(batch, key=lambda e: e["ts"])
            half = len(ordered) // 2 if rng.random() < 0.5 else len(ordered)
            for chunk in (ordered[:half], ordered[half:]):
                if chunk:
                    assert ingest.send(sid, chunk, ip=ip, user_agent=agent) == len(chunk)
    ingest.flush()
    return traffic


@pytest.fixture(scope="module")
def store(engine_dir: Any) -> Iterator[Store]:
    with scratch_store(engine_dir) as store:
        yield store


@pytest.fixture(scope="module")
def traffic(store: Store) -> dict[str, Traffic]:
    generated = {}
    for seed, (name, day) in enumerate(ZONES.items()):
        ingest = LocalIngest(store, f"s_{name.split('/')[1].lower()}", max_event_age_days=4000)
        generated[name] = _generate(ingest, ZoneInfo(name), day, seed)
    return generated


@pytest.fixture(scope="module")
def paths(store: Store) -> Callable[[str], None]:
    """Puts the store on a path. Settling cannot be undone: the open and raw paths are
    tested first, for every zone, then the settled one."""
    state = {"settled": False}

    def go(path: str) -> None:
        if path == "settled" and not state["settled"]:
            later = dt.datetime.now(dt.UTC) + SETTLE_MARGIN + dt.timedelta(seconds=2)
            settle_sessions(store, now=later)
            until = dt.date(2026, 11, 30)
            close_days(store, until=until)
            state["settled"] = True
        assert state["settled"] == (path == "settled")

    return go


def _params(path: str, **params: str) -> dict[str, list[str]]:
    found = {k: [v] for k, v in params.items()}
    return {**found, **NO_OP_FILTER} if path == "raw" else found


def _local_key(moment: dt.datetime, zone: ZoneInfo, interval: str) -> dt.datetime:
    """The UTC start of `moment`'s local hour or day."""
    local = moment.astimezone(zone)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    return _local_midnight(local.date(), zone)


def _truth(traffic: Traffic, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    inside = [e for e in traffic.events if start <= e.ts < end]
    counts = Counter(e.type for e in inside)
    return {
        "pageviews": counts["pageview"],
        "vitals": counts["vital"],
        "errors": counts["error"],
        "sessions": sum(start <= s < end for s in traffic.session_starts),
    }


def _visitors(store: Store, site: str, start: dt.datetime, end: dt.datetime) -> int:
    """Distinct visitors with any stored event in [start, end), counted directly."""
    return int(
        store.rows(
            f"SELECT uniqExact(visitor_id) FROM {store.table('events')} "
            "WHERE site_id = {s:String} AND ts >= {a:DateTime64(3, 'UTC')} "
            "AND ts < {b:DateTime64(3, 'UTC')}",
            {"s": site, "a": start.replace(tzinfo=None), "b": end.replace(tzinfo=None)},
        )[0][0]
    )


def _periods(traffic: Traffic) -> list[tuple[dict[str, str], dt.datetime, dt.datetime]]:
    """(parameters, UTC start, UTC end): each local day, the three days together, and a
    period of whole UTC days."""
    zone, day = traffic.zone, traffic.day
    periods = []
    for offset in (-1, 0, 1):
        local = day + dt.timedelta(days=offset)
        periods.append(
            (
                {"from": local.isoformat(), "to": local.isoformat()},
                _local_midnight(local, zone),
                _local_midnight(local + dt.timedelta(days=1), zone),
            )
        )
    first, last = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    periods.append(
        (
            {"from": first.isoformat(), "to": last.isoformat()},
            _local_midnight(first, zone),
            _local_midnight(last + dt.timedelta(days=1), zone),
        )
    )
    utc_start = dt.datetime.combine(day, dt.time(), dt.UTC)
    utc_end = utc_start + dt.timedelta(days=1)
    periods.append(({"from": utc_start.isoformat(), "to": utc_end.isoformat()}, utc_start, utc_end))
    return periods


@pytest.mark.parametrize("zone", list(ZONES))
def test_every_answer_counts_by_local_time(
    store: Store, traffic: dict[str, Traffic], paths: Callable[[str], None], zone: str
) -> None:
    for path in ("open", "raw"):
        paths(path)
        _check(store, traffic[zone], path)


def test_edge_sessions_beyond_the_bound_are_found_by_a_subquery(
    store: Store, traffic: dict[str, Traffic], monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = traffic["Asia/Kolkata"]
    day = generated.day.isoformat()
    query = parse_query(generated.site, {"from": [day], "to": [day], "tz": ["Asia/Kolkata"]})
    page = parse_query(
        generated.site,
        {"from": [day], "to": [day], "tz": ["Asia/Kolkata"], "entry_page!": ["/nowhere"]},
    )
    bound = (metrics.overview(store, query), metrics.breakdown(store, page, "source"))
    assert traffic_module.edge_sessions(store, query).crossing  # some cross the edges
    monkeypatch.setattr(traffic_module, "MAX_BOUND_EDGES", 0)
    assert traffic_module.edge_sessions(store, query).overflow
    assert (metrics.overview(store, query), metrics.breakdown(store, page, "source")) == bound


def test_every_answer_counts_by_local_time_once_settled(
    store: Store, traffic: dict[str, Traffic], paths: Callable[[str], None]
) -> None:
    paths("settled")
    for generated in traffic.values():
        _check(store, generated, "settled")


def _check(store: Store, generated: Traffic, path: str) -> None:
    site, zone, tz = generated.site, generated.zone, generated.zone.key
    # Time series: each local hour and day of the three days around the midnight.
    first = (generated.day - dt.timedelta(days=1)).isoformat()
    last = (generated.day + dt.timedelta(days=1)).isoformat()
    for interval in ("hour", "day"):
        params = _params(path, **{"from": first, "to": last, "tz": tz, "interval": interval})
        params["metric"] = ["pageviews,sessions,visitors"]
        query = parse_query(site, params, allowed=["interval", "metric"])
        series = metrics.timeseries(store, query)["results"]
        # The three whole local days, whatever the API made of from/to.
        begin = _local_midnight(generated.day - dt.timedelta(days=1), zone)
        finish = _local_midnight(generated.day + dt.timedelta(days=2), zone)
        pageviews: Counter[dt.datetime] = Counter()
        sessions: Counter[dt.datetime] = Counter()
        for event in generated.events:
            if event.type == "pageview" and begin <= event.ts < finish:
                pageviews[_local_key(event.ts, zone, interval)] += 1
        for start in generated.session_starts:
            if begin <= start < finish:
                sessions[_local_key(start, zone, interval)] += 1
        by_start = {dt.datetime.fromisoformat(p["start"]).astimezone(dt.UTC): p for p in series}
        assert len(by_start) == len(series), "two buckets with one start"
        expected_buckets = 72 if interval == "hour" else 3
        if zone.key == "America/New_York" and interval == "hour":
            expected_buckets += 1  # 2026-11-01 has 25 hours
        assert len(series) == expected_buckets, (path, interval)
        assert {k: p["pageviews"] for k, p in by_start.items() if p["pageviews"]} == dict(
            pageviews
        ), (path, interval)
        assert {k: p["sessions"] for k, p in by_start.items() if p["sessions"]} == dict(sessions), (
            path,
            interval,
        )
        for bucket_start, point in list(by_start.items())[:30]:
            end = bucket_start + (dt.timedelta(hours=1) if interval == "hour" else dt.timedelta(1))
            if interval == "day":
                end = _local_midnight(bucket_start.astimezone(zone).date() + dt.timedelta(1), zone)
            assert point["visitors"] == _visitors(store, site, bucket_start, end), (path, point)
    # Overview, vitals and issues of each period; breakdowns of the local day at whose start
    # the traffic is centred, of the three days, and of the UTC-aligned period.
    periods = _periods(generated)
    breakdown_periods = [periods[1][0], *(p for p, _, _ in periods[3:])]
    for period, start, end in periods:
        truth = _truth(generated, start, end)
        query = parse_query(site, _params(path, **period, tz=tz))
        overview = metrics.overview(store, query)
        label = (path, period)
        assert overview["pageviews"] == truth["pageviews"], label
        assert overview["sessions"] == truth["sessions"], label
        assert overview["visitors"] == _visitors(store, site, start, end), label
        listing = parse_query(
            site, _params(path, **period, tz=tz, limit="10000"), allowed=["limit"]
        )
        for dimension, spec in DIMENSIONS.items() if period in breakdown_periods else ():
            rows = metrics.breakdown(store, listing, dimension)["results"]
            assert sum(r["pageviews"] for r in rows) == truth["pageviews"], (*label, dimension)
            if spec.session_column:
                assert sum(r["sessions"] for r in rows) == truth["sessions"], (*label, dimension)
        samples = vitals.vitals(store, query)["metrics"]["LCP"]["samples"]
        assert samples == truth["vitals"], label
        if path != "raw":  # the issue list takes no analytics filters
            issues = list_issues(
                store, IssueQuery(site=site, start=query.start, end=query.end, statuses=("all",))
            )
            assert sum(i["events"] for i in issues["issues"]) == truth["errors"], label
