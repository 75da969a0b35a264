"""Admission: token buckets per IP and per site in one Lua script; shared session state."""

from __future__ import annotations

import asyncio
import json
import time

import redis

from app.ingest.pipeline import RequestInfo
from app.ingest.routes import Refusal
from app.ingest.schema import Batch, decode_batch
from app.ingest.visitor import SessionBridge
from app.scale.calls import PipelinedCalls
from app.scale.connect import async_client
from app.scale.gate import RateLimits, ScaleGate, decode_session, encode_session
from app.scale.keys import Keys


def _batch(site: str, events: int = 1, sid: str = "s1") -> Batch:
    now = int(time.time() * 1000)
    body = {
        "site": site,
        "sid": sid,
        "sent_at": now,
        "events": [{"t": "custom", "ts": now, "pid": "p", "name": "x"}] * events,
    }
    return decode_batch(json.dumps(body).encode())


def _request(ip: str) -> RequestInfo:
    return RequestInfo(received_at_ms=int(time.time() * 1000), ip=ip, user_agent="ua")


async def _admit_all(
    redis_url: str,
    prefix: str,
    limits: RateLimits,
    calls: list[tuple[str, int, str]],
    bridge: SessionBridge | None = None,
) -> list[Refusal | None]:
    """Admit (site, events, ip) in order through one gate; the answers, in order."""
    client = async_client(redis_url)
    gate = ScaleGate(
        PipelinedCalls(client),
        Keys(prefix),
        bridge if bridge is not None else SessionBridge(),
        limits,
        lambda d: b"salt",
    )
    try:
        return [await gate.admit(_batch(site, events), _request(ip)) for site, events, ip in calls]
    finally:
        await client.aclose()


def _codes(answers: list[Refusal | None]) -> list[int | None]:
    return [answer.status if answer else None for answer in answers]


def test_an_ip_over_its_burst_is_refused_and_another_site_is_not(
    redis_url: str, prefix: str
) -> None:
    limits = RateLimits(ip_per_second=0.5, ip_burst=3)
    calls = [("site_a", 1, "10.0.0.1")] * 5 + [("site_a", 1, "10.0.0.2")] * 3
    calls += [("site_b", 1, "10.0.0.1")] * 3
    answers = asyncio.run(_admit_all(redis_url, prefix, limits, calls))
    assert _codes(answers) == [None, None, None, 429, 429] + [None] * 6
    refused = [a for a in answers if a is not None]
    assert all(a.reason == "rate_limited" and 1 <= a.retry_after <= 2 for a in refused)


def test_a_site_over_its_event_budget_is_refused_for_every_ip(redis_url: str, prefix: str) -> None:
    limits = RateLimits(site_events_per_second=1.0, site_burst=25)
    calls = [("site_a", 10, f"10.0.0.{i}") for i in range(3)] + [("site_b", 10, "10.0.0.9")]
    answers = asyncio.run(_admit_all(redis_url, prefix, limits, calls))
    assert _codes(answers) == [None, None, 429, None]


def test_session_state_written_by_one_process_seeds_another(redis_url: str, prefix: str) -> None:
    """The state another ingest process stored for (site, sid) seeds this one's bridge."""
    with redis.Redis.from_url(redis_url) as client:
        client.set(Keys(prefix).session("site_a", "s1"), encode_session(42, 3, 1_000, 2_000))
    bridge = SessionBridge()
    answers = asyncio.run(
        _admit_all(redis_url, prefix, RateLimits(), [("site_a", 1, "1.1.1.1")], bridge)
    )
    assert answers == [None]
    state = bridge.session("site_a", "s1", 7, 5_000, 5_000)
    assert (state.visitor_id, state.seq, state.start_ms, state.last_ms) == (42, 3, 1_000, 2_000)
    assert decode_session(encode_session(1, 2, 3, 4)) == (1, 2, 3, 4)
