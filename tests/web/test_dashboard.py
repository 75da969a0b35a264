"""The dashboard in real Chromium against a running server filled by `beacon demo`.

Each test drives the pages as a person would (the login form, clicks, the back button)
and checks what they show against the public API's answers for the same query. Every
page must also stay free of console errors and page errors.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import httpx
import pytest

from tests.support import BeaconProcess
from tests.web.conftest import (
    HOSTILE,
    Dashboard,
    DemoSite,
    Hostile,
    api,
    axe_path,
    wait_for,
)

pytestmark = pytest.mark.browser

# Serious and critical violations, each with up to three of its elements.
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']}))
    .violations.filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""


def page_query(dashboard: Dashboard) -> dict[str, Any]:
    """The page's URL parameters, as the API takes them (repeated ones as lists)."""
    query = urllib.parse.urlsplit(dashboard.page.url).query
    return {k: v if len(v) > 1 else v[0] for k, v in urllib.parse.parse_qs(query).items()}


def api_params(dashboard: Dashboard) -> dict[str, Any]:
    params = page_query(dashboard)
    keep = {"period", "from", "to", "tz", "page", "route", "source", "device", "browser", "os"}
    keep |= {"country", "referrer", "entry_page", "exit_page", "utm_source", "utm_medium"}
    return {k: v for k, v in params.items() if k in keep | {"utm_campaign"}}


def assert_stats_match_api(
    dashboard: Dashboard, server: BeaconProcess, site: DemoSite
) -> dict[str, str]:
    shown = dashboard.stats_loaded()
    expected = api(server, site.as_site, "/overview", **api_params(dashboard))
    keys = [k for k in expected if not isinstance(expected[k], dict)]  # not previous, periods
    assert sorted(shown) == sorted(keys)
    for key in keys:
        assert float(shown[key]) == expected[key], (key, shown[key], expected[key])
    # The changes follow from a second request, for the previous period by its bounds:
    # each must be against the one-request answer's `previous`.
    dashboard.page.wait_for_selector("#stats:not(.busy)")
    previous = dict(
        dashboard.page.eval_on_selector_all(
            "#stats [data-metric]",
            "els => els.map(e => [e.dataset.metric,"
            " e.querySelector('.delta[data-previous]')?.dataset.previous])",
        )
    )
    for key in keys:
        assert previous[key] is not None and float(previous[key]) == expected["previous"][key], (
            key,
            previous[key],
            expected["previous"][key],
        )
    assert dashboard.page.query_selector("#stats .delta.pending") is None
    return shown


