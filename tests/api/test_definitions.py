"""DESIGN §6 definitions against hand-computed expectations, through the HTTP API.

One small site with nine sessions whose every number is worked out below by hand; the
events go through `POST /api/event` (so the pipeline's session split and bot filter are
part of what is tested) and the numbers come back from the analytics API.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest

from tests.support import CHROME_UA, BeaconProcess, Site

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
MIN = 60_000


def _ua(visitor: str) -> str:
    return f"{CHROME_UA} Visitor/{visitor}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    process = BeaconProcess(tmp_path_factory.mktemp("definitions") / "data").start()
    yield process
    process.stop()


def _page(ts: int, pid: str, path: str = "/", lcp: float | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"t": "pageview", "ts": ts, "pid": pid, "url": f"https://shop.test{path}"}
    ]
    if lcp is not None:
        events.append({"t": "vital", "ts": ts + 1, "pid": pid, "name": "LCP", "value": lcp})
    return events


@pytest.fixture(scope="module")
def fixture_site(server: BeaconProcess) -> tuple[Site, dt.datetime, dt.datetime]:
    site = server.add_site("shop.test")
    t0 = (int(time.time() * 1000) - 3 * 3_600_000) // MIN * MIN
    sessions: list[tuple[str, str, list[dict[str, Any]]]] = [
        # visitor A
        ("a", "s1", _page(t0, "p1", lcp=1000)),  # bounce, 0 ms, not engaged
        ("a", "s2", [*_page(t0 + MIN, "p2", lcp=2000),  # click: not a bounce; 12 s: engaged
                     {"t": "click", "ts": t0 + MIN + 5000, "pid": "p2", "target": "button"},
                     {"t": "engagement", "ts": t0 + MIN + 20_000, "pid": "p2",
                      "engaged_ms": 12_000, "scroll": 20},
                     {"t": "vital", "ts": t0 + MIN + 6000, "pid": "p2", "name": "INP",
                      "value": 100}]),
        # visitor B
        ("b", "s3", [*_page(t0 + 2 * MIN, "p3", "/a", lcp=3000),  # 2 views: engaged
                     {"t": "error", "ts": t0 + 2 * MIN + 10, "pid": "p3", "kind": "error",
                      "type": "TypeError", "message": "x is undefined"},
                     {"t": "error", "ts": t0 + 2 * MIN + 20, "pid": "p3", "kind": "error",
                      "type": "TypeError", "message": "y is undefined"},
                     {"t": "vital", "ts": t0 + 2 * MIN + 30, "pid": "p3", "name": "INP",
                      "value": 200},
                     *_page(t0 + 3 * MIN, "p3b", "/b"),
                     {"t": "engagement", "ts": t0 + 2 * MIN + 90_000, "pid": "p3b",
                      "engaged_ms": 3000}]),
        ("b", "s4", [*_page(t0 + 4 * MIN, "p4", lcp=4000),  # scroll past half: no bounce
                     {"t": "scroll", "ts": t0 + 4 * MIN + 10_000, "pid": "p4", "depth": 60},
                     {"t": "vital", "ts": t0 + 4 * MIN + 50, "pid": "p4", "name": "INP",
                      "value": 300}]),
        # visitor C
        ("c", "s5", [*_page(t0 + 5 * MIN, "p5"),  # scroll 30 %: still a bounce
                     {"t": "scroll", "ts": t0 + 5 * MIN + 10_000, "pid": "p5", "depth": 30},
                     {"t": "vital", "ts": t0 + 5 * MIN + 50, "pid": "p5", "name": "INP",
                      "value": 600}]),
        ("c", "s6", [*_page(t0 + 6 * MIN, "p6"),  # custom event: no bounce, engaged
                     {"t": "custom", "ts": t0 + 6 * MIN + 2000, "pid": "p6", "name": "signup"},
                     {"t": "error", "ts": t0 + 6 * MIN + 100, "pid": "p6", "kind": "rejection",
                      "message": "nope"}]),
        ("c", "s7", [*_page(t0 + 7 * MIN, "p7"),  # form submit: no bounce, not engaged
                     {"t": "submit", "ts": t0 + 7 * MIN + 4000, "pid": "p7", "target": "form"}]),
        # one sid, a 31-minute gap: two sessions, each a one-page bounce of 0 ms
        ("c", "s8", [*_page(t0 + 8 * MIN, "p8"), *_page(t0 + 39 * MIN, "p9")]),
    ]  # fmt: skip
    for visitor, sid, events in sessions:
        response = server.send(
            {"site": site.site, "sid": sid, "sent_at": int(time.time() * 1000),
             "events": events},
            headers={"user-agent": _ua(visitor)},
        )  # fmt: skip
        assert response.status_code == 202, response.text
    bot = server.send(
        {"site": site.site, "sid": "bot", "sent_at": int(time.time() * 1000),
         "events": [*_page(t0, "pb", lcp=9000), *_page(t0 + 1000, "pb2")]},
        headers={"user-agent": GOOGLEBOT},
    )  # fmt: skip
    assert bot.status_code == 202 and bot.json() == {"accepted": 0}
    server.wait_events(site, lambda rows: len(rows) >= 28, timeout=10)
    start = dt.datetime.fromtimestamp(t0 / 1000, dt.UTC) - dt.timedelta(minutes=10)
    end = dt.datetime.fromtimestamp(t0 / 1000, dt.UTC) + dt.timedelta(hours=1)
    return site, start, end


def _get(server: BeaconProcess, site: Site, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{server.base_url}/api/v1/sites/{site.site}/{path}",
        params=params,
        headers={"authorization": f"Bearer {site.token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _period(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat()}


def test_overview_matches_the_hand_computed_definitions(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime]
) -> None:
    site, start, end = fixture_site
    overview = _get(server, site, "overview", **_period(start, end))
    assert overview["visitors"] == 3  # the bot is not a visitor
    assert overview["sessions"] == 9  # s8 is two sessions: 31 minutes between its events
    assert overview["pageviews"] == 10
    assert overview["bounce_rate"] == pytest.approx(4 / 9, abs=1e-6)  # s1, s5, s8 twice
    assert overview["engagement_rate"] == pytest.approx(3 / 9, abs=1e-6)  # s2, s3, s6
    assert overview["views_per_session"] == pytest.approx(10 / 9, abs=1e-6)
    # first to last event: s1 1 ms (its LCP), s2 20 s, s3 90 s, s4 10 s, s5 10 s, s6 2 s,
    # s7 4 s, both parts of s8 0
    assert overview["avg_session_duration_ms"] == pytest.approx(136_001 / 9, abs=0.01)
    assert overview["avg_engaged_ms"] == pytest.approx(15_000 / 9, abs=0.01)
    assert overview["error_rate"] == pytest.approx(2 / 10, abs=1e-6)  # views p3 and p6
    assert overview["previous"]["sessions"] == 0


def test_sessions_list_shows_the_split_and_the_bounces(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime]
) -> None:
    site, start, end = fixture_site
    listed = _get(server, site, "sessions", limit=50, **_period(start, end))["results"]
    by_sid: dict[str, list[dict[str, Any]]] = {}
    for session in listed:
        by_sid.setdefault(session["sid"], []).append(session)
    assert sorted(by_sid) == ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"]
    assert sorted(s["session_seq"] for s in by_sid["s8"]) == [0, 1]
    assert {sid: [s["bounced"] for s in rows] for sid, rows in by_sid.items()} == {
        "s1": [True], "s2": [False], "s3": [False], "s4": [False], "s5": [True],
        "s6": [False], "s7": [False], "s8": [True, True],
    }  # fmt: skip
    assert by_sid["s3"][0]["duration_ms"] == 90_000
    assert by_sid["s3"][0]["errors"] == 2


BOUNDS = ["raw-events", "daily-rollup", "rollup-and-raw-edges", "weekly-rollup", "hourly-edge"]


def _bounded(start: dt.datetime, end: dt.datetime, bounds: str) -> dict[str, str]:
    """The fixture's period, cut so that the answer comes from raw events only, from a
    daily rollup alone (whole UTC days), from both, from whole weeks, or from a day's
    rollup and an edge of whole hours."""
    after_the_last_day = (end.date() + dt.timedelta(days=1)).isoformat()
    if bounds == "hourly-edge":  # the day before, then whole hours up to after the end
        day_before = dt.datetime.combine(start.date(), dt.time(), dt.UTC) - dt.timedelta(1)
        hour_after = end.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        return {"from": day_before.isoformat(), "to": hour_after.isoformat()}
    if bounds == "weekly-rollup":  # the fixture's week lies whole inside
        return {
            "from": (start.date() - dt.timedelta(days=7)).isoformat(),
            "to": (end.date() + dt.timedelta(days=8)).isoformat(),
        }
    if bounds == "daily-rollup":
        return {"from": start.date().isoformat(), "to": after_the_last_day}
    if bounds == "rollup-and-raw-edges":
        noon_before = dt.datetime.combine(start.date(), dt.time(12), dt.UTC) - dt.timedelta(1)
        return {"from": noon_before.isoformat(), "to": after_the_last_day}
    return _period(start, end)  # within one day: raw events only


@pytest.mark.parametrize("bounds", BOUNDS)
def test_vital_percentiles_and_ratings(
    server: BeaconProcess,
    fixture_site: tuple[Site, dt.datetime, dt.datetime],
    bounds: str,
) -> None:
    site, start, end = fixture_site
    metrics = _get(server, site, "vitals", **_bounded(start, end, bounds))["metrics"]
    lcp, inp = metrics["LCP"], metrics["INP"]
    # LCP 1000, 2000, 3000, 4000 (the bot's 9000 was dropped): on so few values the
    # t-digest percentile is the nearest-rank one
    assert lcp["samples"] == 4
    assert lcp["p75"] == pytest.approx(3000.0)
    assert lcp["p50"] == pytest.approx(2000.0)
    assert (lcp["good"], lcp["needs_improvement"], lcp["poor"]) == (0.5, 0.5, 0.0)
    # INP 100, 200, 300, 600: 200 is still good (≤ 200), 600 poor (> 500)
    assert inp["p75"] == pytest.approx(300.0)
    assert (inp["good"], inp["needs_improvement"], inp["poor"]) == (0.5, 0.25, 0.25)


@pytest.mark.parametrize("bounds", BOUNDS)
def test_vitals_by_page_with_the_page_error_rate(
    server: BeaconProcess,
    fixture_site: tuple[Site, dt.datetime, dt.datetime],
    bounds: str,
) -> None:
    site, start, end = fixture_site
    answer = _get(server, site, "vitals", by="page", **_bounded(start, end, bounds))
    pages = {row["value"]: row for row in answer["breakdown"]}
    assert list(pages) == ["/", "/a"]  # most samples first; /b has no vitals
    # "/": LCP 1000, 2000, 4000 (p1, p2, p4), INP 100, 300, 600 (p2, p4, p5)
    assert pages["/"]["LCP"]["samples"] == 3 and pages["/"]["INP"]["samples"] == 3
    assert pages["/"]["LCP"]["p50"] == pytest.approx(2000.0)
    assert pages["/"]["INP"]["poor"] == pytest.approx(1 / 3, abs=1e-6)
    assert pages["/a"]["LCP"]["p75"] == pytest.approx(3000.0)
    assert pages["/a"]["INP"]["p50"] == pytest.approx(200.0)
    # errored page views / page views: "/" has p6 of its 8, "/a" its only view p3
    assert pages["/"]["error_rate"] == pytest.approx(1 / 8, abs=1e-6)
    assert pages["/a"]["error_rate"] == 1.0


def test_errors_impact_splits_sessions_by_whether_they_hit_an_error(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime]
) -> None:
    site, start, end = fixture_site
    impact = _get(server, site, "vitals/errors-impact", **_period(start, end))
    assert impact["with_errors"]["sessions"] == 2  # s3, s6
    assert impact["with_errors"]["bounce_rate"] == 0.0
    assert impact["without_errors"]["sessions"] == 7
    assert impact["without_errors"]["bounce_rate"] == pytest.approx(4 / 7, abs=1e-6)
    assert impact["with_errors"]["inp_p75"] == pytest.approx(200.0)  # s3's only INP
    assert impact["without_errors"]["inp_samples"] == 3


@pytest.mark.parametrize("bounds", BOUNDS)
def test_breakdown_by_page_and_entry_page(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime], bounds: str
) -> None:
    site, start, end = fixture_site
    period = _bounded(start, end, bounds)
    pages = {r["value"]: r for r in _get(server, site, "breakdown/page", **period)["results"]}
    assert list(pages) == ["/", "/a", "/b"]  # most viewed first, then by name
    # "/": views of s1, s2 (visitor a), s4 (b), s5, s6, s7 and both parts of s8 (c)
    assert (pages["/"]["pageviews"], pages["/"]["visitors"], pages["/"]["sessions"]) == (8, 3, 8)
    assert pages["/"]["error_rate"] == pytest.approx(1 / 8, abs=1e-6)  # p6
    assert (pages["/a"]["pageviews"], pages["/a"]["visitors"], pages["/a"]["sessions"]) == (1, 1, 1)
    assert pages["/a"]["error_rate"] == 1.0  # p3, whose two errors count once
    assert (pages["/b"]["pageviews"], pages["/b"]["error_rate"]) == (1, 0.0)
    entries = {
        r["value"]: r["sessions"]
        for r in _get(server, site, "breakdown/entry_page", **period)["results"]
    }
    assert entries == {"/": 8, "/a": 1}


def test_filters_narrow_every_metric(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime]
) -> None:
    site, start, end = fixture_site
    only_a = _get(server, site, "overview", page="/a", **_period(start, end))
    assert (only_a["sessions"], only_a["pageviews"]) == (1, 2)  # s3 viewed /a (and /b)
    not_a = _get(server, site, "overview", **{"page!": "/a"}, **_period(start, end))
    assert not_a["sessions"] == 8


def test_session_timeline_lists_events_in_order_with_issue_ids(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime]
) -> None:
    site, start, end = fixture_site
    timeline = _get(server, site, "sessions/s3", **_period(start, end))
    assert timeline["sid"] == "s3"
    events = timeline["events"]
    # LCP at +1 ms, the errors at +10 and +20 ms, INP at +30 ms, /b at +60 s, then +90 s
    expected = ["pageview", "vital", "error", "error", "vital", "pageview", "engagement"]
    assert [e["type"] for e in events] == expected
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert [e["path"] for e in events if e["type"] == "pageview"] == ["/a", "/b"]
    issues = _get(server, site, "issues", **_period(start, end))["issues"]
    by_message = {issue["message"]: issue["issue_id"] for issue in issues}
    errors = [e for e in events if e["type"] == "error"]
    assert [e["issue_id"] for e in errors] == [
        by_message["x is undefined"],
        by_message["y is undefined"],
    ]
    assert errors[0]["issue_id"] != errors[1]["issue_id"]


def test_session_timeline_of_an_unknown_sid_is_404(
    server: BeaconProcess, fixture_site: tuple[Site, dt.datetime, dt.datetime]
) -> None:
    site, start, end = fixture_site
    response = httpx.get(
        f"{server.base_url}/api/v1/sites/{site.site}/sessions/no-such-sid",
        params=_period(start, end),
        headers={"authorization": f"Bearer {site.token}"},
        timeout=30,
    )
    assert response.status_code == 404
    assert "no-such-sid" in response.json()["detail"]
