"""The snippet in real headless Chromium, against a running Beacon server.

Every check reads what Beacon stored (its raw export), after the page was left the way a
person leaves it (navigation to about:blank: pagehide, then visibilitychange). Web
vitals are compared with Google's `web-vitals` library measured on the same page load.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Rows, Visit, WebServer, build_snippet, of_type
from tests.support import BeaconProcess, Site

pytestmark = pytest.mark.browser

BUDGET = 3000
VisitFn = Callable[..., Visit]


def attrs(site: Site, beacon: BeaconProcess, **extra: str | None) -> dict[str, str | None]:
    """The snippet's data-* attributes for pages served from 127.0.0.1 (hence localhost)."""
    return {
        "site": site.site,
        "endpoint": beacon.base_url + "/api/event",
        "localhost": None,
        **extra,
    }


def rows_of(rows: Rows, kind: str, **match: Any) -> Rows:
    return [r for r in of_type(rows, kind) if all(r[k] == v for k, v in match.items())]


def close(ours: float, theirs: float) -> bool:
    """Timings agree within 1 % or 1 ms."""
    return abs(ours - theirs) <= max(1.0, 0.01 * abs(theirs))


def test_size_within_budget() -> None:
    """The budget as the issue measures it: `gzip -9c dist/beacon.min.js | wc -c`."""
    dist = build_snippet()
    if shutil.which("gzip"):
        out = subprocess.run(["gzip", "-9c", str(dist)], capture_output=True, check=True)
        size = len(out.stdout)
    else:
        size = len(gzip.compress(dist.read_bytes(), compresslevel=9)) + len(dist.name) + 1
    assert size <= BUDGET, f"snippet is {size} bytes gzip -9, budget {BUDGET}"


