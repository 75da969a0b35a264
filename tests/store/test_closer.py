"""Settling sessions changes no answer, stores each session once, and a late row for a
settled session counts (it reopens the session until the next run settles it again)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from app.bench.queries import SITE, fill_events
from app.query import metrics, sessions, sql
from app.query.params import parse_query
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions

END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def _answers(store: Store) -> tuple[object, ...]:
    period = {"from": [(END - dt.timedelta(days=30)).isoformat()], "to": [END.isoformat()]}
    query = parse_query(SITE, period)
    by_country = parse_query(SITE, {**period, "country": ["GB,DE"]})
    by_page = parse_query(SITE, {**period, "page": ["/p/1*"]})
    by_exit = parse_query(SITE, {**period, "limit": ["1000"]}, allowed=["limit"])
    listing = parse_query(SITE, {**period, "limit": ["20"]}, allowed=["limit"])
    daily = parse_query(SITE, {**period, "interval": ["day"]}, allowed=["interval"])
    return (
        metrics.overview(store, query),
        metrics.overview(store, by_page),
        metrics.breakdown(store, by_country, "entry_page"),
        metrics.breakdown(store, by_exit, "exit_page"),
        metrics.timeseries(store, daily),
        sessions.session_list(store, listing)["results"],
    )


def _later() -> dt.datetime:
    """A run's clock one margin from now, so that everything inserted so far is behind
    its watermark: insert times are whole seconds, so the current second passes first."""
    time.sleep(1.01 - time.time() % 1)
    return dt.datetime.now(dt.UTC) + SETTLE_MARGIN


def _settled(store: Store) -> tuple[int, int]:
    """(rows, distinct sessions) of `sessions_settled` as readers see it and as stored."""
    table = store.table("sessions_settled")
    final = store.rows(f"SELECT count() FROM {table} FINAL")[0][0]
    keys = store.rows(f"SELECT uniqExact(session_start, session_key) FROM {table}")[0][0]
    return int(final), int(keys)


def _add_late_page_view(store: Store, sid: str) -> None:
    """One more page view, on a new page after the session's last event, stored now."""
    events = store.table("events")
    store.command(
        f"INSERT INTO {events} (site_id, ts, received_at, type, sid, visitor_id, session_seq, "
        "session_start, pid, url, host, path, route, country, browser, os, device) "
        "SELECT site_id, ts + 60, received_at + 60, 'pageview', sid, visitor_id, session_seq, "
        "session_start, 'late-pid', 'https://bench.test/late', host, '/late', '/late', "
        f"country, browser, os, device FROM {events} "
        "WHERE sid = {sid:String} ORDER BY ts DESC LIMIT 1",
        {"sid": sid},
    )


def test_settling_changes_no_answer(store: Store) -> None:
    fill_events(store, 60_000, end=END)
    before = _answers(store)
    # Everything was just inserted: a run now leaves it all open (the margin).
    settle_sessions(store, now=dt.datetime.now(dt.UTC))
    assert _settled(store) == (0, 0)
    days = settle_sessions(store, now=_later())
    assert days == sorted(days) and len(days) >= 30
    assert _settled(store) == (5_000, 5_000)
    assert _answers(store) == before


def test_a_late_row_reopens_its_session_and_counts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_events(store, 24_000, end=END)
    settle_sessions(store, now=_later())
    before = _answers(store)
    _add_late_page_view(store, "sid1500")
    reopened = _answers(store)
    # The same when the queries find the touched sessions themselves (as they do when
    # there are too many to bind).
    with monkeypatch.context() as patch:
        patch.setattr(sql, "MAX_BOUND_TOUCHED", 0)
        assert _answers(store) == reopened
    assert reopened[0]["pageviews"] == before[0]["pageviews"] + 1  # type: ignore[index]
    assert reopened[0]["sessions"] == before[0]["sessions"]  # type: ignore[index]
    exits = {row["value"]: row["sessions"] for row in reopened[3]["results"]}  # type: ignore[index]
    assert exits["/late"] == 1
    settle_sessions(store, now=_later())
    assert _answers(store) == reopened
    assert _settled(store) == (2_000, 2_000)


def test_a_run_repeated_after_a_crash_stores_nothing_twice(store: Store) -> None:
    fill_events(store, 24_000, end=END, part=(0, 12_000))
    settle_sessions(store, now=_later())
    fill_events(store, 24_000, end=END, part=(12_000, 24_000))
    settle_sessions(store, now=_later())
    answers = _answers(store)
    # A run that died after writing but before recording its watermark is done again.
    store.command(
        f"DELETE FROM {store.table('sessions_settle_runs')} WHERE watermark = "
        f"(SELECT max(watermark) FROM {store.table('sessions_settle_runs')})"
    )
    assert settle_sessions(store, now=_later())
    assert _settled(store) == (2_000, 2_000)
    assert _answers(store) == answers
