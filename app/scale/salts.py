"""The daily visitor-id salt, shared by every process through Redis.

Visitor ids must agree across ingest processes, so they must use the same salt. The first
process that needs a day's salt proposes one with `SET NX` (the first proposal wins, the
others read it back); it expires two days after its day ends, after which no one can link
a visitor id to an IP address any more — the same retention as `sql/003_salts.sql` in
embedded mode. `RedisSaltBook` keeps the salts it fetched in a dict, prefetched ahead of
need, so the hot path reads memory; only a miss (the prefetch fell behind) goes to Redis.
"""

from __future__ import annotations

import secrets
import time

import redis

from app.scale.keys import Keys

__all__ = ["RedisSaltBook", "salt_expiry_seconds"]

_DAY_MS = 86_400_000


def salt_expiry_seconds(day: int, now_ms: int) -> int:
    """Seconds from `now_ms` until two days after UTC day `day` ends (at least 60)."""
    return max(60, ((day + 3) * _DAY_MS - now_ms) // 1000)


class RedisSaltBook:
    """The `SaltBook` interface (`prefetch`, `__call__`) over Redis."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._salts: dict[int, bytes] = {}

    def salt_for(self, day: int) -> bytes:
        key = self._keys.salt(day)
        expiry = salt_expiry_seconds(day, int(time.time() * 1000))
        self._client.set(key, secrets.token_hex(32), nx=True, ex=expiry)
        value = self._client.get(key)
        if value is None:  # expired between the two calls: only for a day long gone
            raise RuntimeError(f"the salt of day {day} is gone")
        return bytes.fromhex(value.decode() if isinstance(value, bytes) else str(value))

    def prefetch(self, now_ms: int) -> None:
        today = now_ms // _DAY_MS
        for day in (today, today + 1):
            if day not in self._salts:
                self._salts[day] = self.salt_for(day)
        self._salts = {d: s for d, s in self._salts.items() if d >= today - 1}

    def __call__(self, day: int) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            salt = self._salts[day] = self.salt_for(day)
        return salt