def test_login_form_and_top_stats_equal_the_overview_api(
    dashboard: Dashboard, beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    dashboard.goto("/")
    dashboard.page.wait_for_url("**/login")
    # A wrong token: the form again with one clear message, and no session.
    dashboard.page.fill("#site", demo_site.site)
    dashboard.page.fill("#token", "bt_wrong")
    dashboard.page.click("button[type=submit]")
    assert "do not match" in dashboard.page.inner_text("[role=alert]")
    assert dashboard.page.input_value("#site") == demo_site.site
    assert dashboard.page.input_value("#token") == ""
    assert "/login" in dashboard.page.url and "bt_wrong" not in dashboard.page.url

    dashboard.login(demo_site.as_site)
    # The first render writes the browser's zone into the URL (a copied link keeps it).
    dashboard.page.wait_for_url("**tz=**")
    shown = assert_stats_match_api(dashboard, beacon_server, demo_site)
    assert int(shown["visitors"]) > 100
    cookie = next(c for c in dashboard.page.context.cookies() if c["name"] == "beacon_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Another period and zone: the numbers follow, from the URL alone after a reload.
    dashboard.page.select_option("#period", "24h")
    dashboard.page.wait_for_url("**period=24h**")
    dashboard.page.select_option("#tz", "Asia/Kolkata")
    dashboard.page.wait_for_url("**tz=Asia%2FKolkata**")
    dashboard.page.reload()
    assert_stats_match_api(dashboard, beacon_server, demo_site)
    dashboard.page.wait_for_selector("#chart .chart[data-drawn]")
    assert dashboard.problems == []


def test_a_breakdown_row_filters_the_page_and_the_url_and_back_restores_it(
    dashboard: Dashboard, beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    dashboard.login(demo_site.as_site)
    before = assert_stats_match_api(dashboard, beacon_server, demo_site)
    dashboard.page.wait_for_selector("#pages [aria-busy=false] button.bar-row")
    dashboard.page.click("#pages button.bar-row:has-text('/pricing')")
    dashboard.page.wait_for_url("**page=%2Fpricing**")
    dashboard.page.wait_for_selector("#stats[data-query*='page=%2Fpricing'][aria-busy=false]")
    filtered = assert_stats_match_api(dashboard, beacon_server, demo_site)
    assert int(filtered["visitors"]) < int(before["visitors"])
    assert dashboard.page.inner_text(".chips").startswith("Page is /pricing")
    # The other cards follow the filter: the devices card counts only those visitors.
    dashboard.page.wait_for_function(
        "() => !document.querySelector('#devices .card-body').classList.contains('busy')"
    )
    devices = api(
        beacon_server,
        demo_site.as_site,
        "/breakdown/device",
        **api_params(dashboard),
        limit=10,
    )["results"]
    shown = dashboard.page.inner_text("#devices .bar-list")
    for row in devices:
        assert str(row["visitors"]) in shown

    dashboard.page.go_back()
    dashboard.page.wait_for_function("() => !location.search.includes('page=')")
    dashboard.page.wait_for_selector("#stats:not([data-query*='page='])[aria-busy=false]")
    assert assert_stats_match_api(dashboard, beacon_server, demo_site) == before
    assert dashboard.page.query_selector(".chips") is None
    dashboard.page.go_forward()
    dashboard.page.wait_for_selector("#stats[data-query*='page=%2Fpricing'][aria-busy=false]")
    assert dashboard.stats_loaded() == filtered
    assert dashboard.problems == []


def test_issue_detail_shows_the_de_minified_frame_and_resolve_changes_the_api(
    dashboard: Dashboard, beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    dashboard.login(demo_site.as_site)
    dashboard.page.click("nav.views a:has-text('Issues')")
    dashboard.page.wait_for_url("**/issues?**")
    row = f"tr[data-issue='{demo_site.cart_issue}']"
    dashboard.page.wait_for_selector(row)
    assert dashboard.page.query_selector(f"{row} svg.spark polyline") is not None
    dashboard.page.click(f"{row} a.issue-title")
    dashboard.page.wait_for_url(f"**/issues/{demo_site.cart_issue}**")
    frame = dashboard.page.wait_for_selector(".frame.in-app[data-mapped=true]")
    text = frame.inner_text()
    assert "formatPrice" in text and "src/cart.js:3" in text, text
    assert "const amount = item.price.amount;" in text
    assert "minified: https://shop.example/assets/cart.min.js:1:36" in text
    crumbs = dashboard.page.inner_text("#breadcrumbs")
    assert "Click button#pay “Pay now”" in crumbs and "/checkout" in crumbs

    dashboard.page.click("button:has-text('Resolve')")
    dashboard.page.wait_for_selector("[role=status]:has-text('Resolved.')")
    detail = api(beacon_server, demo_site.as_site, f"/issues/{demo_site.cart_issue}", period="7d")
    assert detail["status"] == "resolved"
    dashboard.page.wait_for_selector(".issue[data-status=resolved] button:has-text('Reopen')")
    assert detail["history"][-1]["action"] == "resolve"
    dashboard.page.click("button:has-text('Reopen')")
    wait_for(
        lambda: (
            api(beacon_server, demo_site.as_site, f"/issues/{demo_site.cart_issue}", period="7d")[
                "status"
            ]
            == "unresolved"
        ),
        what="reopened",
    )
    assert dashboard.problems == []


def test_a_shared_link_shows_the_overview_without_triage_actions(
    chromium: Any, beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    done = beacon_server.cli("share", "add", demo_site.site, "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    url = httpx.URL(made["url"])
    key = url.params["auth"]
    chromium.clear_cookies()  # a visitor without a login session
    viewer = Dashboard(chromium, beacon_server)
    try:
        viewer.goto(f"/share/{demo_site.site}?auth={key}")
        assert_stats_match_api(viewer, beacon_server, demo_site)
        assert viewer.page.text_content(".badge.shared") == "Shared view"
        # Navigation inside the shared view keeps the key; issues show no actions.
        viewer.page.click("nav.views a:has-text('Issues')")
        viewer.page.wait_for_url(f"**/share/{demo_site.site}/issues?**auth=**")
        viewer.page.click(f"tr[data-issue='{demo_site.cart_issue}'] a.issue-title")
        viewer.page.wait_for_selector(".frame.in-app[data-mapped=true]")
        assert viewer.page.query_selector("section.actions") is None
        assert viewer.page.query_selector("button:has-text('Resolve')") is None
        assert viewer.problems == []
    finally:
        viewer.close()
    # The key is read-only at the API too, and revocable.
    share = {"authorization": f"Share {key}"}
    base = f"{beacon_server.base_url}/api/v1/sites/{demo_site.site}"
    assert httpx.get(base + "/overview", headers=share).status_code == 200
    patched = httpx.patch(
        f"{base}/issues/{demo_site.cart_issue}", json={"action": "resolve"}, headers=share
    )
    assert patched.status_code == 403 and "read-only" in patched.text
    assert httpx.get(base + "/events", headers=share).status_code == 403
    assert beacon_server.cli("share", "revoke", made["key_id"]).returncode == 0
    assert httpx.get(base + "/overview", headers=share).status_code == 401
    gone = httpx.get(f"{beacon_server.base_url}/share/{demo_site.site}?auth={key}")
    assert gone.status_code == 404 and "not valid" in gone.text


def test_hostile_text_is_shown_as_text_on_every_page_that_lists_it(
    dashboard: Dashboard, beacon_server: BeaconProcess, hostile_site: Hostile
) -> None:
    dashboard.login(hostile_site.as_site)
    stored = api(beacon_server, hostile_site.as_site, "/breakdown/page", period="7d")
    hostile_path = stored["results"][0]["value"]
    assert "<img" in hostile_path  # stored as sent (the page must not decode it into HTML)
    base = f"/sites/{hostile_site.site}"
    title = api(beacon_server, hostile_site.as_site, "/issues", period="7d")["issues"][0]["title"]
    # Each page, what it must show as text (issue titles are parameterized: alert(<int>)).
    pages = {
        base + "?period=7d": ("#stats[aria-busy=false]", hostile_path),
        base + "/vitals?period=7d": ("#by [aria-busy=false]", hostile_path),
        base + "/issues?period=7d": (f"tr[data-issue='{hostile_site.issue_id}']", title),
        base + f"/issues/{hostile_site.issue_id}?period=7d": ("#breadcrumbs li", HOSTILE),
        base + "/sessions?period=7d": ("#sessions tbody tr", hostile_path),
        base + f"/sessions/{hostile_site.sid}?period=7d": (".timeline li", HOSTILE),
    }
    for path, (ready, needle) in pages.items():
        dashboard.goto(path)
        dashboard.page.wait_for_selector(ready)
        dashboard.page.wait_for_function(
            "() => !document.querySelector('[aria-busy=true]')", timeout=15_000
        )
        injected = dashboard.page.evaluate(
            """() => ({
                images: document.querySelectorAll('img').length,
                scripts: [...document.scripts].filter(s => s.id !== 'boot' && !s.src).length,
                handlers: document.querySelectorAll('[onerror]').length,
            })"""
        )
        assert injected == {"images": 0, "scripts": 0, "handlers": 0}, (path, injected)
        body = dashboard.page.inner_text("main")
        assert needle in body, (path, needle, body[-2000:])
    assert dashboard.dialogs == []
    assert dashboard.problems == []


def test_no_serious_or_critical_accessibility_violation_on_any_page(
    chromium: Any, beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    source = axe_path()
    board = Dashboard(chromium, beacon_server)
    # Injected before each document's own scripts by the browser itself, so the pages
    # keep their Content-Security-Policy (an inline <script> tag would be refused).
    board.page.add_init_script(path=str(source))
    try:
        board.page.goto(beacon_server.base_url + "/login")
        pages: dict[str, str] = {"/login": "form"}
        board.login(demo_site.as_site)
        base = f"/sites/{demo_site.site}"
        pages |= {
            base + "?period=7d": "#stats[aria-busy=false]",
            base + "/vitals?period=7d": "#vitals-summary[aria-busy=false]",
            base + "/issues?period=7d": "table.issues",
            base + f"/issues/{demo_site.cart_issue}?period=7d": ".frames",
            base + "/sessions?period=7d": "#sessions tbody tr",
            base + f"/sessions/{demo_site.cart_sid}?period=7d": ".timeline li",
        }
        found: dict[str, list[str]] = {}
        for scheme in ("light", "dark"):
            board.page.emulate_media(color_scheme=scheme)
            for path, ready in pages.items():
                board.goto(path)
                board.page.wait_for_selector(ready)
                board.page.wait_for_function(
                    "() => !document.querySelector('[aria-busy=true]')", timeout=15_000
                )
                violations = board.page.evaluate(AXE_RUN)
                if violations:
                    found[f"{scheme} {path}"] = violations
        assert found == {}, json.dumps(found, indent=1)
        assert board.problems == []
    finally:
        board.page.emulate_media(color_scheme="light")
        board.close()


def test_a_fresh_site_shows_the_snippet_tag_and_rows_work_from_the_keyboard(
    dashboard: Dashboard, beacon_server: BeaconProcess, demo_site: DemoSite
) -> None:
    fresh = beacon_server.add_site("fresh.test")
    dashboard.page.context.clear_cookies()  # a new login session
    dashboard.login(fresh)
    tag = dashboard.page.wait_for_selector(".notice pre code").inner_text()
    assert tag == (
        f'<script defer src="{beacon_server.base_url}/script.js" data-site="{fresh.site}"></script>'
    )
    assert dashboard.stats_loaded()["pageviews"] == "0"
    # The same session opens the demo site too; a breakdown row is a button: Enter filters.
    dashboard.login(demo_site.as_site)
    assert [o.inner_text() for o in dashboard.page.query_selector_all(".site-switch option")] == [
        "fresh.test",
        "demo.test",
    ]
    dashboard.page.wait_for_selector("#devices [aria-busy=false] button.bar-row")
    dashboard.page.focus("#devices button.bar-row >> nth=0")
    dashboard.page.keyboard.press("Enter")
    dashboard.page.wait_for_url("**device=**")
    dashboard.page.wait_for_selector("#stats[data-query*='device='][aria-busy=false]")
    assert_stats_match_api(dashboard, beacon_server, demo_site)
    assert dashboard.problems == []
