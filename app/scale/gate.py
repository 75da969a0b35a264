"""Admission in scale mode: per-IP and per-site rate limits, and shared session state.

One Lua script per request, queued into the same pipelines as everything else, does
atomically: refill and check the client's IP bucket and the site's bucket (token buckets;
the IP bucket counts requests, the site bucket counts events), take from both only when
both allow, and return the session state of (site, sid) stored by whichever ingest
process saw that session last. A refused request gets 429 and `Retry-After` (the time
until its bucket holds enough again).

Why session state lives here: requests of one session reach different ingest processes
behind a load balancer, and each process's `SessionBridge` would otherwise start its own
session at the first event it sees — splitting sessions in the rollups. The state read
here seeds the local bridge before the pipeline runs; `accepted()` writes the updated
state back and counts the visitor for realtime (one more script, `ACCEPTED`) in the
pipeline that carries the XADD: three commands per request in all.
Two processes handling the same session in the same millisecond race; the last writer
wins, which can only matter at a 30-minute session cut.

The client IP appears in Redis only as a keyed hash (the daily salt), never in clear.
All keys of one site share a hash tag, so the script runs on Redis Cluster too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import msgspec
from redis.exceptions import RedisError

from app.ingest.pipeline import RequestInfo, Work
from app.ingest.routes import Refusal
from app.ingest.schema import Batch
from app.ingest.visitor import SESSION_IDLE_MS, SessionBridge, utc_day, visitor_hash
from app.scale.calls import LuaScript, PipelinedCalls
from app.scale.keys import Keys

__all__ = ["ACCEPTED", "ADMIT", "RateLimits", "ScaleGate", "decode_session", "encode_session"]

log = logging.getLogger("beacon.scale")

ADMIT = LuaScript(
    """
-- KEYS: ip bucket, site bucket, session. ARGV: ip rate/s, ip burst, site rate/s,
-- site burst, site cost (events). A rate of 0 turns that bucket off.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local specs = {
  {KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 1},
  {KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])},
}
local wait = 0
local take = {}
for _, spec in ipairs(specs) do
  local key, rate, burst, cost = spec[1], spec[2], spec[3], spec[4]
  if rate > 0 then
    if cost > burst then cost = burst end
    local saved = redis.call('HMGET', key, 'tokens', 'ts')
    local tokens = burst
    if saved[1] then
      local elapsed = math.max(0, now - tonumber(saved[2]))
      tokens = math.min(burst, tonumber(saved[1]) + elapsed * rate / 1000)
    end
    if tokens < cost then
      wait = math.max(wait, math.ceil((cost - tokens) * 1000 / rate))
    end
    take[#take + 1] = {key, tokens - cost, math.ceil(burst * 1000 / rate) + 1000}
  end
end
if wait == 0 then
  for _, t in ipairs(take) do
    redis.call('HSET', t[1], 'tokens', tostring(t[2]), 'ts', tostring(now))
    redis.call('PEXPIRE', t[1], t[3])
  end
end
return {wait == 0 and 1 or 0, wait, redis.call('GET', KEYS[3])}
"""
)

ACCEPTED = LuaScript(
    """
-- KEYS: session, this minute's visitors. ARGV: session state, its TTL, visitor, TTL.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PFADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""
)

SESSION_TTL_MS = SESSION_IDLE_MS + 60_000
REALTIME_TTL_MS = 6 * 60_000


class RateLimits(msgspec.Struct, frozen=True):
    ip_per_second: float = 0.0
    ip_burst: int = 0
    site_events_per_second: float = 0.0
    site_burst: int = 0


def encode_session(visitor_id: int, seq: int, start_ms: int, last_ms: int) -> bytes:
    return b"%d:%d:%d:%d" % (visitor_id, seq, start_ms, last_ms)


def decode_session(value: bytes) -> tuple[int, int, int, int]:
    visitor, seq, start, last = (int(part) for part in value.split(b":"))
    return visitor, seq, start, last


class ScaleGate:
    def __init__(
        self,
        calls: PipelinedCalls,
        keys: Keys,
        bridge: SessionBridge,
        limits: RateLimits,
        salt_of_day: Callable[[int], bytes],
    ) -> None:
        self._calls = calls
        self._keys = keys
        self._bridge = bridge
        self._limits = limits
        self._salt_of_day = salt_of_day
        self._args = (
            limits.ip_per_second,
            limits.ip_burst,
            limits.site_events_per_second,
            limits.site_burst,
        )

    def _ip_hash(self, site_id: str, request: RequestInfo) -> str:
        salt = self._salt_of_day(utc_day(request.received_at_ms))
        return f"{visitor_hash(salt, site_id, request.ip, 'rate'):016x}"

    async def admit(self, batch: Batch, request: RequestInfo) -> Refusal | None:
        site = batch.site
        keys = (
            self._keys.ip_bucket(site, self._ip_hash(site, request)),
            self._keys.site_bucket(site),
            self._keys.session(site, batch.sid),
        )
        try:
            allowed, wait_ms, session = await self._calls.script(
                ADMIT, keys, (*self._args, len(batch.events))
            )
        except RedisError as exc:
            log.warning("admission failed: Redis unavailable", extra={"error": str(exc)})
            return Refusal(503, "store_unavailable", "Redis is unavailable; retry later", 5)
        if session:
            visitor, seq, start, last = decode_session(session)
            self._bridge.restore(
                [(site, batch.sid, visitor, seq, start, last)], request.received_at_ms
            )
        if not allowed:
            retry_after = max(1, math.ceil(int(wait_ms) / 1000))
            return Refusal(
                429, "rate_limited", f"rate limit reached; retry in {retry_after} s", retry_after
            )
        return None

    def accepted(self, batch: Batch, work: Work) -> None:
        state = work.session
        if state is None:
            return
        site = batch.site
        keys = (
            self._keys.session(site, batch.sid),
            self._keys.visitors_minute(site, work.request.received_at_ms // 60_000),
        )
        value = encode_session(state.visitor_id, state.seq, state.start_ms, state.last_ms)
        self._calls.fire_script(
            ACCEPTED, keys, (value, SESSION_TTL_MS, state.visitor_id, REALTIME_TTL_MS)
        )
