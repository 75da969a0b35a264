"""The running parts of one Beacon process, started and stopped together.

`Runtime.start(settings)` opens the store, applies migrations, loads sites, opens the
spool and starts the batcher; `stop()` flushes and closes them, in reverse order. The
Litestar lifespan (`app/server.py`) owns one Runtime; nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import anyio.to_thread

from app.buffer.batcher import Batcher, BatcherStats
from app.buffer.spool import Spool
from app.config import Settings
from app.ingest.expand import PageCache
from app.ingest.geo import IpCountry
from app.ingest.outcomes import IngestStats
from app.ingest.pipeline import Lookups
from app.ingest.routes import IngestEndpoint
from app.ingest.site import SiteRegistry
from app.ingest.visitor import SessionBridge, utc_day
from app.metrics import Metrics
from app.store.client import Store
from app.store.migrate import apply_migrations
from app.store.rows import EVENT_COLUMNS
from app.store.sites import SiteStore

__all__ = ["Runtime", "SaltBook"]

log = logging.getLogger("beacon.runtime")

REFRESH_SECONDS = 10.0


class SaltBook:
    """Salts by UTC day, fetched ahead of need so the hot path only reads a dict."""

    def __init__(self, sites: SiteStore) -> None:
        self._sites = sites
        self._salts: dict[int, bytes] = {}

    def prefetch(self, now_ms: int) -> None:
        today = utc_day(now_ms)
        for day in (today, today + 1):
            if day not in self._salts:
                self._salts[day] = self._sites.salt_for(day)
        self._salts = {d: s for d, s in self._salts.items() if d >= today - 1}

    def __call__(self, day: int) -> bytes:
        salt = self._salts.get(day)
        if salt is None:  # only if the hourly prefetch fell behind: fetch it now
            salt = self._salts[day] = self._sites.salt_for(day)
        return salt


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.open(settings)
        applied = apply_migrations(self.store, retention_days=settings.retention_days)
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        self.sites = SiteStore(self.store)
        self.registry = SiteRegistry()
        self.reload_sites()
        self.salts = SaltBook(self.sites)
        self.salts.prefetch(int(time.time() * 1000))
        self.stats = IngestStats()
        bridge = SessionBridge()
        bridge.restore(self._recent_sessions(), int(time.time() * 1000))
        self.lookups = Lookups(
            sites=self.registry,
            salt_of_day=self.salts,
            ip_country=IpCountry(),
            bridge=bridge,
            pages=PageCache(),
            max_event_age_ms=settings.max_event_age_hours * 3_600_000,
        )
        self.spool = Spool(
            settings.spool_dir, max_bytes=settings.spool_max_bytes, fsync=settings.spool_fsync
        )
        batcher_stats = BatcherStats()
        self.metrics = Metrics(self.stats, batcher_stats, self.spool, lambda: len(self.registry))
        self.batcher = Batcher(
            self.spool,
            self._insert_rows,
            batch_rows=settings.batch_rows,
            batch_ms=settings.batch_ms,
            stats=batcher_stats,
            on_flush=self.metrics.observe_flush,
        )
        self.ingest = IngestEndpoint(
            lookups=self.lookups,
            spool=self.spool,
            stats=self.stats,
            max_body_bytes=settings.max_body_bytes,
            country_header=settings.country_header,
            client_ip_header=settings.client_ip_header,
        )
        self._refresher: asyncio.Task[None] | None = None
        self.batcher.start()
        log.info(
            "runtime started",
            extra={"store": self.store.description, "spool": self.spool.describe()},
        )

    def _recent_sessions(self) -> list[tuple[str, str, int, int, int, int]]:
        """Sessions with events in the last half hour, to continue them after a restart."""
        rows = self.store.rows(
            "SELECT site_id, sid, argMax(visitor_id, ts), max(session_seq), "
            "toUnixTimestamp64Milli(argMax(session_start, ts)), toUnixTimestamp64Milli(max(ts)) "
            f"FROM {self.store.table('events')} "
            "WHERE received_at > now64(3) - INTERVAL 31 MINUTE GROUP BY site_id, sid"
        )
        return [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    def _insert_rows(self, body: bytes, token: str) -> None:
        self.store.insert_json_rows("events", EVENT_COLUMNS, body, dedup_token=token)

    def reload_sites(self) -> None:
        self.registry.replace(self.sites.all(), self.sites.token_sites())

    def start_background(self) -> None:
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await anyio.to_thread.run_sync(self.reload_sites)
                await anyio.to_thread.run_sync(self.salts.prefetch, int(time.time() * 1000))
            except Exception as exc:
                log.warning("refresh of sites and salts failed", extra={"error": str(exc)})

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await anyio.to_thread.run_sync(self.batcher.stop)
        self.spool.close()
        log.info("runtime stopped", extra={"spool": self.spool.describe()})
