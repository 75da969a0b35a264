"""Redis clients for scale mode, configured once: no automatic retries, short timeouts.

redis-py retries a failed command by default. For `XADD` that is wrong: a pipeline whose
reply was lost may already have been applied, and sending it again would add the same
batch twice under new entry ids (so with new deduplication tokens). Beacon retries
itself where a retry is safe, and otherwise answers 503 and lets the client decide.
Timeouts are short so that a Redis outage turns into 503s within a second or two rather
than into hung requests.
"""

from __future__ import annotations

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["async_client", "sync_client"]

CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 5.0


def async_client(url: str) -> redis.asyncio.Redis:
    from redis.asyncio.retry import Retry as AsyncRetry

    return redis.asyncio.Redis.from_url(
        url,
        retry=AsyncRetry(NoBackoff(), 0),
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
    )


def sync_client(url: str, *, socket_timeout: float = SOCKET_TIMEOUT) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=socket_timeout,
    )
