"""The pages closer: finished days of `pages_daily`, merged once into `pages_closed`.

`pages_daily` holds uniqExact states of visitors, sessions and errored page views per
(site, day, page, route); counting them means reading every hash they hold. A day that
can no longer change (the same horizon as sessions, `closable_until`) is merged once into
plain counts, which a breakdown then adds up (see `sql/016_pages_closed.sql`).

Idempotent and restartable like the session closer: days in order, each copy with the
deduplication token `pages-closed-<day>`, the day recorded only after its copy.
"""

from __future__ import annotations

import datetime as dt

from app.store.client import Store

__all__ = ["close_pages", "reclose_site_days"]

_MERGE = """
SELECT
    site_id, day, path, route, sum(pageviews), uniqExactMerge(visitors),
    uniqExactMerge(sessions), uniqExactMerge(error_views)
FROM {pages}
WHERE day = {{day:Date}}
GROUP BY site_id, day, path, route
"""
_COLUMNS = "site_id, day, path, route, pageviews, visitors, sessions, error_views"


def _next_day(store: Store) -> dt.date | None:
    """The first day not closed yet, or None when there are no pages at all."""
    closed = store.rows(f"SELECT max(day), count() FROM {store.table('pages_closed_days')}")[0]
    if closed[1]:
        day: dt.date = closed[0]
        return day + dt.timedelta(days=1)
    first = store.rows(f"SELECT min(day), count() FROM {store.table('pages_daily')}")[0]
    return first[0] if first[1] else None


def close_pages(store: Store, *, until: dt.date, max_days: int = 400) -> list[dt.date]:
    """Close every day before `until` not closed yet (at most `max_days` per call)."""
    day = _next_day(store)
    closed: list[dt.date] = []
    merge = _MERGE.format(pages=store.table("pages_daily"))
    while day is not None and day < until and len(closed) < max_days:
        store.insert_select(
            f"INSERT INTO {store.table('pages_closed')} ({_COLUMNS}) {merge}",
            {"day": day},
            dedup_token=f"pages-closed-{day.isoformat()}",
        )
        store.command(
            f"INSERT INTO {store.table('pages_closed_days')} (day) VALUES ({{day:Date}})",
            {"day": day},
        )
        closed.append(day)
        day += dt.timedelta(days=1)
    return closed


def reclose_site_days(store: Store, site: str, days: list[dt.date]) -> None:
    """Copy again, merged, one site's rows of those `days` that are closed (after an
    erasure rebuilt them in `pages_daily` and deleted them here: app/lifecycle/)."""
    closed = store.rows(
        f"SELECT DISTINCT day FROM {store.table('pages_closed_days')} "
        "WHERE day IN {days:Array(Date)}",
        {"days": days},
    )
    merge = _MERGE.format(pages=store.table("pages_daily")).replace(
        "WHERE day = {day:Date}", "WHERE site_id = {site:String} AND day = {day:Date}"
    )
    for (day,) in closed:
        store.command(
            f"INSERT INTO {store.table('pages_closed')} ({_COLUMNS}) {merge}",
            {"day": day, "site": site},
            settings={"insert_deduplicate": 0},
        )
