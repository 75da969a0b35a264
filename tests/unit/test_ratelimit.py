"""In-process rate limits: the token-bucket rules of scale mode's Lua script."""

from __future__ import annotations

from app.ingest.ratelimit import LocalRateLimiter
from app.scale.gate import RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _codes(limiter: LocalRateLimiter, calls: list[tuple[str, int, str]]) -> list[int | None]:
    answers = [limiter.check(site, ip, events) for site, events, ip in calls]
    return [a.status if a else None for a in answers]


def test_an_ip_over_its_burst_is_refused_and_another_site_is_not() -> None:
    limiter = LocalRateLimiter(RateLimits(ip_per_second=0.5, ip_burst=3), Clock())
    calls = [("site_a", 1, "10.0.0.1")] * 5 + [("site_a", 1, "10.0.0.2")] * 3
    calls += [("site_b", 1, "10.0.0.1")] * 3
    assert _codes(limiter, calls) == [None, None, None, 429, 429] + [None] * 6
    refusal = limiter.check("site_a", "10.0.0.1", 1)
    assert refusal is not None and refusal.reason == "rate_limited" and refusal.retry_after == 2


def test_tokens_come_back_at_the_rate() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(RateLimits(ip_per_second=2.0, ip_burst=2), clock)
    assert _codes(limiter, [("s", 1, "ip")] * 3) == [None, None, 429]
    clock.now += 0.5  # one token back
    assert _codes(limiter, [("s", 1, "ip")] * 2) == [None, 429]


def test_a_site_over_its_event_budget_is_refused_for_every_ip() -> None:
    limiter = LocalRateLimiter(RateLimits(site_events_per_second=1.0, site_burst=25), Clock())
    calls = [("site_a", 10, f"10.0.0.{i}") for i in range(3)] + [("site_b", 10, "10.0.0.9")]
    assert _codes(limiter, calls) == [None, None, 429, None]


def test_a_refused_request_takes_nothing_from_either_bucket() -> None:
    limits = RateLimits(ip_per_second=1.0, ip_burst=1, site_events_per_second=1.0, site_burst=10)
    limiter = LocalRateLimiter(limits, Clock())
    assert _codes(limiter, [("s", 10, "a"), ("s", 1, "b")]) == [None, 429]  # site empty
    assert _codes(limiter, [("s", 1, "a")]) == [429]  # a's bucket is empty too


def test_zero_turns_a_bucket_off() -> None:
    assert not LocalRateLimiter.needed(RateLimits())
    limiter = LocalRateLimiter(RateLimits(ip_per_second=0, ip_burst=1), Clock())
    assert _codes(limiter, [("s", 500, "ip")] * 50) == [None] * 50
