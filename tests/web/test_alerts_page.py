"""The dashboard's alerts page in real Chromium, against a server of its own that
evaluates every second (the shared server evaluates once a minute): a rule fires on real
traffic, the page shows the rule's state and the alert with its history and its signed
webhook delivered to a local receiver; acknowledging and turning the rule off from the page
change the API's answers; the rule's name, holding markup, is shown as text; axe finds
nothing serious; a shared link has no alerts view and no access to the alerts API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alerts.receivers import HttpReceiver
from tests.alerts.support import AlertsApi, session_body
from tests.support import BeaconProcess, Site
from tests.web.conftest import HOSTILE, Dashboard, axe_path, wait_for
from tests.web.test_dashboard import AXE_RUN

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver().start()
    yield http
    http.stop()


@pytest.fixture(scope="module")
def alerting_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeaconProcess]:
    root: Path = tmp_path_factory.mktemp("alerts-page")
    server = BeaconProcess(
        root / "data",
        env={"BEACON_ALERTS_INTERVAL": "1", "BEACON_ALERTS_ALLOW_PRIVATE": "1"},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def alerts_api(
    alerting_server: BeaconProcess, firing: tuple[Site, str, str]
) -> Iterator[AlertsApi]:
    api = AlertsApi(alerting_server, firing[0])
    yield api
    api.close()


@pytest.fixture(scope="module")
def firing(
    alerting_server: BeaconProcess, receiver: HttpReceiver
) -> Iterator[tuple[Site, str, str]]:
    """A site whose page-view rule fires: (site, rule id, alert id)."""
    site = alerting_server.add_site("alerting.test")
    alerts = AlertsApi(alerting_server, site)
    alerts.send(session_body(site.site) for _ in range(3))
    rule = alerts.create_rule(
        {
            "name": f"Traffic {HOSTILE}",
            "metric": "pageviews",
            "window": "1h",
            "op": "gt",
            "threshold": 0,
            "severity": "high",
            "channels": [{"type": "webhook", "url": receiver.url + "/hook"}],
        }
    )
    alert = wait_for(lambda: alerts.alert_in(rule["rule_id"], ["firing"]), what="the rule to fire")
    wait_for(
        lambda: any(d["status"] == "sent" for d in alerts.alerts(rule["rule_id"])[0]["deliveries"]),
        what="the firing notification to be sent",
    )
    alerts.close()
    yield site, rule["rule_id"], alert["alert_id"]


def test_the_alerts_page_shows_rules_and_alerts_and_acts_through_the_api(
    chromium: Any,
    alerting_server: BeaconProcess,
    firing: tuple[Site, str, str],
    alerts_api: AlertsApi,
) -> None:
    site, rule_id, alert_id = firing
    alerts = alerts_api
    board = Dashboard(chromium, alerting_server)
    board.page.add_init_script(path=str(axe_path()))
    try:
        board.login(site)
        board.page.click("nav.views a:has-text('Alerts')")
        board.page.wait_for_url(f"**/sites/{site.site}/alerts?**")
        row = board.page.wait_for_selector(f"tr[data-rule='{rule_id}'][data-state=firing]")
        assert "pageviews over 1h > 0" in row.inner_text()
        item = board.page.wait_for_selector(f"li[data-alert='{alert_id}'][data-state=firing]")
        # The name with markup is text: nothing injected, no dialog.
        assert f"Traffic {HOSTILE}" in row.inner_text()
        injected = board.page.evaluate(
            """() => document.querySelectorAll('img, [onerror]').length
                + [...document.scripts].filter(s => s.id !== 'boot' && !s.src).length"""
        )
        assert injected == 0 and board.dialogs == []
        # History and the webhook's delivery record, behind a disclosure.
        item.query_selector("summary").click()
        assert "→ firing" in item.inner_text()
        assert item.query_selector("tr[data-delivery=sent]") is not None

        for scheme in ("light", "dark"):
            board.page.emulate_media(color_scheme=scheme)
            board.page.reload()
            board.page.wait_for_selector(f"li[data-alert='{alert_id}']")
            board.page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
            assert board.page.evaluate(AXE_RUN) == [], scheme
        board.page.emulate_media(color_scheme="light")
        # 390 px wide: wide tables scroll inside their box, the page itself does not.
        board.page.set_viewport_size({"width": 390, "height": 800})
        board.page.wait_for_function("() => document.documentElement.scrollWidth <= 390")
        board.page.set_viewport_size({"width": 1280, "height": 900})

        # Acknowledge with a note: the API says who/what.
        board.page.fill(f"#ack-{alert_id}", "looking into it")
        board.page.click(f"li[data-alert='{alert_id}'] button:has-text('Acknowledge')")
        board.page.wait_for_selector("text=Acknowledged.")
        acknowledged = alerts.alert_in(rule_id, ["firing"])
        assert acknowledged is not None
        assert acknowledged["acknowledged"]["note"] == "looking into it"

        # The tab is in the URL; back restores the active view.
        board.page.click("#alerts button.tab:has-text('All')")
        board.page.wait_for_url("**state=all**")
        board.page.go_back()
        board.page.wait_for_function("() => !location.search.includes('state=all')")

        # Turning the rule off from the page: the API's rule is off and its alert ends.
        board.page.click(f"tr[data-rule='{rule_id}'] button:has-text('Turn off')")
        board.page.wait_for_selector("text=turned off.")
        assert alerts.rule(rule_id)["enabled"] is False
        wait_for(lambda: alerts.alerts(rule_id)[0]["state"] == "resolved", what="the alert to end")
        assert board.problems == []
    finally:
        board.close()


def test_a_site_without_rules_shows_how_to_make_one(
    chromium: Any, alerting_server: BeaconProcess
) -> None:
    quiet = alerting_server.add_site("quiet.test")
    board = Dashboard(chromium, alerting_server)
    try:
        board.login(quiet)
        board.goto(f"/sites/{quiet.site}/alerts")
        example = board.page.wait_for_selector("#rules pre code").inner_text()
        assert f"/api/v1/sites/{quiet.site}/alerts/rules" in example
        assert '"metric": "error_rate"' in example
        board.page.wait_for_selector("#alerts .card-body[aria-busy=false]")
        assert board.page.inner_text("#alerts").endswith("No alert is pending or firing.")
        assert board.problems == []
    finally:
        board.close()


def test_a_shared_link_has_no_alerts_view_and_no_alerts_api(
    chromium: Any, alerting_server: BeaconProcess, firing: tuple[Site, str, str]
) -> None:
    site, _, _ = firing
    done = alerting_server.cli("share", "add", site.site, "--json")
    assert done.returncode == 0, done.stderr
    key = httpx.URL(json.loads(done.stdout)["url"]).params["auth"]
    chromium.clear_cookies()
    viewer = Dashboard(chromium, alerting_server)
    try:
        viewer.goto(f"/share/{site.site}?auth={key}")
        viewer.stats_loaded()
        assert viewer.page.query_selector("nav.views a:has-text('Alerts')") is None
        viewer.goto(f"/share/{site.site}/alerts?auth={key}")
        viewer.stats_loaded()  # the overview instead
        assert viewer.page.query_selector("#rules") is None
        assert viewer.problems == []
    finally:
        viewer.close()
    base = f"{alerting_server.base_url}/api/v1/sites/{site.site}"
    share = {"authorization": f"Share {key}"}
    for path in ("/alerts/rules", "/alerts"):
        refused = httpx.get(base + path, headers=share)
        assert refused.status_code == 403 and "does not open" in refused.text, path
    assert httpx.get(base + "/overview", headers=share).status_code == 200
