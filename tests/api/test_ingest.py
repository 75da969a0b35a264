"""POST /api/event against a real Beacon process: outcomes, enrichment, privacy."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import CHROME_UA, REPO, BeaconProcess, Site

ORIGIN = "http://example.test"


def _batch(site: str, events: list[dict[str, Any]], sid: str | None = None) -> dict[str, Any]:
    return {
        "site": site,
        "sid": sid or uuid.uuid4().hex,
        "sent_at": int(time.time() * 1000),
        "events": events,
    }


def _full_batch(site: str, pid: str) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return _batch(
        site,
        [
            {
                "t": "pageview",
                "ts": now,
                "pid": pid,
                "url": "https://example.test/pricing?utm_source=newsletter&email=a@b.test#top",
                "ref": "https://www.google.com/search?q=beacon",
                "title": "Pricing",
                "vw": 1280,
                "vh": 720,
                "lang": "en-GB",
            },
            {
                "t": "vital",
                "ts": now + 10,
                "pid": pid,
                "name": "LCP",
                "value": 1800.5,
                "target": "main>img.hero",
                "attr": {"element": "main>img.hero", "renderDelay": 12},
            },
            {"t": "vital", "ts": now + 11, "pid": pid, "name": "CLS", "value": 0},
            {
                "t": "error",
                "ts": now + 20,
                "pid": pid,
                "kind": "error",
                "type": "TypeError",
                "message": "Cannot read properties of undefined (reading 'id')",
                "stack": "TypeError: Cannot read properties of undefined (reading 'id')\n"
                "    at render (https://example.test/assets/app.3f9a1c2b.js:10:5)\n"
                "    at main (https://example.test/assets/app.3f9a1c2b.js:20:3)",
            },
            {"t": "click", "ts": now + 30, "pid": pid, "target": "nav>a.signup", "text": "Sign up"},
            {
                "t": "custom",
                "ts": now + 40,
                "pid": pid,
                "name": "signup",
                "props": {"plan": "pro", "seats": 3, "trial": True},
            },
        ],
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server that trusts X-Forwarded-For, so tests choose the client IP."""
    process = BeaconProcess(
        tmp_path_factory.mktemp("ingest") / "data",
        env={
            "BEACON_CLIENT_IP_HEADER": "X-Forwarded-For",
            "BEACON_MAX_BODY_BYTES": "65536",
            "BEACON_LOG_LEVEL": "INFO",
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def site(server: BeaconProcess) -> Site:
    return server.add_site("example.test", [ORIGIN])


def test_site_add_prints_key_and_token_while_the_server_runs(server: BeaconProcess) -> None:
    done = server.cli("site", "add", "other.test", "--origin", "https://other.test", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert set(created) == {"site", "token"}
    assert created["site"].startswith("s_") and created["token"].startswith("bt_")
    listed = json.loads(server.cli("site", "list", "--json").stdout)
    assert {
        "site_id": created["site"],
        "domain": "other.test",
        "origins": ["https://other.test"],
        "retention_days": 400,
        "rollup_retention_days": 400,
    } in listed


def test_a_batch_is_accepted_enriched_and_exported(server: BeaconProcess, site: Site) -> None:
    pid = uuid.uuid4().hex[:16]
    response = server.send(
        _full_batch(site.site, pid), headers={"origin": ORIGIN, "x-forwarded-for": "81.2.69.160"}
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 6}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    started = time.monotonic()
    rows = server.wait_events(
        site, lambda r: len([e for e in r if e["pid"] == pid]) == 6, timeout=2.0
    )
    assert time.monotonic() - started <= 2.0
    by_type = {e["type"]: e for e in rows if e["pid"] == pid}
    assert set(by_type) == {"pageview", "vital", "error", "click", "custom"}
    for event in by_type.values():
        assert event["browser"] == "Chrome"
        assert event["os"] == "Windows"
        assert event["device"] == "desktop"
        assert event["country"] == "GB"
        assert event["visitor_id"] > 0
        assert event["path"] == "/pricing"  # non-page-view events inherit their page
    visitors = {e["visitor_id"] for e in by_type.values()}
    assert len(visitors) == 1
    page = by_type["pageview"]
    # campaign tags name the source; the referrer itself is kept beside them
    assert page["referrer_source"] == "campaign"
    assert page["referrer_domain"] == "google.com"
    assert page["referrer"] == "https://google.com/search"  # its query (search terms) dropped
    assert page["utm_source"] == "newsletter"
    assert "a@b.test" not in page["url"] and "email=" not in page["url"]
    error = by_type["error"]
    assert len(error["fingerprint"]) == 16
    assert error["culprit"]
    assert by_type["custom"]["props"] == {"plan": "pro", "seats": "3", "trial": "true"}
    lcp = [e for e in rows if e["pid"] == pid and e["type"] == "vital" and e["name"] == "LCP"]
    assert lcp[0]["rating"] == "good" and lcp[0]["target"] == "main>img.hero"


def test_no_raw_ip_is_stored_anywhere(server: BeaconProcess, site: Site) -> None:
    ip = "81.2.69.161"
    pid = uuid.uuid4().hex[:16]
    assert (
        server.send(
            _full_batch(site.site, pid), headers={"origin": ORIGIN, "x-forwarded-for": ip}
        ).status_code
        == 202
    )
    rows = server.wait_events(site, lambda r: any(e["pid"] == pid for e in r))
    assert not [e for e in rows if ip in json.dumps(e)]
    # Nor in any file Beacon wrote: spool, ClickHouse parts, logs.
    for path in [*server.data_dir.rglob("*"), server.log_path]:
        if path.is_file():
            assert ip.encode() not in path.read_bytes(), path


def test_same_visitor_same_day_and_distinct_visitors(server: BeaconProcess, site: Site) -> None:
    pids = [uuid.uuid4().hex[:16] for _ in range(3)]
    headers = [
        {"x-forwarded-for": "81.2.69.170"},
        {"x-forwarded-for": "81.2.69.170"},
        {"x-forwarded-for": "81.2.69.171"},
    ]
    for pid, extra in zip(pids, headers, strict=True):
        batch = _batch(
            site.site,
            [
                {
                    "t": "pageview",
                    "ts": int(time.time() * 1000),
                    "pid": pid,
                    "url": "https://example.test/",
                }
            ],
        )
        assert server.send(batch, headers={"origin": ORIGIN, **extra}).status_code == 202
    rows = server.wait_events(
        site, lambda r: sum(e["pid"] in pids for e in r) == 3, type="pageview"
    )
    visitor = {e["pid"]: e["visitor_id"] for e in rows if e["pid"] in pids}
    assert visitor[pids[0]] == visitor[pids[1]] != visitor[pids[2]]


def test_bots_are_dropped_counted_and_answered_202(server: BeaconProcess, site: Site) -> None:
    pid = uuid.uuid4().hex[:16]
    headless = CHROME_UA.replace("Chrome/", "HeadlessChrome/")
    batch = _batch(
        site.site,
        [
            {
                "t": "pageview",
                "ts": int(time.time() * 1000),
                "pid": pid,
                "url": "https://example.test/",
            }
        ],
    )
    response = server.send(batch, headers={"origin": ORIGIN, "user-agent": headless})
    assert response.status_code == 202 and response.json() == {"accepted": 0}
    metrics = httpx.get(server.base_url + "/metrics").text
    assert 'beacon_events_dropped_total{reason="bot"}' in metrics
    control = uuid.uuid4().hex[:16]
    server.send(
        _batch(
            site.site,
            [
                {
                    "t": "pageview",
                    "ts": int(time.time() * 1000),
                    "pid": control,
                    "url": "https://example.test/",
                }
            ],
        ),
        headers={"origin": ORIGIN},
    )
    rows = server.wait_events(site, lambda r: any(e["pid"] == control for e in r))
    assert not [e for e in rows if e["pid"] == pid]


def _wrong_type_batch(site: str) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return _batch(
        site,
        [
            {"t": "pageview", "ts": now, "pid": "p1", "url": "https://example.test/"},
            {"t": "click", "ts": now, "pid": "p1", "target": "a"},
            {"t": "vital", "ts": now, "pid": "p1", "name": "LCP", "value": "fast"},
        ],
    )


BAD_INPUTS = [
    pytest.param(b'{"site": "x", "events": [', "text/plain", 400, "malformed", id="malformed"),
    pytest.param("wrong-type", "text/plain", 400, "$.events[2].value", id="wrong-type"),
    pytest.param(b"\xff\xfe\xfd", "application/json", 400, "malformed", id="invalid-utf8"),
    pytest.param(b"[]", "text/plain", 400, "Expected `object`", id="not-an-object"),
    pytest.param("empty-events", "text/plain", 400, "$.events", id="no-events"),
    pytest.param("huge-string", "text/plain", 400, "$.events[0].title", id="huge-string"),
    pytest.param(
        "valid", "application/x-www-form-urlencoded", 415, "Content-Type", id="content-type"
    ),
    pytest.param("unknown-site", "text/plain", 401, "unknown site", id="unknown-site"),
    pytest.param("too-large", "text/plain", 413, "larger than", id="too-large"),
]


def _body_for(kind: bytes | str, site: Site) -> bytes:
    now = int(time.time() * 1000)
    page = {"t": "pageview", "ts": now, "pid": "bad", "url": "https://example.test/"}
    bodies: dict[str, Any] = {
        "wrong-type": _wrong_type_batch(site.site),
        "empty-events": _batch(site.site, []),
        "huge-string": _batch(site.site, [{**page, "title": "x" * 10_000}]),
        "valid": _batch(site.site, [page]),
        "unknown-site": _batch("s_doesnotexist", [page]),
        "too-large": _batch(site.site, [{**page, "title": "y" * 500}] * 200),
    }
    if isinstance(kind, bytes):
        return kind
    return json.dumps(bodies[kind]).encode()


@pytest.mark.parametrize(("kind", "content_type", "status", "message"), BAD_INPUTS)
def test_bad_input_gets_a_clear_error_and_stores_nothing(
    server: BeaconProcess,
    site: Site,
    kind: bytes | str,
    content_type: str,
    status: int,
    message: str,
) -> None:
    before = len(server.events(site))
    response = server.send(
        _body_for(kind, site), content_type=content_type, headers={"origin": ORIGIN}
    )
    assert response.status_code == status, response.text
    assert message in response.json()["message"]
    # Still serving, and the bad request stored nothing.
    marker = uuid.uuid4().hex[:16]
    ok = server.send(
        _batch(
            site.site,
            [
                {
                    "t": "pageview",
                    "ts": int(time.time() * 1000),
                    "pid": marker,
                    "url": "https://example.test/",
                }
            ],
        ),
        headers={"origin": ORIGIN},
    )
    assert ok.status_code == 202
    rows = server.wait_events(site, lambda r: any(e["pid"] == marker for e in r))
    assert len(rows) == before + 1


def test_wrong_type_message_names_the_json_path(server: BeaconProcess, site: Site) -> None:
    response = server.send(_wrong_type_batch(site.site), headers={"origin": ORIGIN})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid",
        "message": "invalid batch: Expected `float`, got `str` - at `$.events[2].value`",
    }


def test_origin_not_allowed_is_403(server: BeaconProcess, site: Site) -> None:
    batch = _batch(
        site.site,
        [
            {
                "t": "pageview",
                "ts": int(time.time() * 1000),
                "pid": "o1",
                "url": "https://example.test/",
            }
        ],
    )
    response = server.send(batch, headers={"origin": "https://evil.test"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert not [e for e in server.events(site) if e["pid"] == "o1"]


def test_cors_preflight_follows_the_site_origin_lists(server: BeaconProcess, site: Site) -> None:
    allowed = httpx.options(
        server.base_url + "/api/event",
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    denied = httpx.options(
        server.base_url + "/api/event",
        headers={"origin": "https://evil.test", "access-control-request-method": "POST"},
    )
    assert denied.status_code == 403


def test_get_is_405(server: BeaconProcess) -> None:
    response = httpx.get(server.base_url + "/api/event")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


def test_fuzzed_bodies_never_break_the_server(server: BeaconProcess, site: Site) -> None:
    import random

    rng = random.Random(1234)
    valid = json.dumps(_full_batch(site.site, "fuzz")).encode()
    for _ in range(300):
        body = bytearray(valid)
        for _ in range(rng.randrange(1, 8)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        response = server.send(bytes(body), headers={"origin": ORIGIN})
        assert response.status_code in (202, 400, 401), response.text
        assert response.json()
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_operations_endpoints(server: BeaconProcess) -> None:
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "ok"
    metrics = httpx.get(server.base_url + "/metrics").text
    for name in (
        "beacon_events_received_total",
        "beacon_events_accepted_total",
        "beacon_requests_rejected_total",
        "beacon_flush_seconds_bucket",
        "beacon_batch_rows_bucket",
        "beacon_spool_backlog_bytes",
    ):
        assert name in metrics


def test_logs_are_json_lines(server: BeaconProcess) -> None:
    lines = [line for line in Path(server.log_path).read_text().splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(entry)


def test_the_snippet_is_served_cached_and_compressed(server: BeaconProcess) -> None:
    built = (REPO / "js-snippet" / "dist" / "beacon.min.js").read_bytes()
    plain = httpx.get(server.base_url + "/script.js", headers={"accept-encoding": "identity"})
    assert plain.status_code == 200 and plain.content == built
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    etag, version = plain.headers["etag"], plain.headers["x-beacon-snippet-version"]
    assert "max-age=3600" in plain.headers["cache-control"]
    packed = httpx.get(server.base_url + "/script.js", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == built
    assert int(packed.headers["content-length"]) <= 3000  # the budget, as served
    versioned = httpx.get(server.base_url + f"/script.js?v={version}")
    assert "immutable" in versioned.headers["cache-control"]
    again = httpx.get(server.base_url + "/script.js", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(server.base_url + "/script.js", headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(built)
