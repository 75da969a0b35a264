"""Page filters read the closed days' sessions with a view of each page (sql/084).

On a month of sessions with closed, settled and unsettled days, every page filter form
(one page, several, a prefix, negated), in UTC and zones off the hour, gives the answers
it gives when every page view is read raw (the closed horizon withheld from the filter):
the overview, a breakdown and the sessions list. That the copy is what answers is shown
by changing it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.query import metrics, sessions
from app.query import sql as query_sql
from app.query.params import Query, parse_query
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import close_days
from tests.inprocess import scratch_store
from tests.query.test_overview_device import CLOSED_UNTIL, DAYS, FIRST, PERIODS, _fill

PAGE_FILTERS = (
    {"page": "/pricing"},
    {"page": "/pricing,/docs/a"},
    {"page": "/docs/*"},
    {"page!": "/pricing"},
)


@pytest.fixture(scope="module")
def store(engine_dir: Path) -> Iterator[Store]:
    with scratch_store(engine_dir) as store:
        end = FIRST + dt.timedelta(days=DAYS)
        _fill(store, "ps_site", until=end)
        later = dt.datetime.now(dt.UTC) + SETTLE_MARGIN + dt.timedelta(seconds=2)
        settle_sessions(store, now=later)
        close_days(store, until=CLOSED_UNTIL)
        _fill(store, "ps_site", until=end, first_session=10_000)
        yield store


def _ask(period: tuple[str, str, str], params: dict[str, str], **extra: str) -> Query:
    start, end, tz = period
    asked = {"from": [start], "to": [end], "tz": [tz]}
    return parse_query(
        "ps_site",
        {**asked, **{k: [v] for k, v in {**params, **extra}.items()}},
        allowed=list(extra),
    )


def _answers(store: Store, period: tuple[str, str, str], pages: dict[str, str]) -> Any:
    return (
        metrics.overview(store, _ask(period, pages)),
        metrics.breakdown(store, _ask(period, pages), "source"),
        sessions.session_list(store, _ask(period, pages, limit="200")),
    )


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p[0]}-{p[2]}")
@pytest.mark.parametrize(
    "pages", PAGE_FILTERS, ids=lambda f: "".join(f"{k}={v}" for k, v in f.items())
)
def test_page_filters_answer_as_raw_page_views(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    pages: dict[str, str],
    period: tuple[str, str, str],
) -> None:
    from_copy = _answers(store, period, pages)
    reading = query_sql._page_view_filter
    monkeypatch.setattr(
        query_sql,
        "_page_view_filter",
        lambda sql, query, spec, closed_until=None: reading(sql, query, spec, None),
    )
    assert _answers(store, period, pages) == from_copy
    overview = from_copy[0]
    assert 0 < overview["sessions"] < metrics.overview(store, _ask(period, {}))["sessions"]


def test_the_closed_days_copy_answers(store: Store) -> None:
    """One closed day's sessions with a view of /pricing removed from the copy: fewer
    sessions have one, by at most that many (a session across midnight may have another
    on the next day)."""
    period = ("2026-10-02", "2026-10-09", "UTC")
    pricing = _ask(period, {"page": "/pricing"})
    before = metrics.overview(store, pricing)["sessions"]
    day = "toDate('2026-10-05')"
    table = store.table("page_sessions_closed")
    (removed,) = store.rows(
        f"SELECT count() FROM {table} WHERE site_id = 'ps_site' AND path = '/pricing' "
        f"AND day = {day}"
    )[0]
    assert removed > 0
    store.command(
        f"ALTER TABLE {table} DELETE WHERE site_id = 'ps_site' AND path = '/pricing' "
        f"AND day = {day} SETTINGS mutations_sync = 2"
    )
    after = metrics.overview(store, pricing)["sessions"]
    assert before - removed <= after < before
