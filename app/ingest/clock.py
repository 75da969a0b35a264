"""Client clock fixes: event times come from the browser's clock, which may be wrong.

The batch carries `sent_at` (client clock when sent); the server knows when it received
it. Their difference is the client's skew plus the network and queueing delay. Below a
minute it is treated as delay and ignored — a loaded server or a slow mobile link delays
requests by seconds, and "correcting" that would move every event of the batch later and
stretch session durations; above it (a wrong clock or time zone setting on the device)
every event time of the batch is shifted by it.
A corrected time is never later than the receipt (no events from the future).
"""

from __future__ import annotations

__all__ = ["SKEW_TOLERANCE_MS", "clock_skew_ms", "corrected_ts", "is_stale"]

SKEW_TOLERANCE_MS = 60_000


def clock_skew_ms(sent_at_ms: int, received_at_ms: int) -> int:
    """How far the client clock is ahead of the server's (negative: behind)."""
    skew = sent_at_ms - received_at_ms
    return skew if abs(skew) >= SKEW_TOLERANCE_MS else 0


def corrected_ts(ts_ms: int, skew_ms: int, received_at_ms: int) -> int:
    return min(ts_ms - skew_ms, received_at_ms)


def is_stale(ts_ms: int, received_at_ms: int, max_age_ms: int) -> bool:
    return received_at_ms - ts_ms > max_age_ms
