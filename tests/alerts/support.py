"""Helpers of the alert end-to-end tests: the alerts API of a running server, and traffic
sent through `POST /api/event` (one session per request, as a page would)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from tests.support import CHROME_UA, BeaconProcess, Site

__all__ = ["AlertsApi", "Traffic", "session_body"]


def session_body(
    site: str,
    *,
    url: str = "https://shop.test/",
    error: str = "",
    release: str = "",
    vitals: dict[str, float] | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    ts = ts or now
    sid = uuid.uuid4().hex[:16]
    pid = "p" + sid
    events: list[dict[str, Any]] = [{"t": "pageview", "ts": ts, "pid": pid, "url": url}]
    for name, value in (vitals or {}).items():
        events.append({"t": "vital", "ts": ts + 1, "pid": pid, "name": name, "value": value})
    if error:
        events.append(
            {"t": "error", "ts": ts + 2, "pid": pid, "kind": "error", "type": "TypeError",
             "message": error, "release": release}
        )  # fmt: skip
    return {"site": site, "sid": sid, "sent_at": now, "events": events}


class AlertsApi:
    def __init__(self, server: BeaconProcess, site: Site) -> None:
        self.server = server
        self.site = site
        self.base = f"{server.base_url}/api/v1/sites/{site.site}"
        self.client = httpx.Client(headers={"authorization": f"Bearer {site.token}"}, timeout=30)

    def create_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(self.base + "/alerts/rules", json=rule)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()["rule"]
        return created

    def alerts(self, rule_id: str) -> list[dict[str, Any]]:
        response = self.client.get(self.base + "/alerts", params={"rule_id": rule_id})
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["alerts"]
        return found

    def alert_in(self, rule_id: str, states: Iterable[str]) -> dict[str, Any] | None:
        wanted = set(states)
        return next((a for a in self.alerts(rule_id) if a["state"] in wanted), None)

    def rule(self, rule_id: str) -> dict[str, Any]:
        response = self.client.get(f"{self.base}/alerts/rules/{rule_id}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def send(self, bodies: Iterable[dict[str, Any]]) -> None:
        """One request per session, over one kept-alive connection."""
        for body in bodies:
            response = self.client.post(
                self.server.base_url + "/api/event",
                content=json.dumps(body),
                headers={"content-type": "text/plain", "user-agent": CHROME_UA},
            )
            assert response.status_code == 202, response.text

    def close(self) -> None:
        self.client.close()


class Traffic:
    """Background page views (sessions without errors) to some sites, until stopped."""

    def __init__(self, server: BeaconProcess, sites: list[str], every: float = 0.1) -> None:
        self.server = server
        self.sites = sites
        self.every = every
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        headers = {"content-type": "text/plain", "user-agent": CHROME_UA}
        with httpx.Client(timeout=30, headers=headers) as client:
            while not self._stop.is_set():
                for site in self.sites:
                    body = json.dumps(session_body(site, url="https://shop.test/home"))
                    try:
                        client.post(self.server.base_url + "/api/event", content=body)
                        self.sent += 1
                    except httpx.HTTPError:
                        pass
                self._stop.wait(self.every)
