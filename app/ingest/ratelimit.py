"""Rate limits in process (embedded mode): per-IP and per-site token buckets.

The same rules and settings as scale mode's Lua script (`app/scale/gate.py`), kept in
this process's memory instead of Redis: a bucket per (site, client IP) counting requests
(`BEACON_RATE_LIMIT_IP_PER_SECOND`, burst `BEACON_RATE_LIMIT_IP_BURST`) and one per site
counting events (`BEACON_RATE_LIMIT_SITE_EVENTS_PER_SECOND`, burst
`BEACON_RATE_LIMIT_SITE_BURST`). A request is let through only when both buckets hold
enough, and then takes from both; otherwise it gets 429 with `Retry-After`, the seconds
until its buckets hold enough again. A rate of 0 turns that bucket off (benchmarks and
loopback load tests), and with both off no gate is installed at all.

The client IP is the socket peer, or the first address of `BEACON_CLIENT_IP_HEADER` when
a proxy is trusted (`app/ingest/routes.py`). Addresses live only in this dictionary, in
memory; buckets that have refilled completely are forgotten (a full bucket and no bucket
behave alike), so memory follows the number of recently active addresses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from app.config import Settings
from app.ingest.pipeline import RequestInfo, Work
from app.ingest.routes import Refusal
from app.ingest.schema import Batch
from app.scale.gate import RateLimits

__all__ = ["LocalRateLimiter", "rate_limits"]

#: Look for refilled buckets to forget after this many admissions.
PRUNE_EVERY = 4096


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        ip_per_second=settings.rate_limit_ip_per_second,
        ip_burst=settings.rate_limit_ip_burst,
        site_events_per_second=settings.rate_limit_site_events_per_second,
        site_burst=settings.rate_limit_site_burst,
    )


class _Buckets:
    """Token buckets of one kind: `rate` tokens per second up to `burst`; a bucket is
    [tokens, time of that count] (a list: the hot path mutates it in place)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.buckets: dict[object, list[float]] = {}

    def level(self, key: object, now: float) -> tuple[float, list[float] | None]:
        bucket = self.buckets.get(key)
        if bucket is None:
            return self.burst, None
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        return (tokens if tokens < self.burst else self.burst), bucket

    def take(self, key: object, bucket: list[float] | None, left: float, now: float) -> None:
        if bucket is None:
            self.buckets[key] = [left, now]
        else:
            bucket[0], bucket[1] = left, now

    def prune(self, now: float) -> None:
        rate, burst = self.rate, self.burst
        full = [k for k, b in self.buckets.items() if b[0] + (now - b[1]) * rate >= burst]
        for key in full:
            del self.buckets[key]


class LocalRateLimiter:
    """The `Gate` of embedded mode: admission by the two kinds of token bucket."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self._ip = (
            _Buckets(limits.ip_per_second, limits.ip_burst) if limits.ip_per_second > 0 else None
        )
        self._site = (
            _Buckets(limits.site_events_per_second, limits.site_burst)
            if limits.site_events_per_second > 0
            else None
        )
        self._clock = clock
        self._admitted = 0

    @staticmethod
    def needed(limits: RateLimits) -> bool:
        return limits.ip_per_second > 0 or limits.site_events_per_second > 0

    async def admit(self, batch: Batch, request: RequestInfo) -> Refusal | None:
        return self.check(batch.site, request.ip, len(batch.events))

    def check(self, site: str, ip: str, events: int) -> Refusal | None:
        """Take one request from (site, ip)'s bucket and `events` from the site's, or
        refuse without taking anything."""
        now = self._clock()
        wait = 0.0
        ips, sites = self._ip, self._site
        if ips is not None:
            ip_key = (site, ip)
            ip_cost = 1.0 if ips.burst >= 1 else ips.burst
            ip_level, ip_bucket = ips.level(ip_key, now)
            if ip_level < ip_cost:
                wait = (ip_cost - ip_level) / ips.rate
        if sites is not None:
            site_cost = min(float(events), sites.burst)
            site_level, site_bucket = sites.level(site, now)
            if site_level < site_cost:
                wait = max(wait, (site_cost - site_level) / sites.rate)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            return Refusal(
                429, "rate_limited", f"rate limit reached; retry in {retry_after} s", retry_after
            )
        if ips is not None:
            ips.take(ip_key, ip_bucket, ip_level - ip_cost, now)
        if sites is not None:
            sites.take(site, site_bucket, site_level - site_cost, now)
        self._admitted += 1
        if self._admitted % PRUNE_EVERY == 0:
            for buckets in (ips, sites):
                if buckets is not None:
                    buckets.prune(now)
        return None

    def accepted(self, batch: Batch, work: Work) -> None:
        """Nothing to write back in process (scale mode shares session state here)."""
