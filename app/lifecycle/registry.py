"""Every table that holds a site's data, and what the lifecycle does with each.

One place declares, per table with a `site_id` column:

- `events`, the source: raw events, the only table ingest writes, kept for the site's
  events retention;
- the *derived* tables (rollups, settled sessions, closed days): each with its `key`, an
  expression of its rows, and `source_key`, the same expression over `events` — the
  rows of the table whose key is K are made exactly from the events whose source key is
  K — so that erasure can rebuild the affected keys of a site from what is left in
  `events`. How each is rebuilt:
    - `view`: the materialized view that feeds it; its own SELECT (read from ClickHouse,
      so it is always the view's current definition) over the site's events of those
      keys (as `BACKFILL` does for a whole table, app/store/migrate.py);
    - `closer`: its closer's copy, for those keys of the site that are closed;
    - `drop`: keyed by session — erasure removes whole sessions (every event of a `sid`),
      so those rows are simply deleted;
  and `ttl_time`, the time its retention TTL counts from (the rollup retention);
- `SITE_STATE`: small tables of a site's configuration and triage state (no events, no
  person): left alone by erasure and retention, removed with the site;
- `KEPT`: kept even when their site is deleted (the erasure log).

A table with `site_id` missing here is an error (`tests/lifecycle/test_registry.py`
compares this with the migrated schema): a new rollup must say how it is rebuilt.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "DERIVED",
    "EVENTS_PARTITION",
    "EVENTS_TTL_TIME",
    "KEPT",
    "SITE_STATE",
    "SOURCE",
    "Derived",
    "covered",
]

SOURCE = "events"
EVENTS_TTL_TIME = "toDateTime(ts)"
#: The partition key of `events` (sql/001): an erasure rewrites only the months it touches.
EVENTS_PARTITION = "toYYYYMM(ts)"

Rebuild = Literal["view", "closer", "drop"]


class Derived(msgspec.Struct, frozen=True):
    table: str
    key: str
    source_key: str
    key_type: str
    rebuild: Rebuild
    ttl_time: str
    view: str = ""
    #: A day (Date) expression of the table's sorting key, and the same over events: added
    #: to the erasure's delete so that ClickHouse rewrites only parts that may hold those
    #: days (a session key alone matches no index: every part would be read).
    prune: str = ""
    prune_source: str = ""


_DAY = {"key": "day", "source_key": "toDate(ts)", "key_type": "Date"}
_SESSION = {
    "key": "session_key",
    "source_key": "cityHash64(sid, session_seq)",
    "key_type": "UInt64",
    "rebuild": "drop",
    "ttl_time": "toDateTime(session_start)",
    "prune": "toDate(session_start)",
    "prune_source": "toDate(session_start)",
}

#: In rebuild order: a closer reads the views' tables, so closers come after them.
DERIVED: tuple[Derived, ...] = (
    Derived("sessions", **_SESSION),  # type: ignore[arg-type]
    Derived("session_touches", **_SESSION),  # type: ignore[arg-type]
    Derived("sessions_settled", **_SESSION),  # type: ignore[arg-type]
    Derived("sessions_settled_closed", **_SESSION),  # type: ignore[arg-type]
    # A session's page views by their day: its rows are dropped with the session.
    Derived(
        "page_sessions_closed",
        "session_key",
        "cityHash64(sid, session_seq)",
        "UInt64",
        "drop",
        "day",
        prune="day",
        prune_source="toDate(ts)",
    ),
    Derived(**_DAY, table="vitals_days", rebuild="view", view="vitals_days_mv", ttl_time="day"),
    # A week goes when its first day passes the retention (no expired day may stay in an
    # answer); a period reaching past the retention may lack up to six days at that edge.
    Derived("vitals_weekly", "week", "toMonday(ts)", "Date", "view", "week", "vitals_weekly_mv"),
    Derived(
        "vitals_hourly", "toDate(hour)", "toDate(ts)", "Date", "view", "hour", "vitals_hourly_mv"
    ),
    Derived(
        **_DAY,
        table="vitals_device_days",
        rebuild="view",
        view="vitals_device_days_mv",
        ttl_time="day",
    ),
    Derived(
        "vitals_device_weekly",
        "week",
        "toMonday(ts)",
        "Date",
        "view",
        "week",
        "vitals_device_weekly_mv",
    ),
    Derived(**_DAY, table="pages_days", rebuild="view", view="pages_days_mv", ttl_time="day"),
    Derived(**_DAY, table="issues_daily", rebuild="view", view="issues_daily_mv", ttl_time="day"),
    Derived(**_DAY, table="issues_by_day", rebuild="view", view="issues_by_day_mv", ttl_time="day"),
    Derived(
        **_DAY,
        table="issue_facets_daily",
        rebuild="view",
        view="issue_facets_daily_mv",
        ttl_time="day",
    ),
    Derived(
        "issues_hourly",
        "toDate(hour)",
        "toDate(ts)",
        "Date",
        "view",
        "toDateTime(hour)",
        "issues_hourly_mv",
    ),
    # An issue's lifetime row: rebuilt from all of its events; kept while it was last
    # seen within the rollup retention.
    Derived(
        "issues",
        "fingerprint",
        "fingerprint",
        "String",
        "view",
        "toDateTime(tupleElement(last, 1))",
        "issues_mv",
    ),
    Derived(
        "traffic_slots",
        "toDate(slot)",
        "toDate(ts)",
        "Date",
        "view",
        "slot",
        "traffic_slots_mv",
    ),
    Derived(**_DAY, table="issue_days_closed", rebuild="closer", ttl_time="day"),
    Derived(**_DAY, table="traffic_days_closed", rebuild="closer", ttl_time="day"),
    # Sessions by the slot of their start: a person's sessions are keyed by the day they
    # started (rebuilt from `sessions_settled`, which the erasure dropped them from).
    Derived(
        "session_slots_closed",
        "toDate(slot)",
        "toDate(session_start)",
        "Date",
        "closer",
        "slot",
    ),
    Derived(
        "traffic_device_slots",
        "toDate(slot)",
        "toDate(ts)",
        "Date",
        "view",
        "slot",
        "traffic_device_slots_mv",
    ),
    Derived(**_DAY, table="traffic_device_days_closed", rebuild="closer", ttl_time="day"),
    Derived(
        "session_device_slots_closed",
        "toDate(slot)",
        "toDate(session_start)",
        "Date",
        "closer",
        "slot",
    ),
)

SITE_STATE = (
    "sites",
    "tokens",
    "issue_state",
    "issue_history",
    "sourcemaps",
    "share_keys",
    "alert_rules",
    "alert_states",
    "alerts",
    "alert_history",
    "alert_silences",
    "alert_deliveries",
)
KEPT = ("erasures",)


def covered() -> set[str]:
    """Every table name this registry accounts for."""
    return {SOURCE, *(d.table for d in DERIVED), *SITE_STATE, *KEPT}
