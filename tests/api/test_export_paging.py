"""The export's keyset cursor: every row once while events keep arriving, late ones too."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import BeaconProcess, Site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeaconProcess]:
    process = BeaconProcess(tmp_path_factory.mktemp("paging") / "data").start()
    yield process
    process.stop()


def _send(server: BeaconProcess, site: Site, n: int, *, late_hours: float = 0.0) -> list[str]:
    """One batch of `n` custom events (their ts `late_hours` back); their names."""
    now = int(time.time() * 1000)
    ts = now - int(late_hours * 3_600_000)
    pid = uuid.uuid4().hex[:12]
    names = [f"{pid}-{i}" for i in range(n)]
    events = [
        {"t": "custom", "ts": ts + i, "pid": pid, "name": name} for i, name in enumerate(names)
    ]
    body = {"site": site.site, "sid": uuid.uuid4().hex, "sent_at": now, "events": events}
    assert server.send(body).status_code == 202
    return names


def _page(server: BeaconProcess, site: Site, **params: Any) -> httpx.Response:
    params.setdefault("from", (dt.date.today() - dt.timedelta(days=5)).isoformat())
    return httpx.get(
        f"{server.base_url}/api/v1/sites/{site.site}/events",
        params=params,
        headers={"authorization": f"Bearer {site.token}"},
        timeout=30,
    )


def test_paging_while_events_arrive_returns_every_row_once(server: BeaconProcess) -> None:
    site = server.add_site("paging.test")
    sent: list[str] = []
    for _ in range(4):
        sent += _send(server, site, 5)
    server.wait_events(site, lambda rows: len(rows) == len(sent))
    read: list[str] = []
    cursor: str | None = None
    full_pages = 0
    for round_ in range(25):
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = _page(server, site, **params)
        assert page.status_code == 200, page.text
        body = page.json()
        read += [row["name"] for row in body["events"]]
        assert body["next"]
        if body["count"] >= 7:
            full_pages += 1
            assert 'rel="next"' in page.headers["link"] and "cursor=" in page.headers["link"]
        else:
            assert "link" not in page.headers
        cursor = body["next"]
        # Between pages: new events, and late ones whose event time is before every row
        # read so far (a batch that waited in a browser or in the spool).
        sent += _send(server, site, 3)
        sent += _send(server, site, 3, late_hours=48 if round_ % 2 == 0 else 0.5)
    # Once everything sent is stored, the same cursor reads the rest.
    server.wait_events(site, lambda rows: len(rows) == len(sent))
    while True:
        body = _page(server, site, limit=7, cursor=cursor).json()
        read += [row["name"] for row in body["events"]]
        cursor = body["next"]
        if body["count"] < 7:
            break
    counts = Counter(read)
    assert [name for name, n in counts.items() if n > 1] == []
    assert set(read) == set(sent) and len(read) == len(sent)
    assert full_pages > 5  # the pages ran while rows arrived, not only after


def test_the_link_header_follows_to_the_end(server: BeaconProcess) -> None:
    site = server.add_site("link.test")
    sent = _send(server, site, 10) + _send(server, site, 10, late_hours=30)
    server.wait_events(site, lambda rows: len(rows) == 20)
    first = _page(server, site, limit=6, type="custom")
    read = [row["name"] for row in first.json()["events"]]
    link = first.headers.get("link")
    while link:
        url = link.split(";")[0].strip("<>")
        assert "type=custom" in url and "limit=6" in url
        page = httpx.get(
            server.base_url + url, headers={"authorization": f"Bearer {site.token}"}, timeout=30
        )
        read += [row["name"] for row in page.json()["events"]]
        link = page.headers.get("link")
    assert sorted(read) == sorted(sent)


def test_a_bad_cursor_or_a_cursor_with_an_offset_is_400(server: BeaconProcess) -> None:
    site = server.add_site("badcursor.test")
    _send(server, site, 2)
    server.wait_events(site, lambda rows: len(rows) == 2)
    bad = _page(server, site, cursor="not-a-cursor")
    assert bad.status_code == 400 and "cursor" in bad.text
    good = _page(server, site, limit=1).json()["next"]
    both = _page(server, site, cursor=good, offset=1)
    assert both.status_code == 400 and "offset" in both.text
    # offset still pages by position.
    assert _page(server, site, limit=1, offset=1).json()["count"] == 1
