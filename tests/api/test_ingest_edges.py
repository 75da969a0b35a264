"""Ingest as an outside client sees it: oversized bodies, content encodings, rate limits.

Each case here was found by talking to Beacon the way SDKs do: Python's `urllib` writes
the whole body before reading the answer, clients compress bodies, and one address can
flood the endpoint.
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import brotli
import httpx
import pytest

from tests.support import CHROME_UA, BeaconProcess, Site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeaconProcess]:
    process = BeaconProcess(
        tmp_path_factory.mktemp("edges") / "data",
        env={
            "BEACON_CLIENT_IP_HEADER": "X-Forwarded-For",
            "BEACON_MAX_BODY_BYTES": "524288",
            # One token per 20 s: no refill lands between a flood and the checks after it.
            "BEACON_RATE_LIMIT_IP_PER_SECOND": "0.05",
            "BEACON_RATE_LIMIT_IP_BURST": "5",
            "BEACON_RATE_LIMIT_SITE_EVENTS_PER_SECOND": "0.05",
            "BEACON_RATE_LIMIT_SITE_BURST": "300",
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def site(server: BeaconProcess) -> Site:
    return server.add_site("edges.test")


_ips = iter(f"198.51.100.{i}" for i in range(1, 255))


def _body(site: str, pid: str, events: int = 1) -> dict[str, Any]:
    now = int(time.time() * 1000)
    page = [{"t": "pageview", "ts": now, "pid": pid, "url": "https://edges.test/"}]
    more = [{"t": "custom", "ts": now + i, "pid": pid, "name": f"e{i}"} for i in range(events - 1)]
    return {"site": site, "sid": uuid.uuid4().hex, "sent_at": now, "events": page + more}


def _post(
    server: BeaconProcess, body: bytes, *, ip: str | None = None, **headers: str
) -> httpx.Response:
    return httpx.post(
        server.base_url + "/api/event",
        content=body,
        headers={
            "content-type": "text/plain",
            "user-agent": CHROME_UA,
            "x-forwarded-for": ip or next(_ips),
            **headers,
        },
        timeout=30,
    )


# -- 413: the answer is readable by a client that writes the whole body first ----------


def test_a_client_writing_a_3mb_body_first_reads_the_413(server: BeaconProcess) -> None:
    body = b'{"site": "s_x", "events": [' + b"1," * (3 * 1024 * 1024 // 2) + b"1]}"
    for attempt in range(25):
        request = urllib.request.Request(
            server.base_url + "/api/event",
            data=body,
            headers={
                "Content-Type": "text/plain",
                "User-Agent": CHROME_UA,
                "X-Forwarded-For": "192.0.2.1",
            },
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
        assert caught.value.code == 413, f"attempt {attempt}"
        answer = json.loads(caught.value.read())
        assert answer["error"] == "too_large" and "larger than 524288" in answer["message"]
    assert httpx.get(server.base_url + "/healthz").status_code == 200


# -- Content-Encoding ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
    ],
)
def test_compressed_bodies_are_decoded(
    server: BeaconProcess, site: Site, encoding: str, compress: Any
) -> None:
    pid = uuid.uuid4().hex
    body = compress(json.dumps(_body(site.site, pid)).encode())
    response = _post(server, body, **{"content-encoding": encoding})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1}
    server.wait_events(site, lambda rows: any(r["pid"] == pid for r in rows))


def test_a_body_that_says_gzip_but_is_not_is_refused(server: BeaconProcess, site: Site) -> None:
    pid = uuid.uuid4().hex
    plain = json.dumps(_body(site.site, pid)).encode()
    response = _post(server, plain, **{"content-encoding": "gzip"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid"
    assert "gzip" in response.json()["message"]


def test_a_zip_bomb_is_413_without_inflating_it(server: BeaconProcess, site: Site) -> None:
    # 200 MB of spaces after a valid start: about 200 KB compressed, under the body limit.
    bomb = gzip.compress(b'{"site": "' + site.site.encode() + b'", ' + b" " * 200_000_000)
    assert len(bomb) < 524288
    response = _post(server, bomb, **{"content-encoding": "gzip"})
    assert response.status_code == 413, response.text
    assert "decoded" in response.json()["message"]
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_an_unsupported_encoding_is_415_naming_it(server: BeaconProcess, site: Site) -> None:
    body = json.dumps(_body(site.site, uuid.uuid4().hex)).encode()
    response = _post(server, body, **{"content-encoding": "zstd"})
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "content_encoding"
    assert "zstd" in response.json()["message"]


# -- rate limits in embedded mode ----------------------------------------------------


def test_a_flood_from_one_ip_is_429_and_other_ips_are_not(server: BeaconProcess) -> None:
    flooded = server.add_site("flood.test")
    ip = "203.0.113.7"
    answers = [
        _post(server, json.dumps(_body(flooded.site, uuid.uuid4().hex)).encode(), ip=ip)
        for _ in range(12)
    ]
    codes = [a.status_code for a in answers]
    assert 5 <= codes.count(202) <= 6 and codes[-1] == 429, codes
    refused = [a for a in answers if a.status_code == 429]
    assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
    assert refused[0].json()["error"] == "rate_limited"
    # Other addresses on the same site are not held back by that one.
    others = [
        _post(server, json.dumps(_body(flooded.site, uuid.uuid4().hex)).encode()).status_code
        for _ in range(5)
    ]
    assert others == [202] * 5


def test_a_site_over_its_event_budget_is_429_for_every_ip(server: BeaconProcess) -> None:
    busy, calm = server.add_site("busy.test"), server.add_site("calm.test")
    first = _post(server, json.dumps(_body(busy.site, uuid.uuid4().hex, 200)).encode())
    second = _post(server, json.dumps(_body(busy.site, uuid.uuid4().hex, 200)).encode())
    assert (first.status_code, second.status_code) == (202, 429)
    assert int(second.headers["retry-after"]) >= 1
    # Another site has its own budget.
    other = _post(server, json.dumps(_body(calm.site, uuid.uuid4().hex, 200)).encode())
    assert other.status_code == 202
