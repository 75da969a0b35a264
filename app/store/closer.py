"""The session closer: finished days of sessions, merged once into `sessions_closed`.

The `sessions` rollup receives one partial row per session and insert; a query has to
merge them (GROUP BY the session key), which is most of the cost of every dashboard
query over a month. A day of session starts cannot change any more once ingest would
drop every event that could still belong to it (events older than the maximum event
age are dropped as stale), so the closer copies each such day, merged, into
`sessions_closed` and queries scan those rows as they are (see `sql/010_*.sql`).

Idempotent and restartable: days are closed in order, each copy carries the
deduplication token `sessions-closed-<day>` (a repeated copy of the same day is stored
once), and the day is recorded only after its copy.

What it assumes: a session lasts less than a day. A session still active more than a
day after its start day (events at least every 30 minutes for 24 hours) would have its
later events counted in the open part as a second session.
"""

from __future__ import annotations

import datetime as dt

from app.store.client import Store

__all__ = ["closable_until", "close_sessions"]

_MERGE = """
SELECT
    site_id, session_start, session_key,
    any(sid), any(session_seq), any(visitor_id), min(first_ts), max(last_ts),
    sum(pageviews), sum(engagements), sum(customs), sum(errors),
    uniqExactIfMerge(error_pages), sum(engaged_ms), max(max_scroll),
    argMinIfMerge(entry_path), argMaxIfMerge(exit_path),
    argMinIfMerge(entry_route), argMaxIfMerge(exit_route),
    argMinIfMerge(referrer_source), argMinIfMerge(referrer_domain),
    argMinIfMerge(utm_source), argMinIfMerge(utm_medium), argMinIfMerge(utm_campaign),
    any(country), any(device), any(browser), any(os), max(user_id)
FROM {sessions}
WHERE session_start >= {{start:DateTime64(3, 'UTC')}}
  AND session_start < {{end:DateTime64(3, 'UTC')}}
GROUP BY site_id, session_start, session_key
"""
_COLUMNS = (
    "site_id, session_start, session_key, sid, session_seq, visitor_id, first_ts, last_ts, "
    "views, engagements, customs, errors, error_pages, engaged_ms, max_scroll, "
    "entry_page, exit_page, entry_route, exit_route, source, referrer, "
    "utm_source, utm_medium, utm_campaign, country, device, browser, os, user_id"
)


def closable_until(now: dt.datetime, max_event_age: dt.timedelta) -> dt.date:
    """The first day that may still change: every day before it can be closed."""
    return (now - max_event_age - dt.timedelta(days=1)).astimezone(dt.UTC).date()


def _next_day(store: Store) -> dt.date | None:
    """The first day not closed yet, or None when there are no sessions at all."""
    closed = store.rows(f"SELECT max(day), count() FROM {store.table('sessions_closed_days')}")[0]
    if closed[1]:
        day: dt.date = closed[0]
        return day + dt.timedelta(days=1)
    first = store.rows(
        f"SELECT min(toDate(session_start)), count() FROM {store.table('sessions')}"
    )[0]
    return first[0] if first[1] else None


def close_sessions(store: Store, *, until: dt.date, max_days: int = 400) -> list[dt.date]:
    """Close every day before `until` not closed yet (at most `max_days` per call)."""
    day = _next_day(store)
    closed: list[dt.date] = []
    merge = _MERGE.format(sessions=store.table("sessions"))
    while day is not None and day < until and len(closed) < max_days:
        start = dt.datetime(day.year, day.month, day.day)
        store.insert_select(
            f"INSERT INTO {store.table('sessions_closed')} ({_COLUMNS}) {merge}",
            {"start": start, "end": start + dt.timedelta(days=1)},
            dedup_token=f"sessions-closed-{day.isoformat()}",
        )
        store.command(
            f"INSERT INTO {store.table('sessions_closed_days')} (day) VALUES ({{day:Date}})",
            {"day": day},
        )
        closed.append(day)
        day += dt.timedelta(days=1)
    return closed
