"""The triage API against a real Beacon process: errors in through /api/event, issues
out through /api/v1/sites/{site}/issues, triage through PATCH, source maps through POST."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.triage.fingerprint import fingerprint_error
from tests.support import CHROME_UA, BeaconProcess, Site

ORIGIN = "http://shop.test"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
FIXTURES = Path(__file__).parent / "fixtures"
CHROME_STACK = """TypeError: Cannot read properties of undefined (reading 'id')
    at Object.renderCart (https://shop.test/assets/cart-BkF3x9aZ.js:1:2345)
    at loadPage (https://shop.test/assets/app-Cq81zzP1.js:1:999)"""
FIREFOX_STACK = """renderCart@https://shop.test/assets/cart-BkF3x9aZ.js:1:2351
loadPage@https://shop.test/assets/app-Cq81zzP1.js:1:1003"""


def now_ms() -> int:
    return int(time.time() * 1000)


def error_event(
    pid: str,
    *,
    stack: str = CHROME_STACK,
    release: str = "1.0.0",
    message: str = "Cannot read properties of undefined (reading 'id')",
) -> dict[str, Any]:
    return {
        "t": "error",
        "ts": now_ms(),
        "pid": pid,
        "kind": "error",
        "type": "TypeError",
        "message": message,
        "stack": stack,
        "release": release,
    }


def send(
    server: BeaconProcess,
    site: Site,
    events: list[dict[str, Any]],
    *,
    ua: str = CHROME_UA,
    sid: str | None = None,
) -> None:
    batch = {
        "site": site.site,
        "sid": sid or uuid.uuid4().hex,
        "sent_at": now_ms(),
        "events": events,
    }
    response = server.send(batch, headers={"origin": ORIGIN, "user-agent": ua})
    assert response.status_code == 202, response.text


class Api:
    def __init__(self, server: BeaconProcess, site: Site) -> None:
        self.base = f"{server.base_url}/api/v1/sites/{site.site}"
        self.headers = {"authorization": f"Bearer {site.token}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.headers, timeout=30)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return httpx.patch(self.base + path, json=body, headers=self.headers, timeout=30)

    def post(self, path: str, content: bytes, **params: Any) -> httpx.Response:
        return httpx.post(
            self.base + path,
            content=content,
            params=params,
            headers={**self.headers, "content-type": "application/json"},
            timeout=30,
        )

    def wait_issue(self, issue_id: str, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        detail: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.get(f"/issues/{issue_id}")
            if response.status_code == 200:
                detail = response.json()
                if predicate(detail):
                    return detail
            time.sleep(0.1)
        raise AssertionError(f"issue {issue_id} never matched; last: {detail}")


@pytest.fixture(scope="module")
def site(beacon_server: BeaconProcess) -> Site:
    return beacon_server.add_site("shop.test", [ORIGIN])


@pytest.fixture(scope="module")
def api(beacon_server: BeaconProcess, site: Site) -> Api:
    return Api(beacon_server, site)


@pytest.fixture(scope="module")
def issue_id(beacon_server: BeaconProcess, site: Site, api: Api) -> str:
    """One issue reported from Chrome (after a page view and a click) and from Firefox."""
    pid = uuid.uuid4().hex[:16]
    send(
        beacon_server,
        site,
        [
            {
                "t": "pageview",
                "ts": now_ms() - 2000,
                "pid": pid,
                "url": "https://shop.test/cart",
                "title": "Cart",
            },
            {
                "t": "click",
                "ts": now_ms() - 1000,
                "pid": pid,
                "target": "button#pay",
                "text": "Pay",
            },
            error_event(pid),
        ],
    )
    send(
        beacon_server,
        site,
        [
            error_event(
                uuid.uuid4().hex[:16],
                stack=FIREFOX_STACK,
                message='can\'t access property "id", cart is undefined',
            )
        ],
        ua=FIREFOX_UA,
    )
    fingerprint = fingerprint_error(kind="error", type="TypeError", message="", stack=CHROME_STACK)
    api.wait_issue(fingerprint.hash, lambda d: d["events"] == 2)
    return fingerprint.hash


def test_list_shows_one_issue_for_both_browsers(api: Api, issue_id: str) -> None:
    response = api.get("/issues", sort="events")
    assert response.status_code == 200
    issues = response.json()["issues"]
    assert [i["issue_id"] for i in issues] == [issue_id]
    issue = issues[0]
    assert (issue["events"], issue["users"], issue["status"]) == (2, 2, "unresolved")
    assert issue["culprit"] == "renderCart (assets/cart)"
    assert api.get("/issues", q="renderCart").json()["total"] == 1
    assert api.get("/issues", q="no such thing").json()["total"] == 0


def test_detail_breaks_down_and_shows_breadcrumbs(api: Api, issue_id: str) -> None:
    detail = api.get(f"/issues/{issue_id}").json()
    assert {b["value"] for b in detail["browsers"]} == {"Chrome", "Firefox"}
    assert {p["value"]: p["events"] for p in detail["pages"]} == {"/cart": 1, "": 1}
    assert sum(h["events"] for h in detail["histogram"]) == 2
    chrome = next(e for e in detail["recent_events"] if e["browser"] == "Chrome")
    assert [(c["type"], c["target"]) for c in chrome["breadcrumbs"]] == [
        ("pageview", None),
        ("click", "button#pay"),
    ]
    assert detail["culprit_frame"]["function"] in ("renderCart", "Object.renderCart")


def test_parameters_and_access_are_checked(
    beacon_server: BeaconProcess, api: Api, issue_id: str
) -> None:
    assert api.get("/issues", sort="loudness").status_code == 400
    assert "status" in api.get("/issues", status="sleeping").json()["detail"]
    assert api.get("/issues", country="GB").status_code == 400
    assert api.get("/issues/" + "0" * 16).status_code == 404
    assert api.get("/issues/not-hex").status_code == 404
    assert api.patch(f"/issues/{issue_id}", {"action": "explode"}).status_code == 400
    assert api.patch(f"/issues/{issue_id}", {"action": "comment"}).status_code == 400
    assert httpx.get(api.base + "/issues", timeout=10).status_code == 401
    other = beacon_server.add_site("other.test", [])
    foreign = httpx.get(
        api.base + "/issues", timeout=10, headers={"authorization": f"Bearer {other.token}"}
    )
    assert foreign.status_code == 403


def test_resolve_then_regress_only_on_a_newer_release(
    beacon_server: BeaconProcess, site: Site, api: Api, issue_id: str
) -> None:
    response = api.patch(f"/issues/{issue_id}", {"action": "resolve", "by": "ana"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_in_release"] == "1.0.0"
    assert api.get("/issues").json()["total"] == 0  # default filter: unresolved, regressed
    send(beacon_server, site, [error_event(uuid.uuid4().hex[:16], release="0.9.0")])
    api.wait_issue(issue_id, lambda d: d["events"] == 3)
    assert api.get(f"/issues/{issue_id}").json()["status"] == "resolved"
    send(beacon_server, site, [error_event(uuid.uuid4().hex[:16], release="1.1.0")])
    detail = api.wait_issue(issue_id, lambda d: d["events"] == 4)
    assert detail["status"] == "regressed"
    assert detail["regressed_release"] == "1.1.0"
    assert [i["issue_id"] for i in api.get("/issues", status="regressed").json()["issues"]] == [
        issue_id
    ]
    for body in (
        {"action": "assign", "assignee": "ana"},
        {"action": "comment", "text": "again?"},
        {"action": "ignore", "until_count": 100},
    ):
        assert api.patch(f"/issues/{issue_id}", body).status_code == 200
    detail = api.get(f"/issues/{issue_id}").json()
    assert (detail["status"], detail["assignee"]) == ("ignored", "ana")
    assert [h["action"] for h in detail["history"]] == ["resolve", "assign", "comment", "ignore"]
    assert api.patch(f"/issues/{issue_id}", {"action": "reopen"}).json()["status"] == "unresolved"


def test_source_map_upload_de_minifies_the_stack(
    beacon_server: BeaconProcess, site: Site, api: Api
) -> None:
    stack = (
        (FIXTURES / "sourcemap" / "node_stack.txt")
        .read_text()
        .replace("https://shop.example", "https://shop.test")
    )
    send(
        beacon_server,
        site,
        [
            error_event(
                uuid.uuid4().hex[:16],
                stack=stack,
                release="2.0.0",
                message="Cannot read properties of undefined",
            )
        ],
    )
    fingerprint = fingerprint_error(kind="error", type="TypeError", message="", stack=stack).hash
    assert not any(f["mapped"] for f in api.wait_issue(fingerprint, lambda d: True)["stack"])
    bad = api.post("/sourcemaps", b"not a map", release="2.0.0", file="/assets/cart.min.js")
    assert bad.status_code == 400
    content = (FIXTURES / "sourcemap" / "cart.min.js.map").read_bytes()
    response = api.post(
        "/sourcemaps", content, release="2.0.0", file="https://shop.test/assets/cart.min.js"
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "release": "2.0.0",
        "file": "/assets/cart.min.js",
        "size": len(content),
        "sources": 1,
    }
    top = api.get(f"/issues/{fingerprint}").json()["stack"][0]
    assert (top["original_file"], top["original_line"], top["original_function"]) == (
        "src/cart.js",
        3,
        "formatPrice",
    )
