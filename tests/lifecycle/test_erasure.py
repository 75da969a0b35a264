"""Erasure: after erasing a person, every answer equals a store that never saw them, and
no row of theirs is left in any table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from app.config import Settings
from app.lifecycle.erasure import delete_site, erase, list_erasures, subject_hash
from app.lifecycle.registry import DERIVED
from app.query import metrics, vitals
from app.query.params import parse_query
from app.store.client import Store
from app.store.closer import settle_sessions
from app.store.closing import close_days
from app.store.migrate import apply_migrations
from app.store.rows import EVENT_COLUMNS, encode_rows
from app.triage.issues import IssueQuery, list_issues
from tests.lifecycle.fixtures import PERSON, SITE, traffic

NOW = dt.datetime.now(dt.UTC)
DIMENSIONS = ("page", "entry_page", "exit_page", "source", "country", "device", "browser", "os")


def _open(settings: Settings, suffix: str) -> Store:
    store = Store.open(msgspec.structs.replace(settings, database=settings.database + suffix))
    apply_migrations(store, retention_days=400)
    return store


def _fill(store: Store, rows: list[Any]) -> None:
    store.insert_json_rows("events", EVENT_COLUMNS, encode_rows(rows), dedup_token="fill")
    # As a running server would have: sessions settled, finished days closed.
    settle_sessions(store, now=NOW + dt.timedelta(hours=1))
    close_days(store, until=NOW.date())


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[Store, Store, set[str]]]:
    everyone, person_sids = traffic(NOW)
    without = [row for row in everyone if row.sid not in person_sids]
    assert len(without) < len(everyone)
    full, never = _open(settings, "_full"), _open(settings, "_never")
    try:
        _fill(full, everyone)
        _fill(never, without)
        yield full, never, person_sids
    finally:
        for store in (full, never):
            store.command(f"DROP DATABASE IF EXISTS {store.db}")


def _answers(store: Store) -> dict[str, Any]:
    period = {
        "from": [(NOW - dt.timedelta(days=3)).date().isoformat()],
        "to": [(NOW + dt.timedelta(days=1)).date().isoformat()],
    }
    answers: dict[str, Any] = {"overview": metrics.overview(store, parse_query(SITE, period))}
    # Filtered overviews read their own copies (by device class, sessions by page: sql/083-084).
    for name, value in (("device", "mobile"), ("device", "desktop"), ("page", "/pricing")):
        answers[f"overview {name}={value}"] = metrics.overview(
            store, parse_query(SITE, {**period, name: [value]})
        )
    answers["timeseries"] = metrics.timeseries(
        store, parse_query(SITE, {**period, "interval": ["day"]}, allowed=("interval",))
    )
    for dimension in DIMENSIONS:
        answers[dimension] = metrics.breakdown(store, parse_query(SITE, period), dimension)
    for by in ("", "page", "device"):
        params = {**period, **({"by": [by]} if by else {})}
        answers[f"vitals {by}"] = vitals.vitals(store, parse_query(SITE, params, allowed=("by",)))
    base = parse_query(SITE, period)
    issues = list_issues(
        store,
        IssueQuery(
            site=SITE,
            start=base.start,
            end=base.end,
            statuses=("unresolved", "resolved", "ignored", "regressed"),
        ),
    )
    answers["issues"] = issues  # every field: counts, users, sessions, first/last seen
    return answers


def test_an_erased_person_leaves_the_numbers_of_a_store_that_never_saw_them(
    stores: tuple[Store, Store, set[str]],
) -> None:
    full, never, _ = stores
    before = _answers(full)
    assert before != _answers(never)  # the person counts before the erasure
    assert any(i["issue_id"] == "fp-person" for i in before["issues"]["issues"])
    done = erase(full, SITE, "uid", PERSON, by="test")
    assert done.sessions == 2 and done.removed["events"] > 0
    assert done.subject_hash == subject_hash(SITE, "uid", PERSON)
    after, expected = _answers(full), _answers(never)
    for key in expected:
        assert after[key] == expected[key], key
    assert not any(i["issue_id"] == "fp-person" for i in after["issues"]["issues"])
    # Logged: who, what, how much; the uid itself appears nowhere in the log.
    logged = list_erasures(full, SITE)
    assert [(e.by, e.kind, e.sessions) for e in logged] == [("test", "uid", 2)]
    assert PERSON not in msgspec.json.encode(logged).decode()


def _tables_with(store: Store, column: str) -> list[str]:
    rows = store.rows(
        "SELECT c.table FROM system.columns AS c INNER JOIN system.tables AS t "
        "ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = {db:String} AND c.name = {c:String} AND t.engine LIKE '%MergeTree'",
        {"db": store.db, "c": column},
    )
    return sorted(row[0] for row in rows)


def test_no_row_of_an_erased_person_is_left_in_any_table(
    stores: tuple[Store, Store, set[str]],
) -> None:
    full, _, person_sids = stores
    erase(full, SITE, "uid", PERSON, by="test")
    with_uid, with_sid = _tables_with(full, "user_id"), _tables_with(full, "sid")
    assert {"events", "sessions", "sessions_settled"} <= set(with_uid)
    for table in with_uid:
        count = full.rows(
            f"SELECT count() FROM {full.table(table)} WHERE user_id = {{uid:String}}",
            {"uid": PERSON},
        )[0][0]
        assert count == 0, table
    for table in with_sid:
        count = full.rows(
            f"SELECT count() FROM {full.table(table)} WHERE sid IN {{sids:Array(String)}}",
            {"sids": sorted(person_sids)},
        )[0][0]
        assert count == 0, table
    # Session-keyed tables without a sid column: by the sessions' keys.
    for derived in DERIVED:
        if derived.key == "session_key":
            count = full.rows(
                f"SELECT count() FROM {full.table(derived.table)} WHERE session_key IN "
                f"(SELECT cityHash64(sid, number) FROM (SELECT arrayJoin({{sids:Array(String)}}) "
                "AS sid) ARRAY JOIN range(8) AS number)",
                {"sids": sorted(person_sids)},
            )[0][0]
            assert count == 0, derived.table


def test_erasing_one_session_by_sid(stores: tuple[Store, Store, set[str]]) -> None:
    full, _, person_sids = stores
    sid = sorted(person_sids)[0]
    done = erase(full, SITE, "sid", sid, by="test")
    assert done.sessions == 1
    left = full.rows(
        f"SELECT uniqExact(sid) FROM {full.table('events')} WHERE sid IN {{s:Array(String)}}",
        {"s": sorted(person_sids)},
    )[0][0]
    assert left == 1
    again = erase(full, SITE, "sid", sid, by="test")  # nothing left: logged, no rows
    assert again.sessions == 0 and again.removed == {"events": 0}


def test_deleting_a_site_removes_all_of_it_and_keeps_the_log(
    stores: tuple[Store, Store, set[str]],
) -> None:
    full, _, _ = stores
    other, _ = traffic(NOW, site="s_other", seed=11)
    full.insert_json_rows("events", EVENT_COLUMNS, encode_rows(other), dedup_token="other")
    done = delete_site(full, SITE, by="test")
    assert done.removed["events"] > 0 and done.removed["sessions"] > 0
    for table in _tables_with(full, "site_id"):
        if table == "erasures":
            continue
        left = full.rows(
            f"SELECT count() FROM {full.table(table)} WHERE site_id = {{s:String}}", {"s": SITE}
        )[0][0]
        assert left == 0, table
    assert full.rows(f"SELECT count() FROM {full.table('events')} WHERE site_id = 's_other'")[0][
        0
    ] == len(other)
    assert [e.kind for e in list_erasures(full, SITE)] == ["site"]
