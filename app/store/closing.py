"""Closed days: what ingest can no longer change, merged once into plain numbers.

A UTC day is *closed* once ingest drops every event that could still belong to it: its
events are older than `BEACON_MAX_EVENT_AGE_HOURS` plus a day (`closable_until`). Then
every rollup worth finalizing copies that day, merged, into a table of plain numbers (or
of merged states, where a count must stay distinct across days), and the day is recorded
in `closed_days` — one horizon for all of them (sql/031, read by `app/store/horizon.py`).
Readers take the days before the horizon from the copies and the rest from the rollups
and raw events: the settled segments and the live edge.

A copy is a declaration (`ClosedCopy`): its target table and the SELECTs that make the
target's rows of the days a `{where}` condition names. Adding one is adding a
declaration: `close_days` runs it for each newly closed day (with a deduplication token
per copy and day, so a run that died before recording the day stores nothing twice),
`close_again` for every day already closed (the `CLOSE_AGAIN` migration directive, for a
copy added to a store that has closed days), and `reclose_site_days` for one site's days
(after an erasure rebuilt them: app/lifecycle/).

Copies here: the issue days (triage list and detail), traffic per day (page views and
the states of visitors and errored pages, from `traffic_slots`), the settled sessions
themselves, one row each (read without FINAL), and sessions per 15-minute slot of their
start as the sums of every session metric (both from `sessions_settled`: a day is closed
only once every session starting on it is settled, and the server's settler runs just
before the closer); the sessions with a view of each page; and traffic and session
slots again by device class.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from app.query.sql import BOUNCE, ENGAGED
from app.store.client import Store

__all__ = [
    "CLOSED",
    "SETTLED_SESSION_COLUMNS",
    "ClosedCopy",
    "close_again",
    "close_days",
    "reclose_site_days",
]


class ClosedCopy(msgspec.Struct, frozen=True):
    """One rollup's closed days: `target` (its columns `columns`) gets the rows that
    each SELECT of `selects` makes of the days `{where}` names (`{db}` is the database;
    `{day}` is the SELECT's own day expression, `{where}` is written over it)."""

    target: str
    columns: str
    day: str
    selects: tuple[str, ...]


_ISSUE_COLUMNS = "site_id, dimension, fingerprint, day, value, events, users, sessions"
#: The columns of a settled session (sql/011, less its version), as closed days keep them.
SETTLED_SESSION_COLUMNS = (
    "site_id, session_start, session_key, sid, session_seq, visitor_id, first_ts, last_ts, "
    "duration_ms, views, engagements, customs, errors, error_pages, engaged_ms, max_scroll, "
    "entry_page, exit_page, entry_route, exit_route, source, referrer, utm_source, utm_medium, "
    "utm_campaign, country, device, browser, os, user_id"
)

CLOSED: tuple[ClosedCopy, ...] = (
    ClosedCopy(
        target="issue_days_closed",
        columns=_ISSUE_COLUMNS,
        day="day",
        selects=(
            "SELECT site_id, '', fingerprint, day, '', sum(events), uniqMerge(users), "
            "uniqMerge(sessions) FROM {db}.issues_by_day WHERE {where} "
            "GROUP BY site_id, fingerprint, day",
            "SELECT site_id, dimension, fingerprint, day, value, sum(events), "
            "uniqMerge(users), 0 FROM {db}.issue_facets_daily WHERE {where} "
            "GROUP BY site_id, dimension, fingerprint, day, value",
        ),
    ),
    ClosedCopy(
        target="traffic_days_closed",
        columns="site_id, day, pageviews, visitors, error_views",
        day="toDate(slot)",
        selects=(
            "SELECT site_id, toDate(slot) AS day, sum(pageviews), "
            "uniqExactMergeState(visitors), uniqExactMergeState(error_views) "
            "FROM {db}.traffic_slots WHERE {where} GROUP BY site_id, day",
        ),
    ),
    ClosedCopy(
        target="sessions_settled_closed",
        columns=SETTLED_SESSION_COLUMNS,
        day="toDate(session_start)",
        selects=(
            f"SELECT {SETTLED_SESSION_COLUMNS} FROM {{db}}.sessions_settled FINAL WHERE {{where}}",
        ),
    ),
    ClosedCopy(
        target="session_slots_closed",
        columns="site_id, slot, sessions, bounces, engaged_sessions, session_views, "
        "duration_ms_sum, engaged_ms_sum",
        day="toDate(session_start)",
        selects=(
            "SELECT site_id, toStartOfFifteenMinutes(toDateTime(session_start, 'UTC')) AS slot, "
            f"count(), countIf({BOUNCE}), countIf({ENGAGED}), sum(views), sum(duration_ms), "
            "sum(engaged_ms) FROM {db}.sessions_settled FINAL WHERE {where} AND views > 0 "
            "GROUP BY site_id, slot",
        ),
    ),
    # The sessions with a view of each page (sql/084), for page filters.
    ClosedCopy(
        target="page_sessions_closed",
        columns="site_id, path, day, session_key",
        day="toDate(ts)",
        selects=(
            "SELECT DISTINCT site_id, path, toDate(ts) AS day, cityHash64(sid, session_seq) "
            "FROM {db}.events WHERE {where} AND type = 'pageview'",
        ),
    ),
    # Traffic per day and sessions per slot again by device class (sql/083), for overviews
    # filtered on the device alone.
    ClosedCopy(
        target="traffic_device_days_closed",
        columns="site_id, device, day, pageviews, visitors, error_views",
        day="toDate(slot)",
        selects=(
            "SELECT site_id, device, toDate(slot) AS day, sum(pageviews), "
            "uniqExactMergeState(visitors), uniqExactMergeState(error_views) "
            "FROM {db}.traffic_device_slots WHERE {where} GROUP BY site_id, device, day",
        ),
    ),
    ClosedCopy(
        target="session_device_slots_closed",
        columns="site_id, device, slot, sessions, bounces, engaged_sessions, session_views, "
        "duration_ms_sum, engaged_ms_sum",
        day="toDate(session_start)",
        selects=(
            "SELECT site_id, device, "
            "toStartOfFifteenMinutes(toDateTime(session_start, 'UTC')) AS slot, "
            f"count(), countIf({BOUNCE}), countIf({ENGAGED}), sum(views), sum(duration_ms), "
            "sum(engaged_ms) FROM {db}.sessions_settled FINAL WHERE {where} AND views > 0 "
            "GROUP BY site_id, device, slot",
        ),
    ),
)
_BY_TARGET = {copy.target: copy for copy in CLOSED}


def closable_until(now: dt.datetime, max_event_age: dt.timedelta) -> dt.date:
    """The first day ingest may still add to (events older than the maximum age are
    dropped): every day before it can be closed for good."""
    return (now - max_event_age - dt.timedelta(days=1)).astimezone(dt.UTC).date()


def _statements(store: Store, copy: ClosedCopy, where: str) -> list[str]:
    target = f"INSERT INTO {store.table(copy.target)} ({copy.columns}) "
    condition = where.replace("{day}", copy.day)
    return [target + select.format(db=store.db, where=condition) for select in copy.selects]


def _next_day(store: Store) -> dt.date | None:
    """The first day not closed yet, or None when no event was ever stored."""
    closed = store.rows(f"SELECT max(day), count() FROM {store.table('closed_days')}")[0]
    if closed[1]:
        day: dt.date = closed[0]
        return day + dt.timedelta(days=1)
    first = store.rows(f"SELECT min(slot), count() FROM {store.table('traffic_slots')}")[0]
    return first[0].date() if first[1] else None


def _unsettled(store: Store, day: dt.date) -> bool:
    """Whether a session that starts on `day` was written since the last settling run
    (`app/store/closer.py`): `sessions_settled` does not hold it as it is yet."""
    return bool(
        store.rows(
            f"SELECT count() FROM {store.table('session_touches')} "
            "WHERE session_start >= {day:Date} AND session_start < {day:Date} + 1 "
            "AND inserted_at >= "
            f"(SELECT max(watermark) FROM {store.table('sessions_settle_runs')})",
            {"day": day},
        )[0][0]
    )


def close_days(store: Store, *, until: dt.date, max_days: int = 400) -> list[dt.date]:
    """Close every day before `until` not closed yet (at most `max_days` per call), in
    order: every copy of the day, then the day recorded."""
    day = _next_day(store)
    closed: list[dt.date] = []
    while day is not None and day < until and len(closed) < max_days:
        if _unsettled(store, day):
            break  # its sessions are copied once settled: the next run closes it
        for copy in CLOSED:
            for n, statement in enumerate(_statements(store, copy, "{day} = {closing:Date}")):
                store.insert_select(
                    statement,
                    {"closing": day},
                    dedup_token=f"closed-{copy.target}-{n}-{day.isoformat()}",
                )
        store.command(
            f"INSERT INTO {store.table('closed_days')} (day) VALUES ({{day:Date}})", {"day": day}
        )
        closed.append(day)
        day += dt.timedelta(days=1)
    return closed


def close_again(store: Store, target: str) -> None:
    """Copy every closed day into `target` (a copy added to a store with closed days)."""
    where = f"{{day}} IN (SELECT day FROM {store.table('closed_days')})"
    for statement in _statements(store, _BY_TARGET[target], where):
        store.command(statement)


def reclose_site_days(store: Store, target: str, site: str, days: list[Any]) -> None:
    """Copy again one site's rows of those `days` that are closed into `target` (after an
    erasure rebuilt them in the rollups and deleted them here: app/lifecycle/)."""
    closed = store.rows(
        f"SELECT DISTINCT day FROM {store.table('closed_days')} WHERE day IN {{days:Array(Date)}}",
        {"days": days},
    )
    if not closed:
        return
    where = "site_id = {site:String} AND {day} IN {days:Array(Date)}"
    for statement in _statements(store, _BY_TARGET[target], where):
        store.command(
            statement,
            {"site": site, "days": [row[0] for row in closed]},
            settings={"insert_deduplicate": 0},
        )
