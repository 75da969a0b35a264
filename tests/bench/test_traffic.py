"""The benchmark's request pools: what the load generator replays must be valid,
varied traffic (decoded here with Beacon's own decoder)."""

from __future__ import annotations

import re
from collections import Counter

from app.bench.loadgen import NOW_MARK, PASS_MARK
from app.bench.traffic import pool
from app.ingest.schema import decode_batch
from app.ingest.useragent import parse_user_agent


def _split(data: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "POST /api/event HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return headers, body


def test_realistic_pool_is_varied_valid_traffic() -> None:
    traffic = pool("realistic", sessions=600, seed=3)
    requests = traffic.for_site("s_site")
    assert len(requests) > 1000
    assert len({r.data for r in requests}) == len(requests)
    agents: Counter[str] = Counter()
    addresses, families, devices, types, sids = set(), set(), set(), Counter(), set()
    for request in requests:
        headers, _ = _split(request.data)
        assert headers["Origin"] == "https://bench.test"
        agents[headers["User-Agent"]] += 1
        addresses.add(headers["X-Forwarded-For"])
        # What loadgen.c does before sending: renew ids per pass, stamp sent_at.
        patched = bytearray(request.data)
        for offset, kind in request.patches:
            mark, value = (PASS_MARK, b"00002a") if kind == 0 else (NOW_MARK, b"1790000000000")
            assert patched[offset : offset + len(mark)] == mark
            patched[offset : offset + len(mark)] = value
        batch = decode_batch(bytes(patched).partition(b"\r\n\r\n")[2])
        assert batch.site == "s_site"
        assert batch.sid.endswith("00002a")
        assert batch.sent_at == 1790000000000
        sids.add(batch.sid)
        types.update(type(e).__name__ for e in batch.events)
        ua = parse_user_agent(headers["User-Agent"])
        families.add(ua.browser)
        devices.add(ua.device)
    assert len(agents) >= 15  # real browser strings, shared between visitors
    assert len(addresses) > 300  # one client address per visitor
    assert {"Chrome", "Safari", "Firefox"} <= families
    assert {"desktop", "mobile"} <= devices
    assert len(sids) < len(requests)  # sessions continue over several requests
    assert traffic.bot_requests > 0  # crawlers too, which Beacon drops
    for kind in ("PageView", "Vital", "Click", "Engagement", "ErrorEvent", "Custom"):
        assert any(t.startswith(kind) for t in types), kind
    assert 5 < traffic.events_per_request < 12


def test_repeat_pool_keeps_issue_2_traffic() -> None:
    traffic = pool("repeat", events=10)
    requests = traffic.for_site("s_site")
    assert len(requests) == 2000
    assert traffic.events_per_request == 10
    headers, body = _split(requests[0].data)
    assert requests[0].patches == ()  # the same sessions on every pass, as before
    assert len(decode_batch(body).events) == 10
    assert re.fullmatch(r"81\.2\.\d+\.\d+", headers["X-Forwarded-For"])


def test_new_sessions_pool_renews_every_session() -> None:
    requests = pool("new-sessions", events=10).for_site("s_site")
    sids = set()
    for request in requests:
        _, body = _split(request.data)
        batch = decode_batch(body.replace(PASS_MARK, b"000000"))
        sids.add(batch.sid)
        assert batch.sid.endswith("@@@@@@") is False
        assert sum(kind == 0 for _, kind in request.patches) == 11  # the sid and 10 pids
    assert len(sids) == len(requests) == 2000
