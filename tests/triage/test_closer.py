"""The issue days' closed copy (app/store/closing.py): closed days are read from plain numbers and
give the list and the detail the same answers as the rollups they were copied from."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import close_days as _close_days
from app.triage.issues import IssueQuery, issue_detail, list_issues
from app.triage.rollups import clear_cache
from tests.triage.test_issues import CHECKOUT, NOW, SITE, error_row, insert, issue_id

TODAY = NOW.replace(hour=0, minute=0, second=0)


def close_days(store: Store, *, until: dt.date) -> list[dt.date]:
    """The server's order: the sessions settled, then the days closed."""
    settle_sessions(store, now=dt.datetime.now(dt.UTC) + SETTLE_MARGIN + dt.timedelta(seconds=2))
    return _close_days(store, until=until)


def _seed(store: Store) -> None:
    rows = []
    for days_ago, visitors in ((9, (1, 2, 3)), (6, (4, 4, 5)), (4, (6,)), (1, (7, 8)), (0, (9,))):
        at = TODAY - dt.timedelta(days=days_ago) + dt.timedelta(minutes=30)
        for n, visitor in enumerate(visitors):
            rows.append(
                error_row(
                    at=at + dt.timedelta(minutes=n),
                    sid=f"s{days_ago}-{visitor}",
                    visitor=visitor,
                    browser=("Chrome", "Firefox")[n % 2],
                    path=f"/cart/{n}",
                    release=f"1.{days_ago}",
                )
            )
        rows.append(
            error_row(
                at=at,
                sid=f"c{days_ago}",
                visitor=100 + days_ago,
                stack=CHECKOUT,
                type_="RangeError",
                message="Invalid array length",
                path="/checkout",
            )
        )
    insert(store, rows)


def _period(**overrides: Any) -> IssueQuery:
    values: dict[str, Any] = {
        "site": SITE,
        "start": TODAY - dt.timedelta(days=12, hours=-5),
        "end": NOW + dt.timedelta(hours=1),
        "statuses": ("all",),
        "sort": "events",
    }
    values.update(overrides)
    return IssueQuery(**values)


def _answers(store: Store) -> tuple[list[tuple[str, int, int, int]], dict[str, Any]]:
    clear_cache()
    listed = [
        (i["issue_id"], i["events"], i["users"], i["sessions"])
        for i in list_issues(store, _period())["issues"]
    ]
    detail = issue_detail(store, _period(), issue_id())
    kept = ("events", "users", "sessions", "browsers", "os", "pages", "releases", "histogram")
    return listed, {key: detail[key] for key in kept}


def test_closed_days_give_the_same_list_and_detail(store: Store) -> None:
    _seed(store)
    before = _answers(store)
    assert before[0][0] == (issue_id(), 10, 9, 9)
    assert {b["value"]: b["events"] for b in before[1]["browsers"]} == {"Chrome": 7, "Firefox": 3}
    closed = close_days(store, until=(TODAY - dt.timedelta(days=3)).date())
    assert closed[0] == (TODAY - dt.timedelta(days=9)).date()
    assert closed[-1] == (TODAY - dt.timedelta(days=4)).date()
    assert _answers(store) == before
    # Closing again changes nothing (each day is copied once).
    assert close_days(store, until=(TODAY - dt.timedelta(days=3)).date()) == []
    assert _answers(store) == before


def test_closed_days_are_read_from_the_closed_table(store: Store) -> None:
    """Once closed, a day's rollup states are not read: emptying them changes nothing."""
    _seed(store)
    before = _answers(store)
    horizon = (TODAY - dt.timedelta(days=3)).date()
    close_days(store, until=horizon)
    for table in ("issues_by_day", "issue_facets_daily"):
        store.command(
            f"ALTER TABLE {store.table(table)} DELETE WHERE day < {{d:Date}} "
            "SETTINGS mutations_sync = 1",
            {"d": horizon},
        )
    assert _answers(store) == before


def test_a_cached_detail_still_counts_events_after_the_closed_horizon(store: Store) -> None:
    """The detail keeps its closed segment per process; later days are read every time."""
    _seed(store)
    close_days(store, until=(TODAY - dt.timedelta(days=3)).date())
    clear_cache()
    first = issue_detail(store, _period(), issue_id())
    late = [
        error_row(at=TODAY - dt.timedelta(days=1, hours=-2), sid="late-1", visitor=51),
        error_row(at=NOW - dt.timedelta(minutes=1), sid="late-2", visitor=52, browser="Safari"),
    ]
    insert(store, late)
    again = issue_detail(store, _period(), issue_id())
    assert (again["events"], again["users"]) == (first["events"] + 2, first["users"] + 2)
    assert {b["value"]: b["events"] for b in again["browsers"]}["Safari"] == 1
    assert sum(h["events"] for h in again["histogram"]) == again["events"]
    clear_cache()
    fresh = issue_detail(store, _period(), issue_id())
    kept = ("events", "users", "sessions", "browsers", "os", "pages", "releases", "histogram")
    assert {k: again[k] for k in kept} == {k: fresh[k] for k in kept}


def test_a_partial_day_is_cached_only_when_closed(store: Store) -> None:
    """The list keeps a closed day's partial range; the horizon day's range stays live."""
    _seed(store)
    horizon = TODAY - dt.timedelta(days=3)
    close_days(store, until=horizon.date())
    clear_cache()
    # From mid-day on a closed day to mid-day on the horizon day (not closed).
    period = _period(
        start=TODAY - dt.timedelta(days=9, hours=-12), end=horizon + dt.timedelta(hours=12)
    )
    before = {i["issue_id"]: i["events"] for i in list_issues(store, period)["issues"]}
    insert(store, [error_row(at=horizon + dt.timedelta(hours=2), sid="h-1", visitor=61)])
    after = {i["issue_id"]: i["events"] for i in list_issues(store, period)["issues"]}
    assert after[issue_id()] == before.get(issue_id(), 0) + 1


def test_periods_across_the_horizon_give_the_same_detail(store: Store) -> None:
    """Periods that start, end or straddle a midnight around the closed horizon."""
    _seed(store)
    insert(store, [error_row(at=TODAY - dt.timedelta(days=4, hours=-20), sid="x", visitor=71)])
    insert(store, [error_row(at=TODAY - dt.timedelta(days=3, hours=-3), sid="y", visitor=72)])
    periods = [
        # two partial days, no whole day: one raw range across the horizon's midnight
        (TODAY - dt.timedelta(days=4, hours=-12), TODAY - dt.timedelta(days=3, hours=-12)),
        # only closed days, ending mid-day before the horizon
        (TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=4, hours=-21)),
        # whole days on both sides
        (TODAY - dt.timedelta(days=7), TODAY),
    ]
    kept = ("events", "users", "sessions", "browsers", "os", "pages", "releases", "histogram")

    def details() -> list[dict[str, Any]]:
        out = []
        for start, end in periods:
            detail = issue_detail(store, _period(start=start, end=end), issue_id())
            out.append({key: detail[key] for key in kept})
        return out

    clear_cache()
    before = details()
    assert [d["events"] for d in before] == [2, 8, 8]
    close_days(store, until=(TODAY - dt.timedelta(days=3)).date())
    clear_cache()
    assert details() == before  # read cold
    assert details() == before  # with the closed segments kept
