"""The API additions the dashboard needed: vitals per bucket, issue sparklines, and an
overview without its previous period (the page asks for the numbers first).

Both put each event in the bucket of its own time in the request's zone (DESIGN §6), so
their buckets add up to the period's totals that the other endpoints give, also in a zone
with a half-hour offset.
"""

from __future__ import annotations

import httpx

from tests.support import BeaconProcess
from tests.web.conftest import DemoSite, api


def test_vitals_buckets_add_up_to_the_periods_samples(
    beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    tz = "Asia/Kolkata"  # half-hour offset: local hours are not UTC hours
    site = demo_site.as_site
    totals = api(beacon_server, site, "/vitals", period="7d", tz=tz)["metrics"]
    for interval in ("hour", "day"):
        series = api(
            beacon_server, site, "/vitals/timeseries", period="7d", tz=tz, interval=interval
        )
        assert series["metrics"] == ["LCP", "INP", "CLS", "FCP", "TTFB"]
        points = series["results"]
        assert len(points) == (7 if interval == "day" else 7 * 24)
        for name in series["metrics"]:
            samples = sum(p[name]["samples"] for p in points)
            assert samples == totals[name]["samples"] > 0, (interval, name)
            poor = sum(round(p[name]["poor"] * p[name]["samples"]) for p in points)
            assert poor == round(totals[name]["poor"] * totals[name]["samples"]), name
            empty = [p for p in points if not p[name]["samples"]]
            assert all(p[name]["p75"] is None for p in empty)
    hourly = api(
        beacon_server,
        site,
        "/vitals/timeseries",
        period="24h",
        tz=tz,
        interval="hour",
        metric="INP",
    )
    assert hourly["metrics"] == ["INP"] and set(hourly["results"][0]) == {"date", "start", "INP"}


def test_vitals_buckets_refuse_wrong_parameters(
    beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    base = f"{beacon_server.base_url}/api/v1/sites/{demo_site.site}/vitals/timeseries"
    headers = {"authorization": f"Bearer {demo_site.token}"}
    for params, message in (
        ({"metric": "XYZ"}, "metric"),
        ({"interval": "year"}, "interval"),
        ({"by": "page"}, "by: unknown parameter"),
    ):
        answer = httpx.get(base, params=params, headers=headers)
        assert answer.status_code == 400 and message in answer.text, (params, answer.text)


def test_issue_sparklines_add_up_to_the_issue_events(
    beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    tz = "Asia/Kolkata"
    site = demo_site.as_site
    for period, spark, buckets in (("7d", "day", 7), ("24h", "hour", 25)):
        listing = api(
            beacon_server, site, "/issues", period=period, tz=tz, status="all", spark=spark
        )
        assert listing["spark_interval"] == spark
        assert len(listing["spark_buckets"]) in (buckets - 1, buckets)
        assert listing["issues"]
        for issue in listing["issues"]:
            assert len(issue["spark"]) == len(listing["spark_buckets"])
            assert sum(issue["spark"]) == issue["events"], issue["issue_id"]
    plain = api(beacon_server, site, "/issues", period="7d", tz=tz)
    assert "spark" not in plain["issues"][0] and "spark_buckets" not in plain
    headers = {"authorization": f"Bearer {demo_site.token}"}
    base = f"{beacon_server.base_url}/api/v1/sites/{demo_site.site}/issues"
    wrong = httpx.get(base, params={"spark": "week"}, headers=headers)
    assert wrong.status_code == 400 and "spark" in wrong.text
    long = httpx.get(base, params={"spark": "hour", "period": "30d"}, headers=headers)
    assert long.status_code == 400 and "7 days" in long.text


def test_an_overview_asked_without_comparison_and_its_previous_period_agree_with_one_asked_with_it(
    beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    """The dashboard draws the top stats from `compare=false` and their changes from a
    second request for `previous_period`: both must be the one request's numbers."""
    site = demo_site.as_site
    both = ("visitors", "pageviews")
    for filters in ({}, {"page": "/pricing"}, {"device": "desktop"}, {"entry_page": "/"}):
        whole = api(beacon_server, site, "/overview", period="24h", tz="Asia/Kolkata", **filters)
        # The same period by its bounds (24h ends at the moment asked).
        same = {"tz": "Asia/Kolkata", **filters, **whole["period"]}
        alone = api(beacon_server, site, "/overview", compare="false", **same)
        assert "previous" not in alone
        assert alone == {k: v for k, v in whole.items() if k != "previous"}, filters
        bounds = {**same, **alone["previous_period"]}
        before = api(beacon_server, site, "/overview", compare="false", **bounds)
        assert {k: v for k, v in before.items() if "period" not in k} == whole["previous"], filters
        assert before["period"] == alone["previous_period"]
        assert all(whole[k] > 0 and whole["previous"][k] > 0 for k in both), filters
