"""Login, logout, CSRF, shared links and security headers over plain HTTP (no browser)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support import BeaconProcess, Site
from tests.web.conftest import api, wait_for


def _login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    match = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert match, page.text
    return match[1]


def login(client: httpx.Client, site: Site) -> httpx.Response:
    nonce = _login_form(client)
    return client.post("/login", data={"site": site.site, "token": site.token, "nonce": nonce})


def boot_of(page: str) -> dict[str, object]:
    match = re.search(r'<script id="boot" type="application/json">(.*?)</script>', page)
    assert match, page
    data: dict[str, object] = json.loads(match[1])
    return data


@pytest.fixture(scope="module")
def sites(beacon_server: BeaconProcess) -> tuple[Site, Site]:
    first = beacon_server.add_site("access-a.test")
    second = beacon_server.add_site("access-b.test")
    sid = "acc" + uuid.uuid4().hex[:10]
    now = int(time.time() * 1000) - 60_000
    body = {
        "site": first.site,
        "sid": sid,
        "sent_at": now,
        "events": [
            {"t": "pageview", "ts": now, "pid": "p1", "url": "https://a.test/"},
            {"t": "error", "ts": now + 1, "pid": "p1", "kind": "error", "message": "boom"},
        ],
    }
    assert beacon_server.send(body).status_code == 202
    wait_for(lambda: api(beacon_server, first, "/issues", period="24h")["issues"], what="the issue")
    return first, second


@pytest.fixture
def client(beacon_server: BeaconProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=beacon_server.base_url, timeout=30) as session:
        yield session


def test_pages_carry_a_strict_csp_and_security_headers(client: httpx.Client) -> None:
    page = client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    nonce_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in nonce_cookie and "samesite=strict" in nonce_cookie
    assert "<script" not in page.text  # the login form works without script
    # Built assets: versioned URLs cached for a year, gzip when accepted.
    script = re.search(r'src="(/static/dashboard\.js\?v=\w+)"', client.get("/login").text)
    assert script is None  # the login page loads no script at all
    css = re.search(r'href="(/static/dashboard\.css\?v=\w+)"', page.text)
    assert css, page.text
    asset = client.get(css[1], headers={"accept-encoding": "gzip"})
    assert asset.status_code == 200 and asset.headers["content-encoding"] == "gzip"
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/static/nothing.js").status_code == 404


def test_login_sets_a_strict_http_only_session_and_a_wrong_token_reveals_nothing(
    client: httpx.Client, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    nonce = _login_form(client)
    for site, token in ((first.site, second.token), ("s_nosuchsite", first.token)):
        wrong = client.post("/login", data={"site": site, "token": token, "nonce": nonce})
        assert wrong.status_code == 200
        assert "do not match" in wrong.text and "beacon_session" not in wrong.headers.get(
            "set-cookie", ""
        )
    # The same answer for an unknown site and a wrong token: nothing else is revealed.
    assert wrong.text.replace("s_nosuchsite", "") == client.post(
        "/login", data={"site": first.site, "token": "bt_x", "nonce": nonce}
    ).text.replace(first.site, "")

    done = login(client, first)
    assert done.status_code == 303 and done.headers["location"] == f"/sites/{first.site}"
    cookie = next(c for c in done.headers.get_list("set-cookie") if "beacon_session" in c)
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "Path=/;" in cookie or cookie.endswith("Path=/")
    assert first.token not in cookie and first.token not in done.headers["location"]
    shell = client.get(done.headers["location"])
    assert shell.status_code == 200
    boot = boot_of(shell.text)
    assert boot["mode"] == "session" and boot["site"] == first.site
    assert first.token not in shell.text
    # The session reads the site's API, not another site's.
    base = "/api/v1/sites/"
    assert client.get(base + first.site + "/overview").status_code == 200
    assert client.get(base + second.site + "/overview").status_code == 403
    assert client.get(f"/sites/{second.site}").headers["location"].startswith("/login?site=")


def test_a_login_form_from_elsewhere_is_refused(
    client: httpx.Client, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    _login_form(client)  # the browser holds a nonce cookie; the attacker's form another
    forged = client.post("/login", data={"site": first.site, "token": first.token, "nonce": "x"})
    assert forged.status_code == 303 and forged.headers["location"] == "/login"
    assert "beacon_session" not in forged.headers.get("set-cookie", "")


def test_changes_with_the_cookie_need_the_csrf_token(
    client: httpx.Client, beacon_server: BeaconProcess, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    login(client, first)
    csrf = str(boot_of(client.get(f"/sites/{first.site}").text)["csrf"])
    issue = api(beacon_server, first, "/issues", period="24h")["issues"][0]["issue_id"]
    path = f"/api/v1/sites/{first.site}/issues/{issue}"
    refused = client.patch(path, json={"action": "comment", "text": "hi"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = client.patch(
        path, json={"action": "comment", "text": "hi"}, headers={"x-csrf-token": "x"}
    )
    assert wrong.status_code == 403
    done = client.patch(
        path, json={"action": "comment", "text": "from the page"}, headers={"x-csrf-token": csrf}
    )
    assert done.status_code == 200, done.text
    # A token needs no CSRF header: it is not sent by browsers on their own.
    assert (
        httpx.patch(
            beacon_server.base_url + path,
            json={"action": "comment", "text": "from a script"},
            headers={"authorization": f"Bearer {first.token}"},
        ).status_code
        == 200
    )


def test_a_forged_or_foreign_cookie_opens_nothing(
    client: httpx.Client, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    login(client, first)
    value = client.cookies["beacon_session"]
    head, _, tail = value.partition(".")
    client.cookies.set("beacon_session", head + "." + tail[::-1])
    assert client.get(f"/api/v1/sites/{first.site}/overview").status_code == 401
    assert client.get(f"/sites/{first.site}").status_code == 303


def test_logout_needs_the_page_s_token_and_clears_the_cookie(
    client: httpx.Client, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    login(client, first)
    login(client, second)  # one session, two sites, and a switcher between them
    boot = boot_of(client.get(f"/sites/{second.site}").text)
    assert [s["site"] for s in boot["sites"]] == [first.site, second.site]  # type: ignore[index, union-attr]
    kept = client.post("/logout", data={"csrf": "wrong"})
    assert kept.status_code == 303 and kept.headers["location"] == "/"
    assert client.get(f"/api/v1/sites/{first.site}/overview").status_code == 200
    gone = client.post("/logout", data={"csrf": boot["csrf"]})
    assert gone.headers["location"] == "/login"
    assert "Max-Age=0" in gone.headers["set-cookie"]
    client.cookies.clear()
    assert client.get(f"/api/v1/sites/{first.site}/overview").status_code == 401


def test_a_link_opened_from_another_site_reloads_same_site(
    client: httpx.Client, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    # SameSite=Strict keeps the cookie off a navigation from another site; the page
    # asks for a same-site reload (meta refresh, no script) instead of a login form.
    bounce = client.get(f"/sites/{first.site}", headers={"sec-fetch-site": "cross-site"})
    assert bounce.status_code == 200 and 'http-equiv="refresh"' in bounce.text
    again = client.get(f"/sites/{first.site}", headers={"sec-fetch-site": "same-origin"})
    assert again.status_code == 303


def test_share_keys_read_one_site_only_and_never_change_anything(
    beacon_server: BeaconProcess, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    done = beacon_server.cli("share", "add", first.site, "--label", "wall screen", "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    share = {"authorization": f"Share {made['key']}"}
    base = f"{beacon_server.base_url}/api/v1/sites/"
    assert httpx.get(base + first.site + "/vitals", headers=share).status_code == 200
    assert httpx.get(base + second.site + "/overview", headers=share).status_code == 403
    assert (
        httpx.get(
            base + first.site + "/overview", headers={"authorization": "Share sk_x"}
        ).status_code
        == 401
    )
    upload = httpx.post(
        base + first.site + "/sourcemaps?release=1&file=/a.js", content=b"{}", headers=share
    )
    assert upload.status_code == 403
    page = httpx.get(f"{beacon_server.base_url}/share/{first.site}?auth={made['key']}")
    assert page.status_code == 200 and boot_of(page.text)["mode"] == "share"
    assert boot_of(page.text)["csrf"] == ""
    assert httpx.get(f"{beacon_server.base_url}/share/{first.site}").status_code == 404
    assert (
        httpx.get(f"{beacon_server.base_url}/share/{second.site}?auth={made['key']}").status_code
        == 404
    )
    listed = json.loads(beacon_server.cli("share", "list", first.site, "--json").stdout)
    assert [(k["key_id"], k["label"], k["revoked"]) for k in listed] == [
        (made["key_id"], "wall screen", False)
    ]
    assert made["key"] not in json.dumps(listed)
    bad = beacon_server.cli("share", "revoke", "sh_nosuchkey")
    assert bad.returncode == 2 and "no share key" in bad.stderr


def test_stored_text_in_the_shell_cannot_close_its_data_block(
    client: httpx.Client, beacon_server: BeaconProcess
) -> None:
    site = beacon_server.add_site("</script><script>alert(1)</script>")
    login(client, site)
    shell = client.get(f"/sites/{site.site}").text
    assert "<script>alert(1)" not in shell
    assert boot_of(shell)["sites"] == [
        {"site": site.site, "domain": "</script><script>alert(1)</script>"}
    ]
