"""Retention per site, enforced by ClickHouse TTL rules in every table of the registry.

A site keeps its raw events `retention_days` (default `BEACON_RETENTION_DAYS`) and its
rollups `rollup_retention_days` (default `BEACON_ROLLUP_RETENTION_DAYS`, else the events'
retention; never shorter than the events', or the dashboards would read whole days from
rollups that are gone while their events are not). Each table gets one TTL rule per
distinct retention among the sites that differ from the default, and the default rule
for every other site:

    TTL toDateTime(ts) + toIntervalDay(30) WHERE site_id IN ('s_a', 's_b'),
        toDateTime(ts) + toIntervalDay(400) WHERE site_id NOT IN ('s_a', 's_b')

(the default rule excludes the listed sites, since some may keep data longer than the
default). The rules are rewritten (`ALTER TABLE … MODIFY TTL`) whenever they differ from
what the table has: at start-up (so a changed `BEACON_RETENTION_DAYS` applies too) and
when a site's retention changes or a site goes. ClickHouse then applies them to the
stored data as well (`materialize_ttl_after_modify`, waited for with `mutations_sync`),
and to every later merge. The clause is written in ClickHouse's own formatting, so an
unchanged one is recognised and not applied again (tested).

Limits: one rule per distinct retention value, each listing its sites: thousands of
sites with custom retention make long TTL clauses (ClickHouse evaluates them per merge).
On a ClickHouse cluster (Distributed tables, app/scale/cluster.py) the rules are not
written: the `_local` tables keep the migrations' single TTL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from app.config import Settings
from app.lifecycle.registry import DERIVED, EVENTS_TTL_TIME, SOURCE
from app.store.client import Store
from app.store.sites import Site

__all__ = [
    "apply_retention",
    "current_ttl",
    "effective_retention",
    "table_definition",
    "ttl_clause",
    "validate_retention",
]

_SITE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TTL = re.compile(r" TTL (.*?)(?: SETTINGS |$)", re.S)
MAX_DAYS = 100 * 366


def default_retention(settings: Settings) -> tuple[int, int]:
    """(events, rollups) days for sites that set neither."""
    events = settings.retention_days
    return events, max(events, settings.rollup_retention_days or events)


def effective_retention(site: Site, settings: Settings) -> tuple[int, int]:
    """(events, rollups) days the site's data is kept."""
    events = site.retention_days or settings.retention_days
    rollups = site.rollup_retention_days or settings.rollup_retention_days or events
    return events, max(events, rollups)


def validate_retention(retention_days: int, rollup_retention_days: int) -> None:
    for name, days in (("retention-days", retention_days),
                       ("rollup-retention-days", rollup_retention_days)):  # fmt: skip
        if not 0 <= days <= MAX_DAYS:
            raise ValueError(f"{name}: {days} is not between 1 and {MAX_DAYS} (0: the default)")
    if retention_days and rollup_retention_days and rollup_retention_days < retention_days:
        raise ValueError(
            f"rollup-retention-days: {rollup_retention_days} is shorter than the events' "
            f"{retention_days}; rollups are kept at least as long as the events"
        )


def _sites_list(sites: Iterable[str]) -> str:
    keys = sorted(sites)
    for key in keys:
        if not _SITE_KEY.match(key):
            raise ValueError(f"site key {key!r} cannot be written into a TTL rule")
    return ", ".join(f"'{key}'" for key in keys)


def ttl_clause(time_expr: str, default_days: int, days_by_site: dict[str, int]) -> str:
    """The TTL clause for a table: per-site rules, then the default (ClickHouse's format)."""
    groups: dict[int, list[str]] = defaultdict(list)
    for site, days in days_by_site.items():
        if days != default_days:
            groups[days].append(site)
    rules = [
        f"{time_expr} + toIntervalDay({days}) WHERE site_id IN ({_sites_list(sites)})"
        for days, sites in sorted(groups.items())
    ]
    listed = [site for sites in groups.values() for site in sites]
    default = f"{time_expr} + toIntervalDay({default_days})"
    if listed:
        default += f" WHERE site_id NOT IN ({_sites_list(listed)})"
    return ", ".join([*rules, default])


def table_definition(store: Store, table: str) -> tuple[str, str] | None:
    """(engine, create query) of a table, or None when it does not exist."""
    rows = store.rows(
        "SELECT engine, create_table_query FROM system.tables WHERE database = {db:String} "
        "AND name = {t:String}",
        {"db": store.db, "t": table},
    )
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def current_ttl(store: Store, table: str) -> str:
    found = table_definition(store, table)
    match = _TTL.search(found[1]) if found else None
    return match[1].strip() if match else ""


def desired_ttls(settings: Settings, sites: Iterable[Site]) -> dict[str, str]:
    """table -> the TTL clause it should have."""
    events: dict[str, int] = {}
    rollups: dict[str, int] = {}
    for site in sites:
        events[site.site_id], rollups[site.site_id] = effective_retention(site, settings)
    default_events, default_rollups = default_retention(settings)
    wanted = {SOURCE: ttl_clause(EVENTS_TTL_TIME, default_events, events)}
    for derived in DERIVED:
        wanted[derived.table] = ttl_clause(derived.ttl_time, default_rollups, rollups)
    return wanted


def apply_retention(store: Store, settings: Settings, sites: Iterable[Site]) -> list[str]:
    """Rewrite every TTL that differs from what the sites' retention asks; the tables
    changed (their stored data is trimmed before this returns)."""
    changed = []
    for table, clause in desired_ttls(settings, sites).items():
        found = table_definition(store, table)
        # A cluster's tables are Distributed over `<table>_local` (app/scale/cluster.py):
        # TTL rules belong on those, ON CLUSTER, which this does not do (README).
        if found is None or not found[0].endswith("MergeTree"):
            continue
        if current_ttl(store, table) == clause:
            continue
        store.command(
            f"ALTER TABLE {store.table(table)} MODIFY TTL {clause}",
            settings={"mutations_sync": 2, "alter_sync": 2, "materialize_ttl_after_modify": 1},
        )
        changed.append(table)
    return changed
