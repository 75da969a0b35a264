"""Retention per site, by ClickHouse TTL rules in every table of the registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from app.config import Settings
from app.lifecycle.registry import DERIVED, EVENTS_TTL_TIME, SOURCE
from app.lifecycle.retention import (
    apply_retention,
    current_ttl,
    desired_ttls,
    effective_retention,
    validate_retention,
)
from app.query import metrics
from app.query.params import parse_query
from app.store.client import Store
from app.store.closer import settle_sessions
from app.store.closing import close_days
from app.store.rows import EVENT_COLUMNS, encode_rows
from app.store.sites import Site
from tests.lifecycle.fixtures import traffic

NOW = dt.datetime.now(dt.UTC)
SHORT, KEPT = "s_short", "s_kept"


def _old_count(store: Store, table: str, time_expr: str, site: str, days: int) -> int:
    return int(
        store.rows(
            f"SELECT count() FROM {store.table(table)} WHERE site_id = {{site:String}} "
            f"AND {time_expr} < now() - toIntervalDay({days})",
            {"site": site},
        )[0][0]
    )


@pytest.fixture
def filled(store: Store) -> Iterator[Store]:
    rows = []
    for site in (SHORT, KEPT):
        # Three days about two weeks ago, and the last three days.
        rows += traffic(NOW - dt.timedelta(days=14), site=site)[0] + traffic(NOW, site=site)[0]
    store.insert_json_rows("events", EVENT_COLUMNS, encode_rows(rows), dedup_token="fill")
    settle_sessions(store, now=NOW + dt.timedelta(hours=1))
    close_days(store, until=NOW.date())
    yield store


def test_a_site_s_retention_empties_every_table_of_its_old_rows_only(
    filled: Store, settings: Settings
) -> None:
    store = filled
    tables = [(SOURCE, EVENTS_TTL_TIME), *((d.table, d.ttl_time) for d in DERIVED)]
    for table, time_expr in tables:
        if table == "issues":  # a lifetime row: last seen recently
            continue
        for site in (SHORT, KEPT):
            assert _old_count(store, table, time_expr, site, 8) > 0, (table, site)
    sites = [Site(SHORT, "short.test", retention_days=7), Site(KEPT, "kept.test")]
    changed = apply_retention(store, settings, sites)
    assert set(changed) == {table for table, _ in tables}
    for table, time_expr in tables:
        assert _old_count(store, table, time_expr, SHORT, 7) == 0, table
        if table != "issues":
            assert _old_count(store, table, time_expr, KEPT, 8) > 0, table
    # The answers follow: nothing of the short site's old days, all of the other's.
    old = {
        "from": [(NOW - dt.timedelta(days=20)).date().isoformat()],
        "to": [(NOW - dt.timedelta(days=8)).date().isoformat()],
    }
    assert metrics.overview(store, parse_query(SHORT, old))["pageviews"] == 0
    assert metrics.overview(store, parse_query(KEPT, old))["pageviews"] > 0
    recent = {
        "from": [(NOW - dt.timedelta(days=3)).date().isoformat()],
        "to": [(NOW + dt.timedelta(days=1)).date().isoformat()],
    }
    assert metrics.overview(store, parse_query(SHORT, recent))["pageviews"] > 0
    # Applying the same rules again changes nothing (their text is ClickHouse's own).
    assert apply_retention(store, settings, sites) == []


def test_rollups_may_be_kept_longer_than_events(filled: Store, settings: Settings) -> None:
    store = filled
    sites = [Site(SHORT, "short.test", retention_days=7, rollup_retention_days=30)]
    apply_retention(store, settings, sites)
    assert _old_count(store, SOURCE, EVENTS_TTL_TIME, SHORT, 7) == 0
    assert _old_count(store, "pages_days", "day", SHORT, 8) > 0
    assert _old_count(store, "sessions_settled", "toDateTime(session_start)", SHORT, 8) > 0


def test_the_rules_name_only_sites_that_differ_from_the_default(settings: Settings) -> None:
    sites = [
        Site("s_a", "a", retention_days=30),
        Site("s_b", "b"),
        Site("s_c", "c", retention_days=30, rollup_retention_days=90),
    ]
    wanted = desired_ttls(settings, sites)
    assert wanted[SOURCE] == (
        "toDateTime(ts) + toIntervalDay(30) WHERE site_id IN ('s_a', 's_c'), "
        "toDateTime(ts) + toIntervalDay(400) WHERE site_id NOT IN ('s_a', 's_c')"
    )
    assert wanted["pages_days"] == (
        "day + toIntervalDay(30) WHERE site_id IN ('s_a'), "
        "day + toIntervalDay(90) WHERE site_id IN ('s_c'), "
        "day + toIntervalDay(400) WHERE site_id NOT IN ('s_a', 's_c')"
    )
    assert effective_retention(sites[1], settings) == (400, 400)
    with pytest.raises(ValueError, match="shorter"):
        validate_retention(60, 30)


def test_a_fresh_store_has_the_default_rules_already(store: Store, settings: Settings) -> None:
    apply_retention(store, settings, [])
    assert apply_retention(store, settings, []) == []
    assert current_ttl(store, SOURCE) == "toDateTime(ts) + toIntervalDay(400)"
