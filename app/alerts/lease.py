"""Scale mode: one evaluator at a time (a Redis lease), and each state change and each
delivery acted on once, whoever holds the lease.

- **Lease** `<prefix>:alerts:lease`: `SET NX PX ttl` takes it; the holder renews it with
  a compare-and-set script (only while the value is still its own token) every third of
  the TTL; a standby tries to take it every quarter interval. The TTL is 0.7 of the
  evaluation interval, so when a holder dies another worker holds the lease, and runs a
  round at once, within one interval.
- **Transition claims** `<prefix>:alerts:t:<rule>:<seq>`: before a state change from seq
  N-1 to N is written, its id is set there with NX. A second evaluator that computed a
  change from the same state (an old holder that lost the lease mid-round) finds the key
  taken by another id and drops its change; the same id (a retry) proceeds.
- **Delivery claims** `<prefix>:alerts:d:<delivery>`: an attempt is made only by the one
  that set the claim (NX, expiring after the attempt's time-out), and a sent or failed
  delivery is marked done for a week, so a new holder re-sending what is still pending
  skips it. Limit: a holder that dies *during* an attempt leaves it pending; it is
  attempted again once the claim expires, so that one notification may arrive twice
  (receivers can drop the repeat by its `X-Beacon-Delivery` id).
"""

from __future__ import annotations

import contextlib
import uuid

import redis.asyncio
from redis.exceptions import RedisError

from app.scale.keys import Keys

__all__ = ["Claims", "Lease", "lease_timing"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_BEGIN = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'done' end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'ok' end
return 'busy'
"""
_CLAIM_TRANSITION = """
local set = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if set then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""
CLAIM_DAYS = 7


def lease_timing(interval: float) -> tuple[float, float, float]:
    """(ttl, renew every, standby retry every), seconds, for an evaluation interval."""
    ttl = max(0.7 * interval, 0.5)
    return ttl, ttl / 3, max(interval / 4, 0.1)


class Lease:
    def __init__(self, client: redis.asyncio.Redis, keys: Keys, interval: float) -> None:
        self._client = client
        self.key = f"{keys.prefix}:alerts:lease"
        self.token = uuid.uuid4().hex
        self.ttl, self.renew_every, self.retry_every = lease_timing(interval)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        try:
            return bool(
                await self._client.set(self.key, self.token, nx=True, px=int(self.ttl * 1000))
            )
        except (RedisError, OSError):
            return False

    async def renew(self) -> bool:
        try:
            return bool(await self._renew(keys=[self.key], args=[self.token, int(self.ttl * 1000)]))
        except (RedisError, OSError):
            return False

    async def release(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._release(keys=[self.key], args=[self.token])

    async def holder(self) -> str | None:
        value = await self._client.get(self.key)
        return value.decode() if value else None


class Claims:
    def __init__(self, client: redis.asyncio.Redis, keys: Keys, owner: str) -> None:
        self._client = client
        self._prefix = f"{keys.prefix}:alerts"
        self.owner = owner
        self._begin = client.register_script(_BEGIN)
        self._claim = client.register_script(_CLAIM_TRANSITION)

    async def transition(self, rule_id: str, seq: int, transition_id: str) -> bool:
        """True when this change of the rule to `seq` is ours to write (or already was)."""
        key = f"{self._prefix}:t:{rule_id}:{seq}"
        return bool(await self._claim(keys=[key], args=[transition_id, CLAIM_DAYS * 86400]))

    async def begin_delivery(self, delivery_id: str, hold_seconds: float) -> str:
        """'ok' (attempt it), 'busy' (another process is attempting it) or 'done'."""
        keys = [f"{self._prefix}:d:{delivery_id}", f"{self._prefix}:done:{delivery_id}"]
        result = await self._begin(keys=keys, args=[self.owner, int(hold_seconds * 1000)])
        return result.decode() if isinstance(result, bytes) else str(result)

    async def end_delivery(self, delivery_id: str, *, final: bool) -> None:
        pipe = self._client.pipeline(transaction=True)
        if final:
            pipe.set(f"{self._prefix}:done:{delivery_id}", 1, ex=CLAIM_DAYS * 86400)
        pipe.delete(f"{self._prefix}:d:{delivery_id}")
        await pipe.execute()
