"""Scale mode end to end: rate limits, shared sessions, the live view, the query cache.

One writer and two ingest processes over a real redis-server, talked to over HTTP.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scale.support import ScaleProcess, batch_body, new_prefix, wait_until_sites_known
from tests.support import CHROME_UA, Site

pytestmark = pytest.mark.slow

LIMITS = {
    "BEACON_CLIENT_IP_HEADER": "X-Forwarded-For",
    # One token per 20 s: slow enough that no refill lands between the flood and the
    # checks after it on a loaded machine.
    "BEACON_RATE_LIMIT_IP_PER_SECOND": "0.05",
    "BEACON_RATE_LIMIT_IP_BURST": "5",
}


class Cluster:
    def __init__(self, worker: ScaleProcess, ingest: list[ScaleProcess]) -> None:
        self.worker = worker
        self.ingest = ingest
        self.sites: list[Site] = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("scale")
    prefix = new_prefix()
    worker = ScaleProcess("worker", root / "writer", redis_url, prefix, env=LIMITS).start()
    ingest = [
        ScaleProcess("serve", root / f"ingest{i}", redis_url, prefix, env=LIMITS) for i in range(2)
    ]
    cluster = Cluster(worker, ingest)
    try:
        cluster.sites = [worker.add_site(f"site{i}.test") for i in range(4)]
        for process in ingest:
            process.start()
            wait_until_sites_known(process, len(cluster.sites))
        yield cluster
    finally:
        for process in [*ingest, worker]:
            process.stop()


def _post(url: str, site: str, ip: str, pid: str | None = None) -> httpx.Response:
    return httpx.post(
        url + "/api/event",
        content=json.dumps(batch_body(site, pid or uuid.uuid4().hex)),
        headers={"content-type": "text/plain", "user-agent": CHROME_UA, "x-forwarded-for": ip},
        timeout=10,
    )


def test_a_flood_from_one_ip_is_limited_and_another_site_is_not(cluster: Cluster) -> None:
    flooded, other = cluster.sites[0], cluster.sites[1]
    url = cluster.ingest[0].base_url
    flood = [_post(url, flooded.site, "203.0.113.7") for _ in range(15)]
    codes = [r.status_code for r in flood]
    # The burst of 5 (and at most a token refilled meanwhile), then 429.
    assert 5 <= codes.count(202) <= 6, codes
    assert codes[-1] == 429
    refused = [r for r in flood if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert refused[0].json()["error"] == "rate_limited"
    # Through the other ingest process too: the buckets are shared in Redis.
    assert _post(cluster.ingest[1].base_url, flooded.site, "203.0.113.7").status_code == 429
    # Another site's traffic, also from the flooding IP and from others, is unaffected.
    assert [_post(url, other.site, "203.0.113.7").status_code for _ in range(5)] == [202] * 5
    assert [_post(url, other.site, f"198.51.100.{i}").status_code for i in range(5)] == [202] * 5


def test_a_session_spread_over_two_ingest_processes_stays_one_session(cluster: Cluster) -> None:
    site = cluster.sites[2]
    pid_a, pid_b = uuid.uuid4().hex, uuid.uuid4().hex
    sid = "shared-session-1"
    for url, pid in ((cluster.ingest[0].base_url, pid_a), (cluster.ingest[1].base_url, pid_b)):
        body = batch_body(site.site, pid)
        body["sid"] = sid
        response = httpx.post(
            url + "/api/event",
            content=json.dumps(body),
            headers={"content-type": "text/plain", "user-agent": CHROME_UA,
                     "x-forwarded-for": "192.0.2.44"},
            timeout=10,
        )  # fmt: skip
        assert response.status_code == 202
        time.sleep(0.2)
    rows = cluster.worker.wait_events(site, lambda rows: len(rows) >= 20, timeout=20, sid=sid)
    assert {(r["session_seq"], r["session_start"], r["visitor_id"]) for r in rows} == {
        (rows[0]["session_seq"], rows[0]["session_start"], rows[0]["visitor_id"])
    }


def test_the_live_view_streams_a_sites_events(cluster: Cluster) -> None:
    site, other = cluster.sites[3], cluster.sites[1]
    ingest = cluster.ingest[1]
    url = f"{ingest.base_url}/api/v1/sites/{site.site}/live"
    assert httpx.get(url, timeout=5).status_code == 401
    denied = httpx.get(url, headers={"authorization": f"Bearer {other.token}"}, timeout=5)
    assert denied.status_code == 403
    pid = uuid.uuid4().hex
    seen: list[dict[str, object]] = []
    visitors: list[int] = []
    headers = {"authorization": f"Bearer {site.token}"}
    with httpx.stream("GET", url, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        sent = False
        deadline = time.monotonic() + 10
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "visitors":
                visitors.append(json.loads(line[6:])["visitors"])
                if not sent:  # the stream is open: now send
                    assert _post(ingest.base_url, other.site, "192.0.2.1").status_code == 202
                    assert _post(ingest.base_url, site.site, "192.0.2.2", pid).status_code == 202
                    sent = True
            elif line.startswith("data: ") and event == "events":
                seen += json.loads(line[6:])["events"]
                if len(seen) >= 10 or time.monotonic() > deadline:
                    break
    assert [e["type"] for e in seen] == ["pageview"] + ["custom"] * 9  # its site's only
    assert seen[0]["path"] == "/a"
    assert visitors and visitors[0] >= 0


def test_the_live_view_forwards_snapshots_published_by_the_lease_holder(cluster: Cluster) -> None:
    """The worker (holder of the alert lease) publishes a watched site's snapshot on Redis
    pub/sub every few seconds; the ingest process's live endpoint forwards it."""
    site = cluster.sites[2]
    ingest = cluster.ingest[0]
    assert _post(ingest.base_url, site.site, "192.0.2.3").status_code == 202
    url = f"{ingest.base_url}/api/v1/sites/{site.site}/live"
    headers = {"authorization": f"Bearer {site.token}"}
    snapshot: dict[str, object] = {}
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        event = ""
        deadline = time.monotonic() + 25
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "snapshot":
                snapshot = json.loads(line[6:])
                break
            if time.monotonic() > deadline:
                break
    assert snapshot, "no snapshot within 25 s"
    assert snapshot["site"] == site.site
    assert set(snapshot) >= {"visitors", "events_per_min", "errors_per_min", "inp_p75"}


def test_analytics_answers_are_cached_briefly_and_still_guarded(cluster: Cluster) -> None:
    site, other = cluster.sites[0], cluster.sites[1]
    url = f"{cluster.worker.base_url}/api/v1/sites/{site.site}/overview"
    auth = {"authorization": f"Bearer {site.token}"}
    first = httpx.get(url, headers=auth, timeout=30)
    second = httpx.get(url, headers=auth, timeout=30)
    assert first.status_code == second.status_code == 200
    assert "x-beacon-cache" not in first.headers
    assert second.headers["x-beacon-cache"] == "hit"
    assert second.json() == first.json()
    # A cached answer is not served to a token of another site, nor without one.
    assert httpx.get(url, headers={"authorization": f"Bearer {other.token}"}).status_code == 403
    assert httpx.get(url).status_code == 401
    csv = httpx.get(url, headers={**auth, "accept": "text/csv"}, timeout=30)
    assert csv.headers["content-type"].startswith("text/csv")  # cached apart from JSON
