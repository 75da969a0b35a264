"""Vitals with device filters, read from the rollups by device class (sql/082).

A period with whole weeks, other whole days, whole hours and minutes at both edges is
asked with device filters of every form (one value, several, a prefix, negated), each
with a breakdown by page, by route and none, and must give the answer of the same query
read from raw events (forced by adding a filter that matches every vital but is not on
the device). Few samples per value, so the t-digest percentiles are the nearest-rank ones
and merged states give the raw scan's figures exactly. That the rollups are what answers
is shown by their outliving the raw events, as the unfiltered answer does.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.query import vitals
from app.query.params import Query, parse_query
from app.store.client import Store
from tests.inprocess import LocalIngest, scratch_store
from tests.support import CHROME_UA

AGENTS = {
    "desktop": CHROME_UA,
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
}
PAGES = ("/", "/pricing", "/docs/a", "/docs/b")
FIRST = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
#: Wednesday 05:20 to Friday 13:45 three weeks later: whole weeks, days on both sides of
#: them, and partial days with whole hours and minutes at both edges.
START = dt.datetime(2026, 10, 7, 5, 20, tzinfo=dt.UTC)
END = dt.datetime(2026, 10, 30, 13, 45, tzinfo=dt.UTC)
FILTERS = (
    {"device": "mobile"},
    {"device": "mobile,tablet"},
    {"device": "tab*"},
    {"device!": "desktop"},
)
#: Matches every vital of the site, and makes the query read raw events.
EVERY_PAGE = {"page!": "/no-such-page"}


@pytest.fixture(scope="module")
def store(engine_dir: Path) -> Iterator[Store]:
    with scratch_store(engine_dir) as store:
        _fill(store, "vd_site", FIRST, days=32)
        yield store


def _fill(store: Store, site: str, first: dt.datetime, *, days: int) -> int:
    """A session every 2 h 37 min from `first` for `days` days, each a page view and an
    LCP and INP sample on one of the pages, from one of the device classes; returns how
    many sessions."""
    rng = random.Random(site)
    ingest = LocalIngest(store, site)
    moment, session = first, 0
    while moment < first + dt.timedelta(days=days):
        session += 1
        device = ("desktop", "mobile", "tablet", "mobile")[session % 4]
        page = PAGES[rng.randrange(len(PAGES))]
        ms = int(moment.timestamp() * 1000)
        pid = f"p{session}"
        url = f"https://local.test{page}"
        events: list[dict[str, Any]] = [
            {"t": "pageview", "ts": ms, "pid": pid, "url": url},
            {"t": "vital", "ts": ms + 900, "pid": pid, "name": "LCP",
             "value": float(rng.randrange(500, 6000, 10)), "target": f"img.hero{page}"},
            {"t": "vital", "ts": ms + 5000, "pid": pid, "name": "INP",
             "value": float(rng.randrange(16, 900, 8)), "target": f"button#buy{session % 3}"},
        ]  # fmt: skip
        ip = f"10.2.{session // 200}.{session % 200}"
        ingest.send(f"s-{site}-{session}", events, ip=ip, user_agent=AGENTS[device])
        moment += dt.timedelta(hours=2, minutes=37)
    ingest.flush()
    return session


def _ask(site: str, params: dict[str, str], period: tuple[str, str] | None = None) -> Query:
    start, end = period or (START.isoformat(), END.isoformat())
    asked = {"from": [start], "to": [end], "metric": ["LCP", "INP"]}
    return parse_query(
        site, {**asked, **{k: [v] for k, v in params.items()}}, allowed=["by", "limit", "metric"]
    )


@pytest.mark.parametrize(
    "devices", FILTERS, ids=lambda f: "".join(f"{k}={v}" for k, v in f.items())
)
def test_device_filters_from_the_rollups_answer_as_raw_events(
    store: Store, devices: dict[str, str]
) -> None:
    for by in ({"by": "page", "limit": "3"}, {"by": "route", "limit": "2"}, {}):
        rolled = vitals.vitals(store, _ask("vd_site", {**devices, **by}))
        raw = vitals.vitals(store, _ask("vd_site", {**devices, **by, **EVERY_PAGE}))
        assert rolled == raw, (devices, by)
        assert rolled["metrics"]["LCP"]["samples"] > 0
    unfiltered = vitals.vitals(store, _ask("vd_site", {}))["metrics"]["LCP"]["samples"]
    assert 0 < rolled["metrics"]["LCP"]["samples"] < unfiltered


def test_device_classes_add_up_to_the_whole_site(store: Store) -> None:
    total = vitals.vitals(store, _ask("vd_site", {"by": "page"}))
    parts = [vitals.vitals(store, _ask("vd_site", {"by": "page", "device": d})) for d in AGENTS]
    for name in ("LCP", "INP"):
        assert (
            sum(p["metrics"][name]["samples"] for p in parts) == total["metrics"][name]["samples"]
        )
    for row in total["breakdown"]:
        shown = [next(r for r in p["breakdown"] if r["value"] == row["value"]) for p in parts]
        assert sum(r["LCP"]["samples"] for r in shown) == row["LCP"]["samples"]


def test_a_device_filter_is_answered_by_the_rollups_after_the_raw_events_are_gone(
    store: Store,
) -> None:
    """Rollups outlive the raw events they were made from (a site may keep them longer):
    with the site's events deleted, a device filter over whole days still counts every
    sample, as the unfiltered answer does, and only the query forced onto raw events
    finds none."""
    sessions = _fill(store, "vd_gone", START, days=10)
    days = ("2026-10-07", "2026-10-17")  # dates: every day whole, all of the fill

    def mobile(extra: dict[str, str]) -> dict[str, Any]:
        return vitals.vitals(store, _ask("vd_gone", {"device": "mobile", **extra}, days))

    before = mobile({"by": "page"})
    store.command(
        f"ALTER TABLE {store.table('events')} DELETE WHERE site_id = 'vd_gone' "
        "SETTINGS mutations_sync = 2"
    )
    after = mobile({"by": "page"})
    assert after["metrics"]["LCP"]["samples"] == sum(s % 2 == 1 for s in range(1, sessions + 1))
    assert after["metrics"] == before["metrics"]
    assert after["attribution"] == before["attribution"]
    assert mobile(EVERY_PAGE)["metrics"]["LCP"]["samples"] == 0
