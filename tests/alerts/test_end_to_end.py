"""Alerts end to end against a running `beacon serve` (must-shows 1-3): real traffic
through `POST /api/event`, the evaluator every second, and real receivers on free ports
(an HTTP receiver for webhooks, Slack and an Alertmanager-compatible endpoint, and an
SMTP server). Every wait polls for a condition; times are printed, never asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.admin import AdminRequest, call_running_server
from app.config import Settings
from tests.alerts.receivers import HttpReceiver, SmtpReceiver, verify_signature, wait_for
from tests.alerts.support import AlertsApi, Traffic, session_body
from tests.support import BeaconProcess, Site, free_port

pytestmark = pytest.mark.slow

INTERVAL = 1.0


class Stack:
    def __init__(self, server: BeaconProcess, http: HttpReceiver, smtp: SmtpReceiver) -> None:
        self.server = server
        self.http = http
        self.smtp = smtp
        self.apis: list[AlertsApi] = []

    def api(self, domain: str) -> AlertsApi:
        """A new site (through the running server's admin socket) and its API client."""
        settings = Settings(data_dir=str(self.server.data_dir))
        added = call_running_server(
            settings.admin_socket, AdminRequest(op="site_add", domain=domain)
        )
        assert added is not None
        api = AlertsApi(self.server, Site(added["site"], added["token"]))
        self.apis.append(api)
        return api


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    http = HttpReceiver(hang_seconds=30).start()
    smtp = SmtpReceiver().start()
    root: Path = tmp_path_factory.mktemp("alerts")
    server = BeaconProcess(
        root / "data",
        env={
            "BEACON_ALERTS_INTERVAL": str(INTERVAL),
            "BEACON_ALERTS_ALLOW_PRIVATE": "1",
            "BEACON_ALERTS_MAX_ATTEMPTS": "3",
            "BEACON_ALERTS_RETRY_SECONDS": "0.5",
            "BEACON_ALERTS_TIMEOUT_SECONDS": "2",
            "BEACON_PUBLIC_URL": "https://beacon.example",
            # History for the anomaly rule is sent with past timestamps.
            "BEACON_MAX_EVENT_AGE_HOURS": str(24 * 40),
            "BEACON_SMTP_HOST": "127.0.0.1",
            "BEACON_SMTP_PORT": str(smtp.port),
            "BEACON_SMTP_FROM": "beacon@alerts.test",
            "BEACON_SMTP_STARTTLS": "false",
        },
    ).start()
    try:
        yield Stack(server, http, smtp)
    finally:
        server.stop()
        http.stop()
        smtp.stop()


@pytest.fixture(autouse=True)
def _close_clients(stack: Stack) -> Iterator[None]:
    yield
    for api in stack.apis:
        api.close()
    stack.apis.clear()


def _burst(api: AlertsApi, count: int, message: str = "checkout exploded") -> tuple[float, float]:
    began = time.time()
    api.send(session_body(api.site.site, url="https://shop.test/checkout", error=message)
             for _ in range(count))  # fmt: skip
    return began, time.time()


def _history(alert: dict[str, Any]) -> list[tuple[str | None, str | None, bool | None]]:
    return [
        (h["from"], h["to"], h["notified"]) for h in alert["history"] if h["kind"] == "transition"
    ]


def test_error_rate_fires_signed_resolves_cooldown_and_for(stack: Stack) -> None:
    api = stack.api("errors.test")
    site = api.site
    # Demo traffic first (the CLI's realistic sessions, over the last hour, bots included).
    demo = stack.server.cli("demo", "--url", stack.server.base_url, "--sessions", "60",
                            "--hours", "1", "--site", site.site, "--token", site.token)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    hook = f"{stack.http.url}/hooks/errors"
    fast = api.create_rule(
        {"name": "checkout errors", "metric": "error_rate", "window": "10s", "op": "gt",
         "threshold": 0.2, "min_samples": 5, "severity": "high", "cooldown": "10m",
         "channels": [{"type": "webhook", "url": hook}]}
    )  # fmt: skip
    patient = api.create_rule(
        {"name": "lasting errors", "metric": "error_rate", "window": "10s", "op": "gt",
         "threshold": 0.2, "min_samples": 5, "for": "2m",
         "channels": [{"type": "webhook", "url": hook + "-patient"}]}
    )  # fmt: skip
    bots = api.create_rule(
        {"name": "bots dropped", "metric": "dropped_events", "window": "10m", "op": "gt",
         "threshold": 0, "channels": [{"type": "webhook", "url": hook + "-bots"}]}
    )  # fmt: skip
    secret = fast["channels"][0]["secret"]
    with Traffic(stack.server, [site.site]):
        # Ok while only page views arrive.
        wait_for(lambda: api.rule(fast["rule_id"])["state"]["since"] is None
                 and stack.server.events(site, type="pageview", **{"from": "2020-01-01"}),
                 message="page views stored")  # fmt: skip
        burst_began, burst_sent = _burst(api, 40)
        firing = wait_for(lambda: stack.http.at("/hooks/errors"), message="firing webhook")[0]
        print(
            f"\nburst of 40 sent in {burst_sent - burst_began:.2f}s; firing webhook "
            f"{firing.at - burst_sent:.2f}s after its last request (interval {INTERVAL:g}s)"
        )
        assert verify_signature(secret, firing)
        body = firing.json()
        assert set(body) == {"alert_id", "rule_id", "rule", "site", "state", "severity",
                             "metric", "value", "threshold", "started_at", "resolved_at",
                             "url"}  # fmt: skip
        assert body["state"] == "firing" and body["rule_id"] == fast["rule_id"]
        assert body["metric"] == "error_rate" and body["value"] > 0.2
        assert body["threshold"] == 0.2 and body["resolved_at"] is None
        assert body["url"] == f"https://beacon.example/sites/{site.site}/alerts/{body['alert_id']}"
        assert firing.headers["x-beacon-event"] == "firing"
        # The burst stops (page views go on): a resolved notification of the same alert.
        resolved = wait_for(lambda: stack.http.at("/hooks/errors")[1:], message="resolve")[0]
        assert verify_signature(secret, resolved)
        assert resolved.json()["state"] == "resolved"
        assert resolved.json()["alert_id"] == body["alert_id"]
        assert resolved.json()["resolved_at"] is not None
        print(f"resolved webhook {resolved.at - burst_sent:.2f}s after the burst (window 10s)")
        # A second burst within the cooldown: the rule fires again, nobody is told.
        _burst(api, 40)
        again = wait_for(lambda: next(
            (a for a in api.alerts(fast["rule_id"]) if a["alert_id"] != body["alert_id"]
             and a["state"] in ("firing", "resolved")), None), message="second alert")  # fmt: skip
        assert again["notified"] is False
        assert ("ok", "firing", False) in _history(again) or ("resolved", "firing", False) in (
            _history(again)
        )
        assert again["history"][0]["reason"] == "cooldown"
        wait_for(
            lambda: (
                api.alert_in(fast["rule_id"], ["resolved"])
                and all(a["state"] == "resolved" for a in api.alerts(fast["rule_id"]))
            ),
            message="resolved",
        )
    assert again["deliveries"] == []
    assert len(stack.http.at("/hooks/errors")) == 2  # one firing, one resolved
    # `for: 2m` held both bursts back: pending, then ok, never notified.
    held = api.alerts(patient["rule_id"])
    assert len(held) == 2
    assert all(_history(a) == [("ok", "pending", False), ("pending", "ok", False)] for a in held)
    assert stack.http.at("/hooks/errors-patient") == []
    # The demo's bots were dropped at ingest: the ingest-health rule fired.
    assert stack.http.at("/hooks/errors-bots")[0].json()["state"] == "firing"
    assert api.alerts(bots["rule_id"])[0]["value"] > 0


def test_vital_p75_on_one_route(stack: Stack) -> None:
    api = stack.api("vitals.test")
    hook = f"{stack.http.url}/hooks/lcp"
    rule = {"metric": "vital_p75", "vital": "LCP", "window": "1m", "op": "gt",
            "threshold": 4000, "min_samples": 5,
            "channels": [{"type": "webhook", "url": hook}]}  # fmt: skip
    checkout = api.create_rule({**rule, "name": "slow checkout", "filters": {"route": "/checkout"}})
    home = api.create_rule({**rule, "name": "slow home", "filters": {"route": "/home"}})
    few = api.create_rule({**rule, "name": "too few", "min_samples": 1000,
                           "filters": {"route": "/checkout"}})  # fmt: skip
    site = api.site.site
    api.send(session_body(site, url="https://shop.test/checkout", vitals={"LCP": 6000 + i})
             for i in range(8))  # fmt: skip
    api.send(session_body(site, url="https://shop.test/home", vitals={"LCP": 900 + i})
             for i in range(8))  # fmt: skip
    received = wait_for(lambda: stack.http.at("/hooks/lcp"), message="LCP webhook")[0].json()
    assert received["rule_id"] == checkout["rule_id"]
    assert received["metric"] == "vital_p75" and received["value"] > 6000
    # The other route's rule saw fast pages, and too few samples decide nothing.
    assert api.rule(home["rule_id"])["state"]["status"] == "ok"
    assert api.alerts(home["rule_id"]) == [] and api.alerts(few["rule_id"]) == []


def test_issue_new_and_issue_regressed(stack: Stack) -> None:
    api = stack.api("issues.test")
    site = api.site
    new = api.create_rule(
        {"name": "new issue", "metric": "issue_new", "window": "1m", "op": "gte", "threshold": 1,
         "channels": [{"type": "webhook", "url": f"{stack.http.url}/hooks/new"}]}
    )  # fmt: skip
    api.send([session_body(site.site, error="cart total is NaN", release="1.0.0")])
    fired = wait_for(lambda: stack.http.at("/hooks/new"), message="issue_new webhook")[0].json()
    assert fired["rule_id"] == new["rule_id"] and fired["value"] == 1
    issue_id = api.alerts(new["rule_id"])[0]["detail"]["issues"][0]
    # Resolved in 1.0.0; an event of a newer release regresses it.
    resolved = api.client.patch(f"{api.base}/issues/{issue_id}", json={"action": "resolve"})
    assert resolved.status_code == 200, resolved.text
    regressed = api.create_rule(
        {"name": "regression", "metric": "issue_regressed", "window": "1m", "op": "gte",
         "threshold": 1, "channels": [{"type": "webhook", "url": f"{stack.http.url}/hooks/reg"}]}
    )  # fmt: skip
    resolved_ms = dt.datetime.fromisoformat(resolved.json()["resolved_at"]).timestamp() * 1000
    wait_for(lambda: time.time() * 1000 > resolved_ms + 1, message="a later millisecond")
    api.send([session_body(site.site, error="cart total is NaN", release="1.1.0")])
    body = wait_for(lambda: stack.http.at("/hooks/reg"), message="regression webhook")[0].json()
    assert body["rule_id"] == regressed["rule_id"] and body["value"] == 1
    assert api.alerts(regressed["rule_id"])[0]["detail"]["issues"] == [issue_id]


def test_a_traffic_drop_is_caught_by_anomaly(stack: Stack) -> None:
    api = stack.api("drop.test")
    site = api.site.site
    # Near the end of an hour, wait for the next one (the last whole hour must not move
    # between sending and evaluating).
    wait_for(lambda: dt.datetime.now(dt.UTC).minute < 58, timeout=150, message="hour start")
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    last_hour = hour - dt.timedelta(hours=1)
    bodies = []
    for week in range(1, 5):  # four earlier weeks: about 40 page views in these hours
        for start in (last_hour, hour):
            base = start - dt.timedelta(weeks=week)
            for i in range(36 + 3 * week):
                ts = int((base + dt.timedelta(seconds=60 * i + 30)).timestamp() * 1000)
                bodies.append(session_body(site, url="https://shop.test/home", ts=ts))
    for i in range(4):  # and now only 4 in the last hour
        ts = int((last_hour + dt.timedelta(minutes=5 * i + 2)).timestamp() * 1000)
        bodies.append(session_body(site, url="https://shop.test/home", ts=ts))
    api.send(bodies)
    stack.server.wait_events(api.site, lambda rows: len(rows) >= len(bodies),
                             type="pageview", **{"from": "2020-01-01"})  # fmt: skip
    rule = api.create_rule(
        {"name": "traffic drop", "metric": "pageviews", "window": "1h",
         "anomaly": {"z": 4.5, "direction": "down", "weeks": 4},
         "channels": [{"type": "webhook", "url": f"{stack.http.url}/hooks/drop"}]}
    )  # fmt: skip
    body = wait_for(lambda: stack.http.at("/hooks/drop"), message="anomaly webhook")[0].json()
    assert body["rule_id"] == rule["rule_id"] and body["threshold"] == 4.5
    detail = api.alerts(rule["rule_id"])[0]["detail"]
    print(f"\nanomaly: {detail}")
    assert detail["z"] <= -4.5 and detail["weeks"] == 4 and detail["median"] >= 36


def test_real_receivers_retries_and_rules_on_time(stack: Stack) -> None:
    api = stack.api("receivers.test")
    site = api.site.site
    down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    channels = [
        {"type": "alertmanager", "url": f"{stack.http.url}/am"},
        {"type": "email", "to": ["oncall@alerts.test", "dev@alerts.test"]},
        {"type": "slack", "url": f"{stack.http.url}/slack"},
        {"type": "webhook", "url": down},
        {"type": "webhook", "url": f"{stack.http.url}/hang"},
    ]
    first = api.create_rule({"name": "errors seen", "metric": "errors", "window": "15s",
                             "op": "gte", "threshold": 1, "severity": "critical",
                             "channels": channels})  # fmt: skip
    api.send([session_body(site, error="payment widget failed")])
    # Alertmanager v2: an array of alerts with labels; e-mail through real SMTP; Slack.
    posted = wait_for(lambda: stack.http.at("/am/api/v2/alerts"), message="alertmanager")[0]
    (am_alert,) = posted.json()
    assert am_alert["labels"] == {"alertname": "errors seen", "site": site,
                                  "severity": "critical", "metric": "errors",
                                  "rule_id": first["rule_id"]}  # fmt: skip
    assert am_alert["startsAt"] and am_alert["generatorURL"].startswith("https://beacon.example/")
    mail = wait_for(lambda: stack.smtp.messages, message="e-mail")[0]
    assert mail["Subject"].startswith("[FIRING] errors seen")
    assert mail["X-Test-Rcpt"] == "oncall@alerts.test,dev@alerts.test"
    assert mail["From"] == "beacon@alerts.test"
    slack = wait_for(lambda: stack.http.at("/slack"), message="slack")[0].json()
    assert slack["text"].startswith("[FIRING] errors seen") and slack["blocks"]
    # While the dead and the hanging receivers are retried, another rule is evaluated
    # and notified on time.
    ok = f"{stack.http.url}/ok"
    second = api.create_rule({"name": "errors again", "metric": "errors", "window": "15s",
                              "op": "gte", "threshold": 1,
                              "channels": [{"type": "webhook", "url": ok}]})  # fmt: skip
    wait_for(lambda: stack.http.at("/ok"), message="second rule's webhook")
    retrying = {d["target"]: d for d in api.alerts(first["rule_id"])[0]["deliveries"]}
    assert retrying[down]["status"] in ("pending", "failed")

    # Each failing receiver ends `failed` after 3 attempts, with the error.
    def finished() -> dict[str, Any] | None:
        found = {d["target"]: d for d in api.alerts(first["rule_id"])[0]["deliveries"]}
        firing = [d for d in found.values() if d["kind"] == "firing"]
        return found if all(d["status"] != "pending" for d in firing) else None

    deliveries = wait_for(finished, timeout=60, message="retries done")
    assert deliveries[down]["status"] == "failed" and deliveries[down]["attempts"] == 3
    assert "Connect" in deliveries[down]["last_error"]
    hang = deliveries[f"{stack.http.url}/hang"]
    assert hang["status"] == "failed" and hang["last_error"] == "no answer within 2s"
    for target in (f"{stack.http.url}/am", "oncall@alerts.test, dev@alerts.test"):
        assert deliveries[target]["status"] == "sent" and deliveries[target]["attempts"] == 1
    assert second["rule_id"] != first["rule_id"]
    # The error leaves the window: Alertmanager gets the resolve with endsAt.
    resolved = wait_for(lambda: stack.http.at("/am/api/v2/alerts")[1:], message="am resolve")
    (ended,) = resolved[0].json()
    assert ended["labels"] == am_alert["labels"]
    assert ended["endsAt"] >= ended["startsAt"] == am_alert["startsAt"]
    assert "[RESOLVED]" in wait_for(lambda: stack.smtp.messages[1:], message="mail")[0]["Subject"]


def test_a_test_notification_acknowledge_and_silence(stack: Stack) -> None:
    api = stack.api("actions.test")
    hook = f"{stack.http.url}/hooks/actions"
    rule = api.create_rule({"name": "any error", "metric": "errors", "window": "1m",
                            "op": "gt", "threshold": 0,
                            "channels": [{"type": "webhook", "url": hook}]})  # fmt: skip
    tested = api.client.post(f"{api.base}/alerts/rules/{rule['rule_id']}/test")
    assert tested.status_code == 200
    assert tested.json()["deliveries"][0]["status"] == "sent"
    test_body = stack.http.at("/hooks/actions")[0]
    assert test_body.json()["state"] == "test"
    assert verify_signature(rule["channels"][0]["secret"], test_body)
    api.send([session_body(api.site.site, error="oops " + uuid.uuid4().hex[:4])])
    alert = wait_for(lambda: api.alert_in(rule["rule_id"], ["firing"]), message="firing")
    url = f"{api.base}/alerts/{alert['alert_id']}"
    acked = api.client.patch(url, json={"action": "acknowledge", "by": "ana", "note": "on it"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged"]["by"] == "ana"
    assert acked.json()["acknowledged"]["note"] == "on it"
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    silenced = api.client.patch(url, json={"action": "silence", "until": until, "by": "ana"})
    assert silenced.status_code == 200
    assert [h["kind"] for h in silenced.json()["history"]][-2:] == ["acknowledge", "silence"]
    done = api.client.patch(url, json={"action": "resolve", "by": "ana"})
    assert done.status_code == 200 and done.json()["state"] == "resolved"
    assert done.json()["history"][-1]["by"] == "ana"
    # Still erroring: a new alert opens, and the silence keeps it quiet.
    quiet = wait_for(lambda: next((a for a in api.alerts(rule["rule_id"])
                                   if a["alert_id"] != alert["alert_id"]), None),
                     message="new alert")  # fmt: skip
    assert quiet["notified"] is False and quiet["history"][0]["reason"] == "silenced"
    again = api.client.patch(url, json={"action": "acknowledge"})
    assert again.status_code == 409
    bodies = [r.json()["state"] for r in stack.http.at("/hooks/actions")]
    assert bodies == ["test", "firing", "resolved"]


def test_live_snapshots_are_server_sent_events(stack: Stack) -> None:
    api = stack.api("live.test")
    api.send(session_body(api.site.site, vitals={"INP": 120 + 8 * i}, error="e")
             for i in range(5))  # fmt: skip
    stack.server.wait_events(api.site, lambda rows: len(rows) >= 15)
    with api.client.stream("GET", f"{api.base}/live", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        event = next(line for line in lines if line.startswith("event:"))
        data = next(line for line in lines if line.startswith("data:"))
    assert event == "event: snapshot"
    snapshot = json.loads(data[len("data:") :])
    assert snapshot["site"] == api.site.site
    assert snapshot["visitors"] >= 1 and snapshot["events_per_min"] == 15
    assert snapshot["errors_per_min"] == 5 and snapshot["inp_samples"] == 5
    assert 120 <= snapshot["inp_p75"] <= 152


def test_trends(stack: Stack) -> None:
    api = stack.api("trends.test")
    response = api.client.get(f"{api.base}/trends", params={"metric": "pageviews",
                                                           "period": "7d"})  # fmt: skip
    assert response.status_code == 200, response.text
    trend = response.json()
    assert trend["direction"] == "stable" and trend["points"] == 7
    assert set(trend) >= {"slope_per_day", "slope_ci", "mann_kendall", "anomalies", "series"}
    bad = api.client.get(f"{api.base}/trends", params={"metric": "happiness"})
    assert bad.status_code == 400 and "metric" in bad.json()["detail"]
    short = api.client.get(f"{api.base}/trends", params={"metric": "visitors", "period": "today"})
    assert short.status_code == 400 and short.json()["detail"].startswith("period:")
