"""Closed days (app/store/closing.py): the same answers before and after days are closed,
each copy stored once, and pages by rollup equal to raw events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.bench.queries import SITE, fill_events
from app.query import metrics, vitals, vitals_cache
from app.query.params import parse_query
from app.query.sql import Sql, session_rows, touched_sessions
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import closable_until, close_days
from app.store.horizon import read_horizon

END = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)  # not midnight: raw edges at both ends
PERIOD = {"from": [(END - dt.timedelta(days=30)).isoformat()], "to": [END.isoformat()]}


def _answers(store: Store) -> tuple[Any, ...]:
    query = parse_query(SITE, {**PERIOD, "limit": ["500"]}, allowed=["limit"])
    by_page = parse_query(SITE, {**PERIOD, "by": ["page"]}, allowed=["by"])
    local = {**PERIOD, "tz": ["Asia/Kathmandu"]}
    daily = parse_query(SITE, {**local, "interval": ["day"]}, allowed=["interval"])
    hourly = parse_query(SITE, {**local, "interval": ["hour"]}, allowed=["interval"])
    return (
        metrics.breakdown(store, query, "page"),
        metrics.breakdown(store, query, "route"),
        vitals.vitals(store, by_page)["breakdown"],
        metrics.overview(store, parse_query(SITE, PERIOD)),
        metrics.overview(store, parse_query(SITE, local)),
        # Filtered and by a session's own column: read per session (settled, or closed).
        metrics.overview(store, parse_query(SITE, {**PERIOD, "device": ["desktop"]})),
        metrics.breakdown(store, query, "source"),
        metrics.timeseries(store, daily),
        metrics.timeseries(store, hourly),
    )


def _raw_pages(store: Store) -> dict[str, tuple[int, int, int, int]]:
    """(page views, visitors, sessions, errored page views) per page straight from the
    events: distinct counts over the whole period (DESIGN §6)."""
    rows = store.rows(
        "SELECT path, countIf(type = 'pageview'), uniqExactIf(visitor_id, type = 'pageview'), "
        "uniqExactIf((sid, session_seq), type = 'pageview'), uniqExactIf(pid, type = 'error') "
        f"FROM {store.table('events')} WHERE site_id = {{site:String}} "
        "AND ts >= {a:DateTime64(3, 'UTC')} AND ts < {b:DateTime64(3, 'UTC')} GROUP BY path",
        {
            "site": SITE,
            "a": (END - dt.timedelta(days=30)).replace(tzinfo=None),
            "b": END.replace(tzinfo=None),
        },
    )
    return {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows}


def _assert_same_vitals(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal samples and rating shares, the same values and attribution targets shown,
    percentiles within 1 % (t-digest states merged in other groups, e.g. a cached
    segment's, estimate a percentile a little differently)."""

    def figures(answer: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        rows = [("", name, summary) for name, summary in answer["metrics"].items()]
        for name, targets in answer["attribution"].items():
            rows += [(t["target"], name, t) for t in targets]
        for row in answer["breakdown"]:
            rows += [(row["value"], k, v) for k, v in row.items() if isinstance(v, dict)]
        return rows

    pairs = list(zip(figures(got), figures(expected), strict=True))
    assert len(pairs) > 50
    for (value, name, summary), (value_e, name_e, summary_e) in pairs:
        assert (value, name) == (value_e, name_e)
        for key, number in summary.items():
            if key.startswith("p") and key != "poor" and number is not None:
                assert number == pytest.approx(summary_e[key], rel=0.01), (value, name, key)
            else:
                assert number == summary_e[key], (value, name, key)


def test_rollup_answers_match_raw_events_and_survive_closing(store: Store) -> None:
    fill_events(store, 60_000, end=END)
    _settle(store)
    before = _answers(store)
    # A filter on the vitals' own column: raw events; once days are closed, their part
    # before the current hour is merged once and kept (the same samples, and percentiles
    # of merged t-digest states instead of one digest: equal within a fraction of one %).
    desktop_by_page = parse_query(
        SITE, {**PERIOD, "by": ["page"], "device": ["desktop"]}, allowed=["by"]
    )
    vitals_cache.clear_cache()
    filtered_before = vitals.vitals(store, desktop_by_page)
    assert vitals_cache.cached_entries() == 0  # no closed day yet: read raw, kept nowhere
    raw = _raw_pages(store)
    pages = before[0]["results"]
    assert len(pages) == len(raw) > 50
    for row in pages:
        views, visitors, sessions, errored = raw[row["value"]]
        assert (row["pageviews"], row["visitors"], row["sessions"]) == (views, visitors, sessions)
        assert row["error_rate"] == round(errored / views, 6)
    assert any(row["error_rate"] > 0 for row in pages)

    closed = close_days(store, until=closable_until(END, dt.timedelta(hours=72)))
    assert len(closed) > 20 and closed == sorted(closed)
    tables = ("traffic_days_closed", "session_slots_closed", "sessions_settled_closed")
    for table in (*tables, "issue_days_closed"):
        assert store.rows(f"SELECT count() FROM {store.table(table)}")[0][0] > 0, table
    # One row per settled session of the closed days, each session once.
    copied = store.rows(
        f"SELECT count(), uniqExact(session_key, session_start) "
        f"FROM {store.table('sessions_settled_closed')}"
    )[0]
    settled = store.rows(
        f"SELECT count() FROM {store.table('sessions_settled')} FINAL "
        f"WHERE toDate(session_start) IN (SELECT day FROM {store.table('closed_days')})"
    )[0][0]
    assert copied[0] == copied[1] == settled > 0
    assert before[5]["sessions"] > 0  # the filtered overview reads sessions
    assert _answers(store) == before
    _assert_same_vitals(vitals.vitals(store, desktop_by_page), filtered_before)
    assert vitals_cache.cached_entries() > 0  # the filtered period's settled part, kept
    _assert_same_vitals(vitals.vitals(store, desktop_by_page), filtered_before)
    # The horizon looked up with the touched sessions, or read by the query itself.
    period = parse_query(SITE, {**PERIOD, "device": ["desktop"]})
    rows = []
    for touched in (touched_sessions(store, period), None):
        sql = Sql(store.db)
        text = session_rows(sql, period, ("views", "visitor_id"), touched)
        rows.append(store.rows(f"SELECT * FROM ({text}) ORDER BY session_key", sql.params))
    assert rows[0] == rows[1] and len(rows[0]) == before[5]["sessions"]


def test_vitals_from_rollups_match_raw_events(store: Store) -> None:
    fill_events(store, 60_000, end=END)
    by_page = parse_query(SITE, {**PERIOD, "by": ["page"]}, allowed=["by"])
    # Every country of the synthetic traffic: the same vitals, read from raw events.
    raw = parse_query(
        SITE, {**PERIOD, "by": ["page"], "country": ["US,GB,DE,FR,IN,BR"]}, allowed=["by"]
    )
    assert vitals.whole_weeks(vitals.utc_days(by_page).days or (END, END))[0] is not None
    rolled, scanned = vitals.vitals(store, by_page), vitals.vitals(store, raw)
    for name, summary in rolled["metrics"].items():
        other = scanned["metrics"][name]
        assert (summary["samples"], summary["good"], summary["poor"]) == (
            other["samples"],
            other["good"],
            other["poor"],
        )
        for level in ("p50", "p75", "p90", "p95", "p99"):
            if summary["samples"]:  # FID has none: no percentiles
                assert summary[level] == pytest.approx(other[level], rel=0.02)
    assert [row["value"] for row in rolled["breakdown"]] == [
        row["value"] for row in scanned["breakdown"]
    ]
    assert rolled["breakdown"][0]["LCP"]["samples"] == scanned["breakdown"][0]["LCP"]["samples"]


def _settle(store: Store) -> None:
    settle_sessions(store, now=dt.datetime.now(dt.UTC) + SETTLE_MARGIN + dt.timedelta(seconds=2))


def test_a_day_with_unsettled_sessions_is_not_closed(store: Store) -> None:
    fill_events(store, 24_000, end=END)
    until = closable_until(END, dt.timedelta(hours=72))
    assert close_days(store, until=until) == []  # nothing settled yet
    _settle(store)
    assert len(close_days(store, until=until)) > 20


def test_closing_again_or_retrying_a_day_stores_nothing_twice(store: Store) -> None:
    fill_events(store, 24_000, end=END)
    _settle(store)
    until = closable_until(END, dt.timedelta(hours=72))
    close_days(store, until=until)
    tables = (
        "traffic_days_closed",
        "session_slots_closed",
        "sessions_settled_closed",
        "issue_days_closed",
    )

    def counts() -> list[int]:
        return [store.rows(f"SELECT count() FROM {store.table(t)}")[0][0] for t in tables]

    rows = counts()
    assert all(rows) and close_days(store, until=until) == []
    # A closer that died after copying its last day but before recording it copies the
    # day again on restart: the deduplication tokens keep one copy.
    last = until - dt.timedelta(days=1)
    store.command(f"DELETE FROM {store.table('closed_days')} WHERE day = {{d:Date}}", {"d": last})
    assert close_days(store, until=until) == [last]
    assert counts() == rows


def test_vitals_cache_answers_as_uncached_and_counts_a_late_sample(store: Store) -> None:
    fill_events(store, 60_000, end=END)
    by_page = parse_query(SITE, {**PERIOD, "by": ["page"]}, allowed=["by"])
    uncached = vitals.vitals(store, by_page)  # no closed day yet: nothing is cached
    _settle(store)
    close_days(store, until=closable_until(END, dt.timedelta(hours=72)))
    vitals_cache.clear_cache()
    cold = vitals.vitals(store, by_page)
    _assert_same_vitals(cold, uncached)
    assert vitals.vitals(store, by_page) == cold
    assert 0 < vitals_cache.cached_entries() <= vitals_cache.CACHED_PERIODS

    # A late sample of an open day that the cache holds (two days before the end; the
    # horizon is four): the next answer counts it.
    late = END - dt.timedelta(days=2)
    store.command(
        f"INSERT INTO {store.table('events')} (site_id, ts, received_at, type, sid, path, "
        "route, name, value, rating) VALUES ({site:String}, {ts:DateTime64(3, 'UTC')}, "
        "{ts:DateTime64(3, 'UTC')}, 'vital', 'late', '/p/0', '/p/0', 'LCP', 9000, 'poor')",
        {"site": SITE, "ts": late.replace(tzinfo=None)},
    )
    after = vitals.vitals(store, by_page)
    lcp, before_lcp = after["metrics"]["LCP"], cold["metrics"]["LCP"]
    assert (lcp["samples"], lcp["poor"] * lcp["samples"]) == pytest.approx(
        (before_lcp["samples"] + 1, before_lcp["poor"] * before_lcp["samples"] + 1)
    )
    page = next(row for row in after["breakdown"] if row["value"] == "/p/0")
    first = next(row for row in cold["breakdown"] if row["value"] == "/p/0")
    assert page["LCP"]["samples"] == first["LCP"]["samples"] + 1


def test_vitals_cache_is_bounded(store: Store) -> None:
    fill_events(store, 12_000, end=END)
    _settle(store)
    close_days(store, until=closable_until(END, dt.timedelta(hours=72)))
    vitals_cache.clear_cache()
    for hours in range(vitals_cache.CACHED_PERIODS + 3):
        start = END - dt.timedelta(days=20, hours=hours)
        period = {"from": [start.isoformat()], "to": [END.isoformat()]}
        assert vitals.vitals(store, parse_query(SITE, period))["metrics"]["LCP"]["samples"]
    assert vitals_cache.cached_entries() == vitals_cache.CACHED_PERIODS


def test_every_reader_sees_one_horizon(store: Store) -> None:
    """The horizon (app/store/horizon.py) before any closed day, and after each run of the
    closer: the day after the last closed one, with a marker that changes with it, the
    same in the vitals cache's key, the touched-sessions look-up and the scalar subquery."""
    assert read_horizon(store) is None
    assert vitals_cache.settled(store, SITE) is None
    fill_events(store, 20_000, end=END)
    _settle(store)
    markers = set()
    for until in (END.date() - dt.timedelta(days=9), END.date() - dt.timedelta(days=4)):
        close_days(store, until=until)
        horizon = read_horizon(store)
        assert horizon is not None and horizon.day == until
        assert horizon.start == dt.datetime.combine(until, dt.time(), dt.UTC)
        markers.add(horizon.recorded)
        settled = vitals_cache.settled(store, SITE)
        assert settled is not None and settled.horizon == horizon
        touched = touched_sessions(store, parse_query(SITE, PERIOD))
        assert touched is not None and touched.closed_until == until
        sql = Sql(store.db)
        assert store.rows(f"SELECT toDate({sql.closed_horizon()})")[0][0] == until
    assert len(markers) == 2
