"""The overview with device filters, read from the traffic and sessions by device class
(sql/083) as an unfiltered overview is read from its own.

A month of sessions from three device classes, some crossing midnight, some with an error,
some of two page views; the days are settled and the first three weeks closed, and a few
sessions arrive after the settling run, so a period reaches closed days, settled open
days and unsettled sessions. Every device filter form (one value, several, a prefix,
negated), in UTC and in zones off the hour, must give the answer of the same query read
from the session population (forced by a filter that every session passes but that is
not on the device). That the copies by device class are what answers is shown by
changing one of them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.query import metrics
from app.query.params import Query, parse_query
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import close_days
from tests.inprocess import LocalIngest, scratch_store
from tests.query.test_vitals_device import AGENTS, FILTERS

PAGES = ("/", "/pricing", "/docs/a")
FIRST = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DAYS = 30
CLOSED_UNTIL = dt.date(2026, 10, 22)
#: Matches every session, and makes the overview read the session population.
EVERY_SESSION = {"page!": "/no-such-page"}
PERIODS = (
    ("2026-10-03", "2026-10-29", "UTC"),
    ("2026-10-03", "2026-10-29", "Asia/Kolkata"),
    ("2026-10-10", "2026-10-30", "America/St_Johns"),
    ("2026-10-04T05:20:00Z", "2026-10-29T13:47:00Z", "UTC"),
)


def _session(ingest: LocalIngest, n: int, moment: dt.datetime, rng: random.Random) -> None:
    device = ("desktop", "mobile", "tablet", "mobile")[n % 4]
    ms = int(moment.timestamp() * 1000)
    events: list[dict[str, Any]] = []
    for view in range(1 + n % 2):
        page = PAGES[rng.randrange(len(PAGES))]
        # A second view 20 min on (the same session, across midnight for some), or for
        # every third session 50 min on (a new session of the same sid).
        at = ms + view * (50 if n % 3 == 0 else 20) * 60_000
        events.append(
            {"t": "pageview", "ts": at + view, "pid": f"p{n}-{view}",
             "url": f"https://local.test{page}"}
        )  # fmt: skip
    if n % 5 == 0:
        events.append(
            {"t": "error", "ts": ms + 10, "pid": f"p{n}-0", "kind": "error", "message": "boom"}
        )
    ip = f"10.3.{n // 200}.{n % 200}"
    ingest.send(f"s-{ingest.site}-{n}", events, ip=ip, user_agent=AGENTS[device])


def _fill(store: Store, site: str, *, until: dt.datetime, first_session: int = 0) -> int:
    """A session every 1 h 53 min from FIRST (some starting late in the evening, so that
    they cross midnight); returns the next session number."""
    rng = random.Random(site)
    ingest = LocalIngest(store, site)
    n, moment = first_session, FIRST + dt.timedelta(minutes=7 * first_session)
    while moment < until:
        _session(ingest, n, moment, rng)
        n += 1
        moment += dt.timedelta(hours=1, minutes=53)
    ingest.flush()
    return n


@pytest.fixture(scope="module")
def store(engine_dir: Path) -> Iterator[Store]:
    with scratch_store(engine_dir) as store:
        end = FIRST + dt.timedelta(days=DAYS)
        _fill(store, "od_site", until=end)
        _fill(store, "od_copy", until=FIRST + dt.timedelta(days=10))
        later = dt.datetime.now(dt.UTC) + SETTLE_MARGIN + dt.timedelta(seconds=2)
        settle_sessions(store, now=later)
        close_days(store, until=CLOSED_UNTIL)
        # Sessions after the settling run: merged from the `sessions` rollup.
        _fill(store, "od_site", until=end, first_session=10_000)
        yield store


def _ask(site: str, period: tuple[str, str, str], params: dict[str, str]) -> Query:
    start, end, tz = period
    asked = {"from": [start], "to": [end], "tz": [tz]}
    return parse_query(site, {**asked, **{k: [v] for k, v in params.items()}})


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p[0]}-{p[2]}")
@pytest.mark.parametrize(
    "devices", FILTERS, ids=lambda f: "".join(f"{k}={v}" for k, v in f.items())
)
def test_device_filters_answer_as_the_session_population(
    store: Store, devices: dict[str, str], period: tuple[str, str, str]
) -> None:
    by_device = metrics.overview(store, _ask("od_site", period, devices))
    population = metrics.overview(store, _ask("od_site", period, {**devices, **EVERY_SESSION}))
    assert by_device == population
    whole = metrics.overview(store, _ask("od_site", period, {}))
    assert 0 < by_device["sessions"] < whole["sessions"]
    assert 0 < by_device["previous"]["pageviews"] < whole["previous"]["pageviews"]


def test_device_classes_add_up_to_the_whole_site(store: Store) -> None:
    period = PERIODS[1]
    whole = metrics.overview(store, _ask("od_site", period, {}))
    parts = [metrics.overview(store, _ask("od_site", period, {"device": d})) for d in AGENTS]
    for name in ("sessions", "pageviews", "visitors"):  # one visitor per session here
        assert sum(p[name] for p in parts) == whole[name], name
    errored = sum(round(p["error_rate"] * p["pageviews"]) for p in parts)  # rates: 6 places
    assert errored == round(whole["error_rate"] * whole["pageviews"]) > 0


def test_the_closed_days_by_device_class_answer(store: Store) -> None:
    """One closed day's mobile traffic removed from the copy by device class: the device
    filter's page views drop by that day's, the unfiltered overview's do not."""
    period = ("2026-10-02", "2026-10-09", "UTC")
    mobile = _ask("od_copy", period, {"device": "mobile"})
    before = metrics.overview(store, mobile)
    whole = metrics.overview(store, _ask("od_copy", period, {}))
    day_views = store.rows(
        f"SELECT pageviews FROM {store.table('traffic_device_days_closed')} "
        "WHERE site_id = 'od_copy' AND device = 'mobile' AND day = '2026-10-05'"
    )[0][0]
    assert day_views > 0
    store.command(
        f"ALTER TABLE {store.table('traffic_device_days_closed')} DELETE "
        "WHERE site_id = 'od_copy' AND device = 'mobile' AND day = '2026-10-05' "
        "SETTINGS mutations_sync = 2"
    )
    after = metrics.overview(store, mobile)
    assert after["pageviews"] == before["pageviews"] - day_views
    assert metrics.overview(store, _ask("od_copy", period, {})) == whole
