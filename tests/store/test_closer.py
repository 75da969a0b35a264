"""Closing finished days of sessions changes no answer and stores each session once."""

from __future__ import annotations

import datetime as dt

from app.bench_queries import SITE, fill_events
from app.query import metrics, sessions
from app.query.params import parse_query
from app.store.client import Store
from app.store.closer import closable_until, close_sessions

END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def _answers(store: Store) -> tuple[dict[str, object], dict[str, object], list[object]]:
    period = {"from": [(END - dt.timedelta(days=30)).isoformat()], "to": [END.isoformat()]}
    query = parse_query(SITE, period)
    by_country = parse_query(SITE, {**period, "country": ["GB,DE"]})
    listing = parse_query(SITE, {**period, "limit": ["20"]}, allowed=["limit"])
    return (
        metrics.overview(store, query),
        metrics.breakdown(store, by_country, "entry_page"),
        sessions.session_list(store, listing)["results"],
    )


def _count(store: Store, table: str) -> int:
    return int(store.rows(f"SELECT count() FROM {store.table(table)}")[0][0])


def test_closing_days_changes_no_answer(store: Store) -> None:
    fill_events(store, 60_000, end=END)
    before = _answers(store)
    until = closable_until(END, dt.timedelta(hours=72))
    closed = close_sessions(store, until=until)
    assert closed and closed[-1] == until - dt.timedelta(days=1)
    assert closed == sorted(closed) and len(set(closed)) == len(closed)
    assert _count(store, "sessions_closed") > 0
    assert _answers(store) == before


def test_closing_again_or_retrying_a_day_stores_nothing_twice(store: Store) -> None:
    fill_events(store, 24_000, end=END)
    until = closable_until(END, dt.timedelta(hours=72))
    close_sessions(store, until=until)
    rows = _count(store, "sessions_closed")
    assert close_sessions(store, until=until) == []
    # A closer that died after copying its last day but before recording it copies the
    # day again on restart: the deduplication token keeps one copy.
    last = until - dt.timedelta(days=1)
    store.command(
        f"DELETE FROM {store.table('sessions_closed_days')} WHERE day = {{d:Date}}", {"d": last}
    )
    assert close_sessions(store, until=until) == [last]
    assert _count(store, "sessions_closed") == rows
