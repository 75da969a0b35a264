"""Vitals read wholly from raw events (any filter): one scan with a grouping set per
dimension, the values shown picked by rank (`app/query/vitals.py: _raw_merge`).

The same vitals are asked three ways — with a browser filter, against counts made here
from the generated samples; with a filter that matches everything, against the answer of
the rollups (no filter); and for several sites at once with a filter (on the browser, and
on the device, which the rollups by device class answer) — and each must
agree on samples, ratings, percentiles and which values are shown. Few samples per
value, so the t-digest percentile is the nearest-rank one and can be compared exactly.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.query import vitals, vitals_cache
from app.query.params import parse_query
from app.query.vitals import _hour
from app.store.client import Store
from app.store.horizon import Horizon
from tests.inprocess import LocalIngest, scratch_store
from tests.support import CHROME_UA

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
AGENTS = {"desktop": CHROME_UA, "mobile": IPHONE_UA}
DAY = dt.date(2026, 10, 14)
#: Page weights: a clear order of samples per page, so the top two are unambiguous.
PAGES = {"/": 6, "/pricing": 4, "/docs": 2, "/blog": 1}
SITES = ("vr_one", "vr_two")


def _nearest_rank(values: list[float], level: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(level * len(ordered)) - 1, 0)]


@pytest.fixture(scope="module")
def store(engine_dir: Path) -> Iterator[Store]:
    with scratch_store(engine_dir) as store:
        yield store


@pytest.fixture(scope="module")
def samples(store: Store) -> dict[tuple[str, str, str], list[float]]:
    """LCP values by (site, device, page); the target of each is its page's hero."""
    rng = random.Random(7)
    found: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for site in SITES:
        ingest = LocalIngest(store, site)
        session = 0
        for device, agent in AGENTS.items():
            for page, weight in PAGES.items():
                for _ in range(weight * (2 if device == "mobile" else 1)):
                    session += 1
                    moment = dt.datetime.combine(DAY, dt.time(3), dt.UTC) + dt.timedelta(
                        minutes=7 * session
                    )
                    value = float(rng.randrange(500, 6000, 10))
                    url = f"https://local.test{page}"
                    ms = int(moment.timestamp() * 1000)
                    events: list[dict[str, Any]] = [
                        {"t": "pageview", "ts": ms, "pid": f"p{session}", "url": url},
                        {"t": "vital", "ts": ms + 900, "pid": f"p{session}", "name": "LCP",
                         "value": value, "target": f"img.hero{page}"},
                    ]  # fmt: skip
                    ip = f"10.1.{session // 200}.{session % 200}"
                    ingest.send(f"s-{site}-{session}", events, ip=ip, user_agent=agent)
                    found[site, device, page].append(value)
        ingest.flush()
    return found


def _ask(site: str, **params: str) -> Any:
    period = {"from": [DAY.isoformat()], "to": [DAY.isoformat()], "metric": ["LCP"]}
    extra = {k: [v] for k, v in params.items()}
    return parse_query(site, {**period, **extra}, allowed=["by", "limit", "metric"])


def test_a_browser_filter_keeps_its_samples_and_the_top_pages(
    store: Store, samples: dict[tuple[str, str, str], list[float]]
) -> None:
    """Mobile Safari: the fixture's phones (its desktops run Chrome)."""
    answer = vitals.vitals(store, _ask("vr_one", by="page", limit="2", browser="Mobile Safari"))
    mobile = {page: samples["vr_one", "mobile", page] for page in PAGES}
    every = [v for values in mobile.values() for v in values]
    lcp = answer["metrics"]["LCP"]
    assert lcp["samples"] == len(every)
    assert lcp["p75"] == pytest.approx(_nearest_rank(every, 0.75))
    assert lcp["poor"] == pytest.approx(sum(v > 4000 for v in every) / len(every), abs=1e-6)
    assert [row["value"] for row in answer["breakdown"]] == ["/", "/pricing"]
    for row in answer["breakdown"]:
        values = mobile[row["value"]]
        assert row["LCP"]["samples"] == len(values)
        assert row["LCP"]["p50"] == pytest.approx(_nearest_rank(values, 0.5))
    targets = {t["target"]: t["samples"] for t in answer["attribution"]["LCP"]}
    assert targets == {f"img.hero{page}": len(v) for page, v in mobile.items()}


def test_a_filter_that_matches_all_reads_raw_and_agrees_with_the_rollups(
    store: Store, samples: dict[tuple[str, str, str], list[float]]
) -> None:
    for by in ("page", "device", "browser"):
        rolled = vitals.vitals(store, _ask("vr_two", by=by, limit="2"))
        raw = vitals.vitals(store, _ask("vr_two", by=by, limit="2", **{"page!": "/no-such"}))
        assert raw == rolled
    whole = [v for (site, _, _), values in samples.items() if site == "vr_two" for v in values]
    assert rolled["metrics"]["LCP"]["samples"] == len(whole)


@pytest.mark.parametrize("dimension,value", [("browser", "Chrome"), ("device", "desktop")])
def test_several_sites_with_a_filter_each_get_their_own_totals(
    store: Store, samples: dict[tuple[str, str, str], list[float]], dimension: str, value: str
) -> None:
    query = parse_query(
        SITES[0],
        {"from": [DAY.isoformat()], "to": [DAY.isoformat()], "metric": ["LCP"],
         dimension: [value]},
        allowed=["metric"],
    )  # fmt: skip

    both = vitals.vitals_by_site(store, msgspec.structs.replace(query, sites=SITES))
    for site in SITES:
        desktop = [v for page in PAGES for v in samples[site, "desktop", page]]
        lcp = both[site]["metrics"]["LCP"]
        assert lcp["samples"] == len(desktop)
        assert lcp["p75"] == pytest.approx(_nearest_rank(desktop, 0.75))


def test_periods_that_share_their_settled_hours_share_that_cache_entry(store: Store) -> None:
    """Each settled part is cached on its own: a 7-day and a 30-day period ending now
    reuse one entry for the hours after the closed horizon (its key names those hours
    alone), and each has its own entry for its closed days."""
    now = dt.datetime(2026, 11, 20, 15, 20, tzinfo=dt.UTC)
    horizon = Horizon(dt.date(2026, 11, 17), "db@2026-11-18 00:00:00.000")
    known = vitals_cache.Settled(horizon, ((int(now.timestamp()) - 7200, 5),))
    keys = []
    for days in (7, 30):
        query = parse_query("s", {"from": [(now - dt.timedelta(days=days)).isoformat()],
                                   "to": [now.isoformat()]})  # fmt: skip
        segments, live = vitals._segments(store, query, vitals.VITAL_NAMES, known, now)
        assert [part.end for part, _ in segments] == [horizon.start, _hour(now)]
        assert live is not None and live.start == _hour(now)
        keys.append([key for _, key in segments])
    assert keys[0][1] == keys[1][1]  # the hours after the horizon
    assert keys[0][0] != keys[1][0]  # the closed days of each period