def test_pageview_and_spa_routes(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    url = web.page("<h1>SPA</h1>", attrs=attrs(site, beacon_server), title="SPA home")
    v = visit(url)
    path = url.removeprefix(web.origin)
    v.page.evaluate(
        """async () => {
          const tick = () => new Promise((r) => setTimeout(r, 50));
          history.pushState({}, '', '/spa/a'); await tick();
          history.replaceState({}, '', '/spa/a'); await tick();   // same URL: no page view
          history.replaceState({}, '', '/spa/b'); await tick();
          history.back(); await new Promise((r) => addEventListener('popstate', r, {once: true}));
          await tick();
          location.hash = 'section'; await tick();
        }"""
    )
    sid = v.sid
    v.leave()
    rows = beacon_server.wait_events(site, lambda r: len(of_type(r, "pageview")) >= 5, sid=sid)
    views = of_type(rows, "pageview")
    assert [r["path"] for r in views] == [path, "/spa/a", "/spa/b", path, path]
    assert [r["nav"] for r in views] == ["navigate", "spa", "spa", "spa", "spa"]
    assert len({r["pid"] for r in views}) == 5
    first = views[0]
    assert first["title"] == "SPA home"
    assert (first["vw"], first["vh"]) == (1024, 768)
    assert first["sw"] > 0 and first["sh"] > 0 and first["lang"] == "en-US"
    assert first["browser"] == "Chrome"


VITALS_PAGE = """
<h1 id=title>Vitals</h1>
<div id=banner></div>
<p id=para>Some text under a banner that arrives late and pushes it down.</p>
<img id=hero src="/photo.png?delay=250" width=480 height=320 alt=photo>
<button id=slow>Slow button</button>
<script>
  setTimeout(() => { document.getElementById('banner').style.height = '120px'; }, 400);
  document.getElementById('slow').addEventListener('click', () => {
    const end = performance.now() + 260;
    while (performance.now() < end) {}
  });
</script>
"""


def _oracle(web: WebServer, path: str, nav: str) -> dict[str, dict[str, Any]]:
    """web-vitals' last report per metric for one page load."""
    return {o["name"]: o for o in web.oracle if o["path"] == path and o["nav"] == nav}


def _wait_hero(v: Visit) -> None:
    v.page.wait_for_function("document.getElementById('hero').complete")
    v.page.wait_for_timeout(600)  # LCP painted and the banner shift done, before any input


def _same_element(v: Visit, ours: str, theirs: str) -> bool:
    same: bool = v.page.evaluate(
        "([a, b]) => !!a && document.querySelector(a) === document.querySelector(b)",
        [ours, theirs],
    )
    return same


def test_vitals_agree_with_web_vitals(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    # Warm up: a fresh browser adds start-up noise; then measure on a second load.
    url = web.page(VITALS_PAGE, attrs=attrs(site, beacon_server), oracle=True)
    path = url.removeprefix(web.origin)
    warm = visit(web.page("<p>warm up</p>", attrs=attrs(site, beacon_server)))
    warm.leave()

    v = visit(url)
    _wait_hero(v)
    v.page.click("#slow")
    # web-vitals handles event entries in an idle callback (timeout 1 s) and misses an
    # interaction that is still pending when the page is hidden; give it that second.
    v.page.wait_for_timeout(1200)
    sid = v.sid
    v.leave()

    rows = beacon_server.wait_events(
        site,
        lambda r: {"LCP", "CLS", "INP", "FCP", "TTFB"} <= {x["name"] for x in r},
        sid=sid,
        type="vital",
    )
    deadline = time.monotonic() + 5
    while len(_oracle(web, path, "navigate")) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    oracle = _oracle(web, path, "navigate")
    ours = {r["name"]: r for r in rows}
    assert set(ours) == set(oracle) == {"LCP", "CLS", "INP", "FCP", "TTFB"}
    assert len(rows) == 5, "each vital is reported once per page load"
    for name in ("LCP", "INP", "FCP", "TTFB"):
        assert close(ours[name]["value"], oracle[name]["value"]), (name, ours[name], oracle[name])
    assert abs(ours["CLS"]["value"] - oracle["CLS"]["value"]) <= 0.001
    assert ours["CLS"]["value"] > 0.01, "the late banner shifts the page"
    assert ours["INP"]["value"] >= 200, "the slow click handler blocks for 260 ms"
    for row in ours.values():
        assert row["rating"] in ("good", "needs-improvement", "poor")
        assert row["pid"] == ours["LCP"]["pid"]
    assert ours["INP"]["rating"] == "needs-improvement"
    assert ours["INP"]["attr"]["type"] == oracle["INP"]["event"]

    # Attribution: the same elements as web-vitals' selectors, on a fresh copy of the page.
    assert ours["LCP"]["target"] == "img#hero"
    assert ours["INP"]["target"] == "button#slow"
    check = visit(url)
    _wait_hero(check)
    for name in ("LCP", "CLS", "INP"):
        assert _same_element(check, ours[name]["target"], oracle[name]["target"]), (
            name,
            ours[name]["target"],
            oracle[name]["target"],
        )


def test_bfcache_restore_starts_new_measurements(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    other = web.page("<p>elsewhere</p>", attrs=attrs(site, beacon_server))
    url = web.page(
        f"<h1>Cached page</h1><a id=away href='{other}'>away</a>"
        "<script>addEventListener('pageshow', (e) => { window.restored = e.persisted })</script>",
        attrs=attrs(site, beacon_server),
        oracle=True,
    )
    path = url.removeprefix(web.origin)
    v = visit(url)
    v.page.wait_for_timeout(300)
    v.page.click("#away")
    v.page.wait_for_load_state("load")
    v.page.go_back(wait_until="commit")  # a bfcache restore fires no load event
    v.page.wait_for_function("window.restored !== undefined")
    v.page.wait_for_timeout(300)
    if not v.page.evaluate("window.restored"):
        pytest.skip("this Chromium did not restore the page from the back/forward cache")
    sid = v.sid
    v.leave()

    def restored(rows: Rows) -> bool:
        views = rows_of(rows, "pageview", nav="restore")
        return bool(views) and len(rows_of(rows, "vital", pid=views[0]["pid"])) >= 4

    rows = beacon_server.wait_events(site, restored, sid=sid)
    restore = rows_of(rows, "pageview", nav="restore")[0]
    first = rows_of(rows, "pageview", path=path, nav="navigate")[0]
    assert restore["pid"] != first["pid"]
    after = {r["name"]: r for r in of_type(rows, "vital") if r["pid"] == restore["pid"]}
    assert set(after) == {"TTFB", "FCP", "LCP", "CLS"}
    assert after["TTFB"]["value"] == 0
    deadline = time.monotonic() + 5
    while len(_oracle(web, path, "back-forward-cache")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    oracle = _oracle(web, path, "back-forward-cache")
    values = {k: r["value"] for k, r in after.items()}
    assert set(oracle) == {"TTFB", "FCP", "LCP", "CLS"}
    assert values["TTFB"] == oracle["TTFB"]["value"] == 0
    assert values["CLS"] == oracle["CLS"]["value"] == 0
    # After a restore FCP and LCP are "time to the second frame": web-vitals runs one
    # double-rAF chain per metric, and headless Chromium sometimes puts them in different
    # frames, so the values agree to one frame (16.7 ms), not to the millisecond.
    for name in ("FCP", "LCP"):
        assert abs(values[name] - oracle[name]["value"]) <= 17, (name, values, oracle)


ERRORS_PAGE = """
<img id=broken src="/missing.png">
<script>
  setTimeout(() => { throw new TypeError('boom in handler'); }, 10);
  Promise.reject(new RangeError('nope'));
  Promise.reject('plain string reason');
  fetch('/status/500?token=secret');
  fetch('http://127.0.0.1:9/unreachable').catch(() => {});
  const x = new XMLHttpRequest(); x.open('POST', '/status/503?q=1'); x.send('{}');
</script>
"""


def test_errors(web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn) -> None:
    v = visit(web.page(ERRORS_PAGE, attrs=attrs(site, beacon_server, release="v1.2.3")))
    v.page.wait_for_timeout(500)
    sid = v.sid
    v.leave()
    rows = beacon_server.wait_events(
        site, lambda r: len(of_type(r, "error")) >= 7, sid=sid, type="error"
    )
    by_kind: dict[str, Rows] = {}
    for r in rows:
        by_kind.setdefault(r["error_kind"], []).append(r)
    thrown = by_kind["error"][0]
    assert thrown["error_type"] == "TypeError" and thrown["message"] == "boom in handler"
    assert "boom in handler" in thrown["stack"] and thrown["line"] > 0 and thrown["col"] > 0
    assert "/page/" in thrown["file"] and thrown["release"] == "v1.2.3"
    rejections = {r["message"]: r for r in by_kind["rejection"]}
    assert rejections["nope"]["error_type"] == "RangeError"
    assert "plain string reason" in rejections
    fetches = sorted(by_kind["fetch"], key=lambda r: r["status"])
    assert [r["status"] for r in fetches] == [0, 500]
    assert fetches[1]["method"] == "GET" and fetches[1]["req_url"].endswith("/status/500")
    assert "secret" not in json.dumps(fetches)
    assert fetches[0]["error_type"] == "TypeError" and fetches[0]["duration"] >= 0
    xhr = by_kind["xhr"][0]
    assert (xhr["method"], xhr["status"]) == ("POST", 503)
    assert xhr["req_url"].endswith("/status/503")
    assert by_kind["resource"][0]["file"].endswith("/missing.png")


INTERACTIONS_PAGE = """
<a id=cta href="#" onclick="return false">   Sign
    up   now  </a>
<ul><li>One</li><li><button class="btn primary">Buy</button></li></ul>
<input id=secret type=text>
<textarea id=notes>draft</textarea>
<button id=rage>Nothing happens</button>
<form id=signup onsubmit="event.preventDefault()">
  <input name=email><button id=send>Send</button>
</form>
<div style="height: 3000px">tall content</div>
"""


def test_clicks_rage_submit_scroll_engagement(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    v = visit(web.page(INTERACTIONS_PAGE, attrs=attrs(site, beacon_server)))
    p = v.page
    p.click("#cta")
    p.click("text=Buy")
    p.fill("#secret", "hunter2-password")
    p.click("#secret")
    p.fill("#notes", "private note")
    p.click("#notes")
    for _ in range(5):
        p.click("#rage", delay=10)
    p.fill("input[name=email]", "person@example.com")
    p.click("#send")
    p.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    p.wait_for_timeout(1200)
    sid = v.sid
    v.leave()
    rows = beacon_server.wait_events(site, lambda r: len(of_type(r, "engagement")) >= 1, sid=sid)
    clicks = {r["target"]: r for r in of_type(rows, "click") if not r["rage"]}
    assert clicks["a#cta"]["text"] == "Sign up now"
    assert clicks["body>ul>li>button.btn.primary"]["text"] == "Buy"
    assert clicks["input#secret"]["text"] == ""
    assert clicks["textarea#notes"]["text"] == ""
    rage = [r for r in of_type(rows, "click") if r["rage"]]
    assert len(rage) == 1 and rage[0]["target"] == "button#rage" and rage[0]["rage"] >= 3
    assert [r["target"] for r in of_type(rows, "submit")] == ["form#signup"]
    assert max(r["scroll_depth"] for r in of_type(rows, "scroll")) == 100
    engagement = of_type(rows, "engagement")
    assert sum(r["engaged_ms"] for r in engagement) >= 1000
    assert engagement[-1]["scroll_depth"] == 100
    stored = json.dumps(rows)
    for secret in ("hunter2", "private note", "person@example.com", "draft"):
        assert secret not in stored


def test_timing_and_long_tasks(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    busy = (
        "<script>{const end = performance.now() + 180; while (performance.now() < end);}</script>"
    )
    v = visit(web.page("<p>busy page</p>" + busy, attrs=attrs(site, beacon_server)))
    v.page.wait_for_timeout(300)
    sid = v.sid
    v.leave()
    rows = beacon_server.wait_events(site, lambda r: len(r) == 1, sid=sid, type="timing")
    timing = rows[0]
    assert timing["longtasks"] >= 1 and timing["tbt"] >= 100
    assert timing["load"] >= 180 and timing["dom"] >= 0 and timing["transfer"] > 0
    for key in ("dns", "tcp", "tls", "req", "res"):
        assert timing[key] >= 0


def test_no_long_task_of_its_own(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    watch = (
        "<script>window.tasks = []; new PerformanceObserver((l) => "
        "tasks.push(...l.getEntries().map((e) => e.duration))).observe({type: 'longtask'});"
        "</script>"
    )
    v = visit(
        web.page(
            "<p>quiet page</p><button id=b>b</button>" * 20,
            before=watch,
            attrs=attrs(site, beacon_server),
        )
    )
    for _ in range(3):
        v.page.click("#b >> nth=0")
    v.page.mouse.wheel(0, 500)
    v.page.wait_for_timeout(500)
    assert v.page.evaluate("window.tasks") == []
    sid = v.sid
    v.leave()
    rows = beacon_server.wait_events(site, lambda r: len(r) == 1, sid=sid, type="timing")
    assert rows[0]["longtasks"] == 0
    assert v.errors == []


def test_custom_events_and_user_id(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    stub = (
        "<script>window.beacon = window.beacon || function () {"
        " (beacon.q = beacon.q || []).push(arguments) };"
        " beacon('user', 'user-42');"
        " beacon('event', 'signup', {plan: 'pro', seats: 3, trial: true, bad: {x: 1}});</script>"
    )
    v = visit(web.page("<p>api</p>", before=stub, attrs=attrs(site, beacon_server)))
    v.page.evaluate("beacon('event', 'upgrade', {from: 'pro'}); beacon('event', '')")
    sid = v.sid
    v.leave()
    rows = beacon_server.wait_events(site, lambda r: len(r) >= 2, sid=sid, type="custom")
    custom = {r["name"]: r for r in rows}
    assert set(custom) == {"signup", "upgrade"}
    assert custom["signup"]["props"] == {"plan": "pro", "seats": "3", "trial": "true"}
    assert custom["upgrade"]["props"] == {"from": "pro"}
    everything = beacon_server.events(site, sid=sid)
    assert {r["user_id"] for r in everything} == {"user-42"}


HOSTILE = """
delete window.PerformanceObserver;
Object.defineProperty(Navigator.prototype, 'sendBeacon', {
  value() { throw new Error('sendBeacon blocked'); }, configurable: true,
});
Object.defineProperty(window, 'sessionStorage', {
  get() { throw new DOMException('denied', 'SecurityError'); }, configurable: true,
});
"""


def test_hostile_page_never_throws_and_falls_back(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    url = web.page("<button id=b>Go</button>", attrs=attrs(site, beacon_server))
    path = url.removeprefix(web.origin)
    v = visit(url, init_script=HOSTILE)
    v.page.click("#b")
    assert v.page.evaluate("typeof window.beacon") == "function"
    v.page.evaluate("beacon('event', 'still-works')")
    v.leave()
    assert v.errors == []

    def delivered(rows: Rows) -> bool:
        mine = [r for r in rows if r["path"] == path]
        return {"pageview", "click", "custom", "engagement"} <= {r["type"] for r in mine}

    beacon_server.wait_events(site, delivered)


def _nothing_sent(web: WebServer, visit: VisitFn, key: str, **page: Any) -> int:
    url = web.page("<button id=b>Go</button>", **page)
    v = visit(url)
    v.page.click("#b")
    v.page.evaluate("beacon('event', 'x')")
    v.leave()
    v.page.wait_for_timeout(500)
    assert v.errors == []
    return sum(len(b["events"]) for b in web.collected if b["site"] == key)


def test_sampled_out_excluded_and_localhost_send_nothing(web: WebServer, visit: VisitFn) -> None:
    collect = web.origin + "/collect"
    common = {"endpoint": collect, "localhost": None}
    assert _nothing_sent(web, visit, "s0", attrs={"site": "s0", "sample": "0", **common}) == 0
    assert (
        _nothing_sent(
            web,
            visit,
            "ex",
            attrs={"site": "ex", "exclude": "/admin, /private/*", **common},
            path="/private/page",
        )
        == 0
    )
    assert _nothing_sent(web, visit, "lh", attrs={"site": "lh", "endpoint": collect}) == 0
    # The same pages do send when sampled in, not excluded, and allowed on localhost.
    assert _nothing_sent(web, visit, "s1", attrs={"site": "s1", "sample": "1", **common}) > 0
    assert (
        _nothing_sent(
            web,
            visit,
            "ok",
            attrs={"site": "ok", "exclude": "/admin, /private/*", **common},
            path="/public/private/page",
        )
        > 0
    )


def test_queue_is_bounded_and_drops_oldest(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    web.proxy_fail = True
    try:
        v = visit(
            web.page(
                "<p>offline</p>", attrs=attrs(site, beacon_server, endpoint=web.origin + "/proxy")
            )
        )
        # 25 events: a send that fails (503) and is queued again for a later retry.
        v.page.evaluate("for (let i = 0; i < 24; i++) beacon('event', 'warm', {i})")
        v.page.wait_for_timeout(300)
        v.page.evaluate("for (let i = 0; i < 600; i++) beacon('event', 'bulk', {i})")
        sid = v.sid
    finally:
        web.proxy_fail = False
    v.leave()
    rows = beacon_server.wait_events(
        site,
        lambda r: any(x["name"] == "bulk" and x["props"]["i"] == "599" for x in r),
        sid=sid,
        type="custom",
    )
    time.sleep(0.5)
    rows = beacon_server.events(site, sid=sid)
    assert len(rows) <= 500
    bulk = sorted(int(r["props"]["i"]) for r in rows if r["name"] == "bulk")
    assert bulk[-1] == 599 and bulk[0] > 0 and not [r for r in rows if r["name"] == "warm"]
    assert bulk == list(range(bulk[0], 600)), "the newest events are kept, in one run"


SKEW = """
(() => {
  const real = Date.now;
  window.skew = 0;
  Date.now = () => real() + window.skew;
})();
"""


def test_session_rotates_after_30_minutes_idle(
    web: WebServer, site: Site, beacon_server: BeaconProcess, visit: VisitFn
) -> None:
    v = visit(
        web.page("<button id=b>Go</button>", attrs=attrs(site, beacon_server)), init_script=SKEW
    )
    v.page.click("#b")
    first = v.sid
    v.page.evaluate("window.skew = 29 * 60 * 1000")
    v.page.click("#b")
    assert v.sid == first, "29 minutes idle keep the session"
    v.page.evaluate("window.skew += 31 * 60 * 1000")
    v.page.click("#b")
    second = v.sid
    assert second != first
    v.leave()
    before = beacon_server.wait_events(site, lambda r: len(of_type(r, "click")) == 2, sid=first)
    after = beacon_server.wait_events(site, lambda r: len(of_type(r, "click")) == 1, sid=second)
    assert len(of_type(before, "pageview")) == 1 and of_type(after, "engagement")
