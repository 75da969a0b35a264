"""The issue closer: finished days of the issue rollups, finalized once into plain numbers.

The list and the detail otherwise merge one `uniq` state per issue, day and release (and
per facet value) on every read of a month. A UTC day cannot change any more once ingest
would drop every event that could still belong to it (the horizon of
`app.store.closer.closable_until`), so this copies each such day of `issues_by_day` and
`issue_facets_daily`, merged and finalized, into `issue_days_closed` (see
`sql/020_issues_closed.sql`); readers merge the rollups only after the closed horizon.

Idempotent and restartable like the session closer: days are closed in order, each copy
carries a deduplication token per day and rollup (a repeated copy is stored once), and
the day is recorded in `issue_closed_days` only after both copies.
"""

from __future__ import annotations

import datetime as dt

from app.store.client import Store

__all__ = ["close_issue_days", "closed_horizon_sql", "reclose_site_days"]

_COLUMNS = "site_id, dimension, fingerprint, day, value, events, users, sessions"


def closed_horizon_sql(store: Store) -> str:
    """A scalar subquery: the first day not closed (1970-01-02 when none is)."""
    return f"(SELECT max(day) + 1 FROM {store.table('issue_closed_days')})"


def _next_day(store: Store) -> dt.date | None:
    """The first day not closed yet, or None when no error was ever rolled up."""
    closed = store.rows(f"SELECT max(day), count() FROM {store.table('issue_closed_days')}")[0]
    if closed[1]:
        day: dt.date = closed[0]
        return day + dt.timedelta(days=1)
    first = store.rows(f"SELECT min(day), count() FROM {store.table('issues_by_day')}")[0]
    return first[0] if first[1] else None


def _copies(store: Store, where: str) -> tuple[str, str]:
    """The two `INSERT … SELECT`s that close a day (rows restricted by `where`)."""
    target = f"INSERT INTO {store.table('issue_days_closed')} ({_COLUMNS}) "
    return (
        target + "SELECT site_id, '', fingerprint, day, '', sum(events), uniqMerge(users), "
        f"uniqMerge(sessions) FROM {store.table('issues_by_day')} WHERE {where} "
        "GROUP BY site_id, fingerprint, day",
        target + "SELECT site_id, dimension, fingerprint, day, value, sum(events), "
        f"uniqMerge(users), 0 FROM {store.table('issue_facets_daily')} "
        f"WHERE {where} GROUP BY site_id, dimension, fingerprint, day, value",
    )


def _copy_day(store: Store, day: dt.date) -> None:
    issues, facets = _copies(store, "day = {day:Date}")
    store.insert_select(issues, {"day": day}, dedup_token=f"issues-closed-{day.isoformat()}")
    store.insert_select(facets, {"day": day}, dedup_token=f"issue-facets-closed-{day.isoformat()}")


def reclose_site_days(store: Store, site: str, days: list[dt.date]) -> None:
    """Copy again one site's rows of those `days` that are closed (after an erasure
    rebuilt them in the rollups and deleted them here: app/lifecycle/)."""
    closed = store.rows(
        f"SELECT DISTINCT day FROM {store.table('issue_closed_days')} "
        "WHERE day IN {days:Array(Date)}",
        {"days": days},
    )
    if not closed:
        return
    for copy in _copies(store, "site_id = {site:String} AND day IN {days:Array(Date)}"):
        store.command(
            copy,
            {"site": site, "days": [row[0] for row in closed]},
            settings={"insert_deduplicate": 0},
        )


def close_issue_days(store: Store, *, until: dt.date, max_days: int = 400) -> list[dt.date]:
    """Close every day before `until` not closed yet (at most `max_days` per call)."""
    day = _next_day(store)
    closed: list[dt.date] = []
    while day is not None and day < until and len(closed) < max_days:
        _copy_day(store, day)
        store.command(
            f"INSERT INTO {store.table('issue_closed_days')} (day) VALUES ({{day:Date}})",
            {"day": day},
        )
        closed.append(day)
        day += dt.timedelta(days=1)
    return closed
