"""The stateless ingest process of scale mode (`beacon serve` with `BEACON_REDIS_URL`).

It opens no store and keeps nothing on disk: accepted batches go to the Redis Stream
(acknowledged after `XADD`), sites and tokens come from the registry the writer publishes
into Redis, salts and session state are shared through Redis. So any number of them can
run behind a load balancer (`beacon serve --workers N`, or N processes on N ports), and
one may be killed at any moment: what it acknowledged is in Redis.

It serves `POST /api/event`, `/healthz`, `/readyz`, `/metrics`, `/script.js` and the live
view (`/api/v1/sites/{site}/live`); the query API is served by the writer, which owns the
store (see README, "Scale mode").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from app.buffer.batcher import BatcherStats
from app.config import Settings
from app.ingest.expand import PageCache
from app.ingest.geo import IpCountry
from app.ingest.outcomes import IngestStats
from app.ingest.pipeline import Lookups
from app.ingest.routes import IngestEndpoint
from app.ingest.site import SiteRegistry
from app.ingest.visitor import SessionBridge
from app.metrics import Metrics
from app.scale.health import scale_readyz
from app.scale.live import live_events
from app.scale.registry import RegistryReader
from app.scale.services import NoSpool, ScaleCollector, ScaleServices
from app.server import SNIPPET_PATH, BeaconApp, Snippet, healthz, metrics, script, script_head

__all__ = ["IngestRuntime", "create_ingest_app", "ingest_app_from_env"]

log = logging.getLogger("beacon.ingest")

SALT_REFRESH_SECONDS = 600.0


class IngestRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.scale = ScaleServices(settings)
        self.registry = SiteRegistry()
        self.registry_reader = RegistryReader(self.scale.redis, self.scale.keys, self.registry)
        self.stats = IngestStats()
        bridge = SessionBridge()
        self.lookups = Lookups(
            sites=self.registry,
            salt_of_day=self.scale.salts,
            ip_country=IpCountry(),
            bridge=bridge,
            pages=PageCache(),
            max_event_age_ms=settings.max_event_age_hours * 3_600_000,
        )
        self.ingest = IngestEndpoint(
            lookups=self.lookups,
            spool=self.scale.sink,
            stats=self.stats,
            max_body_bytes=settings.max_body_bytes,
            country_header=settings.country_header,
            client_ip_header=settings.client_ip_header,
            gate=self.scale.gate(bridge),
        )
        no_spool: object = NoSpool()  # no spool in scale mode: those gauges read zero
        self.metrics = Metrics(
            self.stats,
            BatcherStats(),
            no_spool,  # type: ignore[arg-type]
            lambda: len(self.registry),
        )
        self.metrics.registry.register(ScaleCollector(self.scale))
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sites_loaded(self) -> bool:
        return self.registry_reader.loaded

    async def start(self) -> None:
        """Load what Redis has now (best effort: Redis may be down; the loops retry)."""
        try:
            await self.registry_reader.refresh()
            await anyio.to_thread.run_sync(self.scale.salts.prefetch, int(time.time() * 1000))
        except Exception as exc:
            log.warning("Redis not reachable at start-up; retrying", extra={"error": str(exc)})
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.registry_reader.run()),
            loop.create_task(self._prefetch_salts()),
        ]

    async def _prefetch_salts(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self.scale.salts.prefetch, int(time.time() * 1000))
            except Exception as exc:
                log.warning("salt prefetch from Redis failed", extra={"error": str(exc)})
                await asyncio.sleep(5)
                continue
            await asyncio.sleep(SALT_REFRESH_SECONDS)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.scale.aclose()


def create_ingest_app(settings: Settings, *, snippet_path: Path = SNIPPET_PATH) -> BeaconApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = IngestRuntime(settings)
        app.state.runtime = runtime
        await runtime.start()
        gc.collect()
        gc.freeze()  # as in app/server.py: long-lived objects out of the GC's way
        try:
            yield
        finally:
            await runtime.stop()

    litestar = Litestar(
        route_handlers=[healthz, scale_readyz, metrics, script, script_head, live_events],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="Beacon ingest", version="1.0.0", path="/schema"),
        debug=False,
        logging_config=None,
    )
    litestar.state.snippet = Snippet(snippet_path)
    litestar.state.settings = settings
    return BeaconApp(litestar)


def ingest_app_from_env() -> BeaconApp:
    """For `uvicorn --workers N --factory`: each worker process reads the environment."""
    from app.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_ingest_app(settings)
