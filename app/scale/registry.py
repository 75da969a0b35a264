"""Sites, origins and API tokens for processes that do not open the store.

In scale mode only the writer (`beacon worker`) opens ClickHouse — with embedded chdb no
other process may. The writer publishes its site registry into Redis as one snapshot
(sites with their origins, and the SHA-256 hashes of API tokens, exactly what ClickHouse
holds) with a version key; ingest processes poll the version every second and load the
snapshot when it changed. A site added through the writer (`beacon site add`, which
reaches it over the admin socket) is therefore accepted by every ingest process within
about two seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

import msgspec
import redis
import redis.asyncio
from redis.exceptions import RedisError

from app.ingest.site import SiteRegistry
from app.scale.keys import Keys
from app.store.sites import Site, hash_token

__all__ = ["PublishedRegistry", "RegistryReader", "RegistrySnapshot"]

log = logging.getLogger("beacon.scale")

POLL_SECONDS = 1.0
PUBLISH_SECONDS = 0.5


class RegistrySnapshot(msgspec.Struct, frozen=True):
    version: int
    sites: list[Site]
    tokens: dict[str, str]


class PublishedRegistry(SiteRegistry):
    """The writer's registry: every change is marked for publishing into Redis."""

    def __init__(self) -> None:
        self._all_sites: list[Site] = []
        self._token_sites: dict[str, str] = {}
        self.changed = True
        super().__init__()

    def replace(self, sites: Iterable[Site], token_sites: Mapping[str, str]) -> None:
        sites = list(sites)
        super().replace(sites, token_sites)
        if sites != self._all_sites or token_sites != self._token_sites:
            self.changed = True
        self._all_sites = sites
        self._token_sites = dict(token_sites)

    def add_token(self, site_id: str, token: str) -> None:
        super().add_token(site_id, token)
        self._token_sites[hash_token(token)] = site_id
        self.changed = True

    def snapshot(self) -> RegistrySnapshot:
        return RegistrySnapshot(time.time_ns(), list(self._all_sites), dict(self._token_sites))

    def publish(self, client: redis.Redis, keys: Keys) -> None:
        """Write the snapshot, then its version (readers fetch on a new version)."""
        self.changed = False
        snapshot = self.snapshot()
        try:
            client.set(keys.registry, msgspec.json.encode(snapshot))
            client.set(keys.registry_version, snapshot.version)
        except RedisError:
            self.changed = True
            raise


class RegistryReader:
    """Keeps an ingest process's `SiteRegistry` equal to the published snapshot."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys, registry: SiteRegistry) -> None:
        self._client = client
        self._keys = keys
        self._registry = registry
        self.version: int | None = None

    @property
    def loaded(self) -> bool:
        return self.version is not None

    async def refresh(self) -> bool:
        """Load the snapshot if its version changed; True when it was loaded."""
        version = await self._client.get(self._keys.registry_version)
        if version is None or (self.version is not None and int(version) == self.version):
            return False
        data = await self._client.get(self._keys.registry)
        if data is None:
            return False
        snapshot = msgspec.json.decode(data, type=RegistrySnapshot)
        self._registry.replace(snapshot.sites, snapshot.tokens)
        self.version = snapshot.version
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as exc:
                log.warning("registry refresh from Redis failed", extra={"error": str(exc)})
            await asyncio.sleep(POLL_SECONDS)
