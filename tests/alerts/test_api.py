"""The alerts API on the shared test server (no BEACON_ALERTS_ALLOW_PRIVATE): bad rules
are 400s naming the field, private targets are refused, tokens guard every path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import BeaconProcess, Site

RULE: dict[str, Any] = {
    "name": "errors",
    "metric": "error_rate",
    "window": "5m",
    "op": "gt",
    "threshold": 0.05,
    "channels": [{"type": "webhook", "url": "https://93.184.216.34/hook", "secret": "s3cret"}],
}


@pytest.fixture(scope="module")
def site(beacon_server: BeaconProcess) -> Site:
    return beacon_server.add_site("alerts-api.test")


@pytest.fixture
def client(beacon_server: BeaconProcess, site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{beacon_server.base_url}/api/v1/sites/{site.site}",
        headers={"authorization": f"Bearer {site.token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window": "5 minutes"}, "window: '5 minutes' is not a duration"),
        ({"metric": "happiness"}, "at `$.metric`"),
        ({"threshold": "high"}, "at `$.threshold`"),
        ({"filters": {"planet": "mars"}}, "filters.planet: unknown parameter"),
        ({"channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]},
         "channels[0].url: '127.0.0.1' is or resolves to 127.0.0.1, a loopback"),
        ({"channels": [{"type": "alertmanager", "url": "http://localhost:9093"}]},
         "channels[0].url: 'localhost' is or resolves to"),
        ({"channels": [{"type": "slack", "url": "http://169.254.169.254/x"}]},
         "channels[0].url: '169.254.169.254'"),
        ({"channels": [{"type": "email", "to": ["a@b.example"]}]},
         "channels[0]: e-mail needs an SMTP server"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_a_400_naming_the_field(
    client: httpx.Client, change: dict[str, Any], message: str
) -> None:
    response = client.post("/alerts/rules", json={**RULE, **change})
    assert response.status_code == 400, response.text
    assert message in response.json()["detail"]


def test_rules_crud_with_secrets_shown_once(client: httpx.Client) -> None:
    created = client.post("/alerts/rules", json=RULE)
    assert created.status_code == 201, created.text
    rule_id = created.json()["rule_id"]
    assert created.json()["rule"]["channels"][0]["secret"] == "s3cret"
    shown = client.get(f"/alerts/rules/{rule_id}").json()
    assert shown["channels"][0]["secret"] == "********"
    assert shown["state"]["status"] == "ok" and shown["for"] == "0s"
    assert rule_id in [r["rule_id"] for r in client.get("/alerts/rules").json()["rules"]]
    # PATCH: the fields given; the masked secret sent back keeps the secret.
    patched = client.patch(
        f"/alerts/rules/{rule_id}",
        json={"threshold": 0.2, "enabled": False, "channels": shown["channels"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["threshold"] == 0.2 and patched.json()["enabled"] is False
    assert patched.json()["channels"][0]["secret"] == "s3cret"
    bad = client.patch(f"/alerts/rules/{rule_id}", json={"window": "1y"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("window:")
    assert client.delete(f"/alerts/rules/{rule_id}").status_code == 204
    assert client.get(f"/alerts/rules/{rule_id}").status_code == 404
    assert client.patch(f"/alerts/rules/{rule_id}", json={}).status_code == 404


def test_alerts_listing_and_unknown_alerts(client: httpx.Client) -> None:
    assert client.get("/alerts").json() == {"alerts": []}
    assert client.get("/alerts", params={"state": "firing,active"}).status_code == 200
    wrong = client.get("/alerts", params={"state": "burning"})
    assert wrong.status_code == 400 and wrong.json()["detail"].startswith("state:")
    assert client.get("/alerts", params={"limit": "0"}).status_code == 400
    assert client.get("/alerts", params={"colour": "red"}).status_code == 400
    assert client.get("/alerts/0123456789abcdef").status_code == 404
    action = client.patch("/alerts/0123456789abcdef", json={"action": "acknowledge"})
    assert action.status_code == 404
    unknown = client.patch("/alerts/0123456789abcdef", json={"action": "celebrate"})
    assert unknown.status_code == 400


def test_every_alert_path_needs_the_sites_token(beacon_server: BeaconProcess, site: Site) -> None:
    other = beacon_server.add_site("alerts-other.test")
    base = f"{beacon_server.base_url}/api/v1/sites/{site.site}"
    paths = [("GET", "/alerts/rules"), ("POST", "/alerts/rules"), ("GET", "/alerts"),
             ("GET", "/trends?metric=visitors"), ("GET", "/alerts/rules/r_x"),
             ("POST", "/alerts/rules/r_x/test")]  # fmt: skip
    for method, path in paths:
        assert httpx.request(method, base + path, timeout=10).status_code == 401
        denied = httpx.request(
            method, base + path, headers={"authorization": f"Bearer {other.token}"}, timeout=10
        )
        assert denied.status_code == 403


def test_openapi_lists_the_alert_paths(beacon_server: BeaconProcess) -> None:
    schema = httpx.get(beacon_server.base_url + "/schema/openapi.json", timeout=30).json()
    for path in ("alerts/rules", "alerts/rules/{rule_id}", "alerts/rules/{rule_id}/test",
                 "alerts", "alerts/{alert_id}", "trends", "live"):  # fmt: skip
        assert f"/api/v1/sites/{{site}}/{path}" in schema["paths"], path
