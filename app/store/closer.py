"""The session settler: sessions merged once into `sessions_settled`, minutes after they
were last written.

The `sessions` rollup receives one partial row per session and insert; a query would
have to merge them (GROUP BY the session key), which was most of the cost of every
dashboard query. Each run takes the sessions that inserts touched (`session_touches`)
between the last run's watermark and a new watermark `SETTLE_MARGIN` in the past, merges
all their partial rows and writes them to `sessions_settled` versioned by the new
watermark, then records it (see `sql/011_*.sql`). Readers take every session touched
before the recorded watermark from there and merge only the others.

The margin is there because an insert's rows carry the time the insert started: one
still running when the watermark passes must not be missed, so the watermark trails the
clock by far more than any insert takes.

Idempotent and restartable: a run that dies before recording its watermark is repeated
by the next run with a newer one (the newer versions win in `sessions_settled`, whose
duplicates `FINAL` and background merges remove).
"""

from __future__ import annotations

import datetime as dt

from app.store.client import Store

__all__ = ["SETTLE_MARGIN", "settle_sessions", "settled_watermark"]

#: How far the watermark trails the clock (longer than any insert runs).
SETTLE_MARGIN = dt.timedelta(minutes=5)

_TOUCHED = """
SELECT site_id, session_start, session_key FROM {touches}
WHERE inserted_at >= {{since:DateTime('UTC')}} AND inserted_at < {{until:DateTime('UTC')}}
  AND session_start >= {{start:DateTime64(3, 'UTC')}}
  AND session_start < {{end:DateTime64(3, 'UTC')}}
"""
_MERGE = """
SELECT
    site_id, session_start, session_key,
    any(sid), any(session_seq), any(visitor_id), min(first_ts), max(last_ts),
    toUInt32(toUnixTimestamp64Milli(max(last_ts)) - toUnixTimestamp64Milli(min(first_ts))),
    sum(pageviews), sum(engagements), sum(customs), sum(errors),
    uniqExactIfMerge(error_pages), sum(engaged_ms), max(max_scroll),
    argMinIfMerge(entry_path), argMaxIfMerge(exit_path),
    argMinIfMerge(entry_route), argMaxIfMerge(exit_route),
    argMinIfMerge(referrer_source), argMinIfMerge(referrer_domain),
    argMinIfMerge(utm_source), argMinIfMerge(utm_medium), argMinIfMerge(utm_campaign),
    any(country), any(device), any(browser), any(os), max(user_id),
    {{until:DateTime('UTC')}}
FROM {sessions}
WHERE session_start >= {{start:DateTime64(3, 'UTC')}}
  AND session_start < {{end:DateTime64(3, 'UTC')}}
  AND (site_id, session_start, session_key) IN ({touched})
GROUP BY site_id, session_start, session_key
"""
_COLUMNS = (
    "site_id, session_start, session_key, sid, session_seq, visitor_id, first_ts, last_ts, "
    "duration_ms, "
    "views, engagements, customs, errors, error_pages, engaged_ms, max_scroll, "
    "entry_page, exit_page, entry_route, exit_route, source, referrer, "
    "utm_source, utm_medium, utm_campaign, country, device, browser, os, user_id, settled_at"
)
_DAYS_PER_INSERT = 31


def settled_watermark(store: Store) -> dt.datetime:
    """The last recorded watermark (naive UTC; the epoch before the first run)."""
    value: dt.datetime = store.rows(
        f"SELECT max(watermark) FROM {store.table('sessions_settle_runs')}"
    )[0][0]
    return value.replace(tzinfo=None)


def _touched_days(store: Store, since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    rows = store.rows(
        f"SELECT DISTINCT toDate(session_start) AS day FROM {store.table('session_touches')} "
        "WHERE inserted_at >= {since:DateTime('UTC')} AND inserted_at < {until:DateTime('UTC')} "
        "ORDER BY day",
        {"since": since, "until": until},
    )
    return [row[0] for row in rows]


def settle_sessions(store: Store, *, now: dt.datetime) -> list[dt.date]:
    """Settle every session touched since the last run and more than `SETTLE_MARGIN`
    before `now`; returns the days of session starts that were written.
    """
    since = settled_watermark(store)
    until = (now.astimezone(dt.UTC) - SETTLE_MARGIN).replace(tzinfo=None, microsecond=0)
    if until <= since:
        return []
    days = _touched_days(store, since, until)
    touched = _TOUCHED.format(touches=store.table("session_touches"))
    merge = _MERGE.format(sessions=store.table("sessions"), touched=touched)
    # Up to a month of touched days per insert: few parts to merge (a first run over a
    # year of stored sessions is twelve inserts), memory bounded by a month of sessions.
    for first in range(0, len(days), _DAYS_PER_INSERT):
        chunk = days[first : first + _DAYS_PER_INSERT]
        start = dt.datetime(chunk[0].year, chunk[0].month, chunk[0].day)
        end = dt.datetime(chunk[-1].year, chunk[-1].month, chunk[-1].day) + dt.timedelta(days=1)
        store.command(
            f"INSERT INTO {store.table('sessions_settled')} ({_COLUMNS}) {merge}",
            {"since": since, "until": until, "start": start, "end": end},
        )
    store.command(
        f"INSERT INTO {store.table('sessions_settle_runs')} (watermark) "
        "VALUES ({until:DateTime('UTC')})",
        {"until": until},
    )
    return days
