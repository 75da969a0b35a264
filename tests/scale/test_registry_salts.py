"""What ingest processes take from Redis instead of the store: sites and salts."""

from __future__ import annotations

import asyncio
import time

import redis

from app.ingest.site import SiteRegistry
from app.scale.connect import async_client
from app.scale.keys import Keys
from app.scale.registry import PublishedRegistry, RegistryReader
from app.scale.salts import RedisSaltBook, salt_expiry_seconds
from app.store.sites import Site


def test_the_published_registry_is_what_ingest_processes_check(redis_url: str, prefix: str) -> None:
    keys = Keys(prefix)
    writer = PublishedRegistry()
    writer.replace([Site("s_a", "a.test", ("https://a.test",))], {})
    writer.add(Site("s_b", "b.test"), token="bt_secret")
    with redis.Redis.from_url(redis_url) as client:
        writer.publish(client, keys)
        assert b"bt_secret" not in client.get(keys.registry)  # only the token's hash
    assert not writer.changed

    async def read() -> tuple[SiteRegistry, bool, bool]:
        registry = SiteRegistry()
        client = async_client(redis_url)
        try:
            reader = RegistryReader(client, keys, registry)
            first = await reader.refresh()
            again = await reader.refresh()  # same version: nothing to load
            return registry, first, again
        finally:
            await client.aclose()

    registry, first, again = asyncio.run(read())
    assert (first, again) == (True, False)
    assert registry.origin_allowed("s_a", "https://a.test")
    assert not registry.origin_allowed("s_a", "https://evil.test")
    assert registry.site_of_token("bt_secret") == "s_b"
    assert registry.get("s_c") is None


def test_an_unchanged_reload_is_not_published_again() -> None:
    registry = PublishedRegistry()
    registry.replace([Site("s_a", "a.test")], {"h": "s_a"})
    registry.changed = False
    registry.replace([Site("s_a", "a.test")], {"h": "s_a"})
    assert not registry.changed
    registry.replace([Site("s_a", "a.test", ("https://a.test",))], {"h": "s_a"})
    assert registry.changed


def test_processes_agree_on_the_salt_and_it_expires(redis_url: str, prefix: str) -> None:
    keys = Keys(prefix)
    with redis.Redis.from_url(redis_url) as first, redis.Redis.from_url(redis_url) as second:
        a, b = RedisSaltBook(first, keys), RedisSaltBook(second, keys)
        day = int(time.time() * 1000) // 86_400_000
        assert a(day) == b(day)
        assert len(a(day)) == 32
        assert a(day) != a(day + 1)
        ttl = first.ttl(keys.salt(day))
        assert 2 * 86_400 < ttl <= 3 * 86_400  # deleted two days after the day ends
    assert salt_expiry_seconds(10, 13 * 86_400_000) == 60  # a long-gone day: minimal
