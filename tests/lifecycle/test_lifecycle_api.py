"""Retention, erasure and site deletion through a running server: HTTP and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import BeaconProcess, Site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeaconProcess]:
    # Events up to 30 days old are accepted, so that a test can send old ones.
    process = BeaconProcess(
        tmp_path_factory.mktemp("lifecycle") / "data",
        env={"BEACON_MAX_EVENT_AGE_HOURS": "720"},
    ).start()
    yield process
    process.stop()


def _send(
    server: BeaconProcess, site: Site, *, days_ago: float = 0, uid: str = "", sid: str = ""
) -> str:
    now = int(time.time() * 1000)
    ts = now - int(days_ago * 86_400_000)
    pid = uuid.uuid4().hex[:12]
    events = [
        {"t": "pageview", "ts": ts, "pid": pid, "url": "https://x.test/p"},
        {"t": "vital", "ts": ts + 1, "pid": pid, "name": "LCP", "value": 1234.0},
        {
            "t": "error",
            "ts": ts + 2,
            "pid": pid,
            "kind": "error",
            "type": "TypeError",
            "message": f"boom {pid}",
        },
    ]
    body: dict[str, Any] = {
        "site": site.site,
        "sid": sid or uuid.uuid4().hex,
        "sent_at": now,
        "events": events,
    }
    if uid:
        body["uid"] = uid
    assert server.send(body).status_code == 202
    return pid


def _api(server: BeaconProcess, site: Site, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{server.base_url}/api/v1/sites/{site.site}/{path}",
        params=params,
        headers={"authorization": f"Bearer {site.token}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def _old(server: BeaconProcess, site: Site) -> dict[str, str]:
    return {
        "from": (dt.date.today() - dt.timedelta(days=20)).isoformat(),
        "to": (dt.date.today() - dt.timedelta(days=8)).isoformat(),
    }


def test_retention_of_one_site_empties_its_old_data_from_every_answer(
    server: BeaconProcess,
) -> None:
    short, kept = server.add_site("short.test"), server.add_site("kept.test")
    for site in (short, kept):
        for days_ago in (12, 11, 10, 1, 0):
            _send(server, site, days_ago=days_ago)
    for site in (short, kept):
        server.wait_events(site, lambda rows: len(rows) == 15)
    done = server.cli("site", "update", short.site, "--retention-days", "7", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["retention_days"] == 7
    listed = {s["site_id"]: s for s in json.loads(server.cli("site", "list", "--json").stdout)}
    assert listed[short.site]["retention_days"] == 7
    assert listed[kept.site]["retention_days"] == 400
    # The short site's old events are gone from the export and the answers; the other's stay.
    assert len(server.events(short)) == 6
    assert len(server.events(kept)) == 15
    old = _old(server, short)
    for site, pageviews in ((short, 0), (kept, 3)):
        assert _api(server, site, "overview", **old)["pageviews"] == pageviews
        assert (
            sum(r["pageviews"] for r in _api(server, site, "breakdown/page", **old)["results"])
            == pageviews
        )
        vitals = _api(server, site, "vitals", **old)
        assert sum(m["samples"] for m in vitals["metrics"].values()) == pageviews, vitals
        issues = _api(server, site, "issues", status="all", **old)
        assert sum(issue["events"] for issue in issues["issues"]) == pageviews
    bad = server.cli(
        "site", "update", short.site, "--retention-days", "30", "--rollup-retention-days", "10"
    )
    assert bad.returncode == 2 and "shorter" in bad.stderr


def test_erasure_over_http_is_done_when_answered_and_logged(server: BeaconProcess) -> None:
    site = server.add_site("erase.test")
    person = [_send(server, site, uid="user-42", sid="sid-person") for _ in range(3)]
    others = [_send(server, site, uid=f"user-{n}") for n in range(4)]
    server.wait_events(site, lambda rows: len(rows) == 21)
    url = f"{server.base_url}/api/v1/sites/{site.site}/data"
    auth = {"authorization": f"Bearer {site.token}"}
    assert httpx.delete(url, headers=auth, timeout=60).status_code == 400  # neither uid nor sid
    other_site = server.add_site("other-erase.test")
    forbidden = httpx.delete(
        url, params={"uid": "user-42"}, headers={"authorization": f"Bearer {other_site.token}"}
    )
    assert forbidden.status_code == 403
    response = httpx.delete(
        url, params={"uid": "user-42", "by": "dpo@example.test"}, headers=auth, timeout=120
    )
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["kind"] == "uid" and done["sessions"] == 1 and done["removed"]["events"] == 9
    assert done["by"].startswith("token:") and "dpo@example.test" in done["by"]
    rows = server.events(site)
    assert {r["pid"] for r in rows} == set(others)
    assert not {r["pid"] for r in rows} & set(person)
    log = _api(server, site, "erasures")["erasures"]
    assert [e["kind"] for e in log] == ["uid"] and "user-42" not in json.dumps(log)
    # The CLI erases a session, logged with who ran it.
    sid = next(r["sid"] for r in rows)
    by_cli = server.cli("erase", site.site, "--sid", sid, "--by", "ops", "--json")
    assert by_cli.returncode == 0, by_cli.stderr
    assert json.loads(by_cli.stdout)["removed"]["events"] == 3
    listed = json.loads(server.cli("erasures", site.site, "--json").stdout)
    assert [(e["kind"], e["by"]) for e in listed] == [("sid", "ops"), ("uid", done["by"])]


def test_deleting_a_site_removes_its_data_and_its_tokens(server: BeaconProcess) -> None:
    doomed, other = server.add_site("doomed.test"), server.add_site("survivor.test")
    for site in (doomed, other):
        _send(server, site)
        server.wait_events(site, lambda rows: len(rows) == 3)
    done = server.cli("site", "delete", doomed.site, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"]["events"] == 3
    listed = json.loads(server.cli("site", "list", "--json").stdout)
    assert doomed.site not in {s["site_id"] for s in listed}
    gone = httpx.get(
        f"{server.base_url}/api/v1/sites/{doomed.site}/events",
        headers={"authorization": f"Bearer {doomed.token}"},
    )
    assert gone.status_code == 401  # its tokens went with it
    assert len(server.events(other)) == 3
    refused = server.send(
        {
            "site": doomed.site,
            "sid": "s",
            "sent_at": int(time.time() * 1000),
            "events": [{"t": "custom", "ts": int(time.time() * 1000), "pid": "p", "name": "x"}],
        }
    )
    assert refused.status_code == 401
